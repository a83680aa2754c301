/**
 * pnpm servers up [NAME…] | down | status | prune
 *
 * `up` starts the servers (all by default) under a detached supervisor that survives this command,
 * writes integration/.servers.env (`export NAME=value`) and integration/.state/cli/state.json.
 * `down` stops them and checks that no process and no listening port is left. `status` shows them.
 * `prune` removes what test runs whose process is gone left (their servers, containers and state;
 * every run does it at its start, an interrupted `pnpm test:integration` at its end), not `up`'s.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { callControl } from './controller.js';
import { ALL_SERVERS, isServerName, launchers } from './registry.js';
import {
  type OwnerState,
  ownerDir,
  pruneStaleRuns,
  readAllOwnerStates,
  readOwnerState,
  serverAnswers,
  stateFile,
} from './runtime.js';
import type { ServerName } from './types.js';
import type { GoBuild } from './util.js';
import {
  IT_ROOT,
  isAlive,
  killProcessGroup,
  listeningSockets,
  logTail,
  processGroupMembers,
  SERVERS_ENV_FILE,
  STATE_ROOT,
  sleep,
} from './util.js';

const OWNER = 'cli';
/** What `pnpm servers install` knows: every server, and the fault suite's toxiproxy. */
const INSTALLABLE = [...ALL_SERVERS, 'toxiproxy'] as const;
const rel = (p: string) => p.replace(`${process.cwd()}/`, '');

function usage(): never {
  console.error(
    `usage: pnpm servers up [${ALL_SERVERS.join('|')}…] | down | status | prune | install [${INSTALLABLE.join('|')}…] | images [${ALL_SERVERS.join('|')}…] | images --node-base`,
  );
  process.exit(2);
}

/** Streams new lines of a file to stdout while waiting. */
function follower(file: string, fromEnd = false): () => void {
  let pos = 0;
  if (fromEnd) {
    try {
      pos = statSync(file).size;
    } catch {}
  }
  return () => {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      return;
    }
    if (size <= pos) return;
    const fd = openSync(file, 'r');
    const buf = Buffer.alloc(size - pos);
    readSync(fd, buf, 0, buf.length, pos);
    closeSync(fd);
    pos = size;
    process.stdout.write(buf.toString('utf8'));
  };
}

async function up(names: string[]): Promise<number> {
  const bad = names.filter((n) => !isServerName(n));
  if (bad.length > 0) {
    console.error(`unknown server(s): ${bad.join(', ')} (known: ${ALL_SERVERS.join(', ')})`);
    return 2;
  }
  const wanted = names.length > 0 ? names : [...ALL_SERVERS];
  const existing = readOwnerState(OWNER);
  if (existing?.control && isAlive(existing.ownerPid)) {
    console.log(
      `supervisor ${existing.ownerPid} already runs: starting what is missing of ${wanted.join(' ')}`,
    );
    const supLog = join(ownerDir(OWNER), 'supervisor.log');
    const follow = follower(supLog, true);
    await callControl(existing.control, 'POST', `/up?names=${wanted.join(',')}`, 60_000);
    while (true) {
      follow();
      const st = readOwnerState(OWNER);
      if (!st || !isAlive(existing.ownerPid)) {
        console.error(`the supervisor went away; last lines of ${supLog}:\n${logTail(supLog, 40)}`);
        return 1;
      }
      const done = wanted.every((n) => st.servers[n as ServerName] || st.errors[n as ServerName]);
      if (done && st.pending.length === 0) return report(st, wanted);
      await sleep(300);
    }
  }
  if (existing) await cleanupOwner(existing, false);
  rmSync(SERVERS_ENV_FILE, { force: true });
  const dir = ownerDir(OWNER);
  await rm(stateFile(OWNER), { force: true });
  await mkdir(dir, { recursive: true });
  const supLog = join(dir, 'supervisor.log');
  rmSync(supLog, { force: true });
  const fd = openSync(supLog, 'a');
  const child = spawn(
    process.execPath,
    ['--import', import.meta.resolve('tsx'), join(IT_ROOT, 'src', 'supervisor.ts'), ...wanted],
    { cwd: IT_ROOT, detached: true, stdio: ['ignore', fd, fd], env: process.env },
  );
  closeSync(fd);
  child.unref();
  const follow = follower(supLog);
  while (true) {
    follow();
    const st = readOwnerState(OWNER);
    if (st && st.ownerPid === child.pid && st.status === 'ready') return report(st, wanted);
    if (child.pid === undefined || !isAlive(child.pid)) {
      follow();
      console.error(
        `the supervisor exited before it was ready; last lines of ${supLog}:\n${logTail(supLog, 40)}`,
      );
      const st2 = readOwnerState(OWNER);
      if (st2) await cleanupOwner(st2, false);
      return 1;
    }
    await sleep(300);
  }
}

function report(st: OwnerState, wanted: string[]): number {
  const failed = wanted.filter((n) => st.errors[n as ServerName]);
  for (const n of failed) console.error(`${n} did not start (reason above)`);
  console.log(`servers up: ${Object.keys(st.servers).join(' ') || '(none)'}; wrote ${rel(SERVERS_ENV_FILE)}`);
  console.log(`use them with: . ${rel(SERVERS_ENV_FILE)}   stop with: pnpm servers down`);
  return failed.length > 0 ? 1 : 0;
}

/** Stops an owner's servers: via its control API when it lives, then kills leftover process groups. */
async function cleanupOwner(st: OwnerState, viaControl: boolean): Promise<string[]> {
  if (viaControl && st.control && isAlive(st.ownerPid)) {
    try {
      await callControl(st.control, 'POST', '/stop', 2 * 60_000);
    } catch (err) {
      console.error(`control /stop failed: ${(err as Error).message}`);
    }
    for (let i = 0; i < 100 && isAlive(st.ownerPid); i++) await sleep(100);
  }
  if (isAlive(st.ownerPid) && st.ownerPid !== process.pid) await killProcessGroup(st.ownerPid, 15_000);
  for (const s of Object.values(st.servers)) for (const pid of s?.pids ?? []) await killProcessGroup(pid);
  const left: string[] = [];
  for (const s of Object.values(st.servers)) {
    for (const pid of s?.pids ?? []) {
      const members = processGroupMembers(pid);
      if (isAlive(pid) || members.length > 0)
        left.push(`${s?.name}: process ${[pid, ...members].join(',')} still alive`);
    }
  }
  return left;
}

/** How long `down` waits for the stopped servers' ports to close, as a container's stop() does. */
const PORTS_CLOSE_TIMEOUT_MS = 30_000;

/**
 * The given ports still listening once `timeoutMs` has passed (none: returns as soon as all are
 * closed). A port can outlive the process that was killed for a moment: a container's port closes
 * after the engine removes it, a forwarder after the process it forwards to is gone.
 */
async function portsLeftListening(ports: Set<number>, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const open = listeningSockets().filter((l) => ports.has(l.port));
    if (open.length === 0) return [];
    if (Date.now() >= deadline) return open.map((l) => `port ${l.address}:${l.port} still listening`);
    await sleep(200);
  }
}

async function down(): Promise<number> {
  const states = readAllOwnerStates().filter((s) => s.owner === OWNER || !isAlive(s.ownerPid));
  let problems: string[] = [];
  let count = 0;
  for (const st of states) {
    count += Object.keys(st.servers).length;
    problems = problems.concat(await cleanupOwner(st, true));
    rmSync(stateFile(st.owner), { force: true });
  }
  rmSync(SERVERS_ENV_FILE, { force: true });
  const { ownContainers, removeOrphanContainers } = await import('./containers.js');
  await removeOrphanContainers();
  for (const c of await ownContainers(states.map((st) => st.ownerPid)))
    problems.push(`container ${c} still present`);
  // only now: an orphaned container's ports close when the engine has removed it, just above
  const ports = new Set(states.flatMap((st) => Object.values(st.servers).flatMap((s) => s?.ports ?? [])));
  problems = problems.concat(await portsLeftListening(ports, PORTS_CLOSE_TIMEOUT_MS));
  if (problems.length > 0) {
    console.error(`left behind:\n  ${problems.join('\n  ')}`);
    return 1;
  }
  console.log(
    count === 0
      ? 'no servers were running'
      : `stopped ${count} server(s); no process and no listening port left`,
  );
  return 0;
}

/** `prune`: what dead test runs left, never a live run's or `pnpm servers up`'s. */
async function prune(): Promise<number> {
  const runs = await pruneStaleRuns();
  const { removeOrphanContainers } = await import('./containers.js');
  const containers = await removeOrphanContainers();
  for (const r of runs) console.log(`pruned the stopped run ${r}`);
  for (const c of containers) console.log(`removed the orphaned container ${c}`);
  if (runs.length + containers.length === 0) console.log('nothing to prune');
  return 0;
}

async function status(): Promise<number> {
  const states = readAllOwnerStates();
  if (states.length === 0) {
    console.log(`no servers (state dir ${rel(STATE_ROOT)})`);
    return 0;
  }
  for (const st of states) {
    const alive = isAlive(st.ownerPid);
    console.log(`${st.owner}: owner pid ${st.ownerPid} ${alive ? 'alive' : 'GONE'}, ${st.status}`);
    for (const s of Object.values(st.servers)) {
      if (!s) continue;
      const ok = await serverAnswers(s);
      const ver = launchers[s.name].version ?? '';
      console.log(
        `  ${s.name.padEnd(7)} ${ok ? 'up  ' : 'DOWN'} ${s.mode} ${ver} pids ${s.pids.join(',') || '-'} listening ${s.addresses.join(' ') || '-'}`,
      );
    }
    for (const [n, e] of Object.entries(st.errors))
      console.log(`  ${n.padEnd(7)} FAILED ${e.split('\n')[0]}`);
  }
  return 0;
}

/**
 * The Go builds, in the order the suites need them: MinIO first (the smoke suite and most others wait
 * for it, and it is by far the largest), then fake-gcs-server, then toxiproxy (the fault suite only).
 * One `go build` already keeps every core busy, so running them one at a time finishes MinIO soonest
 * without lengthening the rest, and the later builds reuse the standard library the first compiled
 * instead of all three compiling it at once.
 */
const GO_BUILDS = ['s3', 'gcs', 'toxiproxy'] as const;

/**
 * Installs the named servers (all, and toxiproxy, by default) into the cache: the downloads and
 * installs of the non-Go servers (MLflow's venv, Maven, apt) all at once, the Go builds one after
 * another (GO_BUILDS) with the later ones' module downloads done meanwhile. CI starts this beside the
 * unit tests. Each install runs under its cache lock, so a suite starting meanwhile waits for it
 * instead of installing twice. Prints what each took; fails when one fails.
 */
async function install(names: string[]): Promise<number> {
  const bad = names.filter((n) => !(INSTALLABLE as readonly string[]).includes(n));
  if (bad.length > 0) {
    console.error(`unknown server(s): ${bad.join(', ')} (known: ${INSTALLABLE.join(', ')})`);
    return 2;
  }
  const { cacheRoot, goDownload } = await import('./util.js');
  const goBuildOf = async (name: string): Promise<GoBuild> => {
    if (name === 's3') return (await import('./servers/s3.js')).minioBuild();
    if (name === 'gcs') return (await import('./servers/gcs.js')).fakeGcsBuild();
    return (await import('./servers/toxiproxy.js')).toxiproxyBuild();
  };
  const dir = join(STATE_ROOT, 'install');
  await mkdir(dir, { recursive: true });
  const wanted = names.length > 0 ? names : [...INSTALLABLE];
  console.log(`installing ${wanted.join(' ')} into ${cacheRoot()} (logs: ${rel(dir)}/<name>.log)`);
  const t0 = Date.now();
  const logOf = (name: string) => join(dir, `${name}.log`);
  const one = async (name: string) => {
    const started = Date.now();
    const logFile = logOf(name);
    if (name === 'toxiproxy') {
      const { installToxiproxy } = await import('./servers/toxiproxy.js');
      await installToxiproxy({ logFile });
    } else {
      await launchers[name as ServerName].install({ cacheDir: cacheRoot(), logFile });
    }
    const s = (Date.now() - started) / 1000;
    console.log(
      `  ${name.padEnd(9)} ${s.toFixed(1).padStart(7)} s (done at ${Math.round((Date.now() - t0) / 1000)} s)`,
    );
  };
  const goQueue = GO_BUILDS.filter((n) => wanted.includes(n));
  const results = new Map<string, PromiseSettledResult<void>>();
  const settle = (name: string, p: Promise<void>) =>
    p.then(
      () => void results.set(name, { status: 'fulfilled', value: undefined }),
      (reason: unknown) => void results.set(name, { status: 'rejected', reason }),
    );
  const goChain = (async () => {
    for (const name of goQueue) await settle(name, one(name));
  })();
  // the queued builds' modules are fetched while the first compiles (a failure here is only logged:
  // the build itself fetches again and reports)
  const prefetch = goQueue
    .slice(1)
    .map(async (name) =>
      goDownload({ ...(await goBuildOf(name)), logFile: logOf(name) }).catch((err: Error) =>
        console.log(
          `  ${name.padEnd(9)} module download failed (the build retries it): ${err.message.split('\n')[0]}`,
        ),
      ),
    );
  await Promise.all([
    goChain,
    ...prefetch,
    ...wanted.filter((n) => !goQueue.includes(n as (typeof GO_BUILDS)[number])).map((n) => settle(n, one(n))),
  ]);
  let failed = 0;
  for (const name of wanted) {
    const r = results.get(name);
    if (r?.status === 'rejected') {
      failed++;
      console.error(`  ${name} FAILED: ${(r.reason as Error).message}`);
    }
  }
  console.log(`installed in ${Math.round((Date.now() - t0) / 1000)} s${failed ? `, ${failed} failed` : ''}`);
  return failed ? 1 : 0;
}

/** Builds the servers' container images (all by default); a second run builds nothing. */
async function images(names: string[]): Promise<number> {
  if (names[0] === '--node-base') {
    // builds (if needed) and prints the Node base image's reference (docker/serve's BASE here)
    const { buildNodeBase } = await import('./images.js');
    await mkdir(join(STATE_ROOT, 'images'), { recursive: true });
    console.log(await buildNodeBase(join(STATE_ROOT, 'images', 'build.log')));
    return 0;
  }
  const bad = names.filter((n) => !isServerName(n));
  if (bad.length > 0) {
    console.error(`unknown server(s): ${bad.join(', ')} (known: ${ALL_SERVERS.join(', ')})`);
    return 2;
  }
  const { buildImages } = await import('./images.js');
  await mkdir(join(STATE_ROOT, 'images'), { recursive: true });
  const log = join(STATE_ROOT, 'images', 'build.log');
  console.log(`building container images (log: ${rel(log)})`);
  const t0 = Date.now();
  try {
    // by default every server that has a container path
    const all = ALL_SERVERS.filter((n) => launchers[n].startContainer);
    await buildImages((names.length > 0 ? names : all) as ServerName[], log, (l) => console.log(l));
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  console.log(`images ready in ${Math.round((Date.now() - t0) / 1000)} s`);
  return 0;
}

const [cmd, ...rest] = process.argv.slice(2);
let code: number;
if (cmd === 'up') code = await up(rest);
else if (cmd === 'images') code = await images(rest);
else if (cmd === 'install') code = await install(rest);
else if (cmd === 'down') code = await down();
else if (cmd === 'status') code = await status();
else if (cmd === 'prune') code = await prune();
else usage();
process.exit(code);
