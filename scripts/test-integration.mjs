// Runs every workspace package's integration suite (its `test:integration` script), in lanes: two
// suites at a time by default, natively and in container mode alike (at most the number of cores), or
// `--lanes N` / `ARTIFACTS_IT_LANES`. Each lane takes the next suite of ORDER when its suite ends. The
// suites spend most of their time waiting on their servers (one suite alone kept a 2-core machine at
// load 1–3), so a second lane uses the idle core; every suite starts its own servers on free ports
// under its own state directory (.state/vitest-<pid>), so two never share one. Measured in
// integration/README.md: the whole native run in two lanes, repeated ("CI time"), and the whole
// container-mode run in two lanes on freshly built images ("Running every suite in containers").
//
// The order is chosen for a fresh machine: the longest suite (hdfs) first in one lane, while the
// other runs the suites whose servers cost no compile (pure-ftpd and sshd from apt, Azurite from
// npm); the suites needing the long installs (`pnpm servers install`, which CI starts beside the
// unit tests: MinIO's Go build, then fake-gcs-server's, then toxiproxy's; MLflow's venv) come after,
// so those installs finish meanwhile instead of holding up the first suites. With every server
// installed the order only decides how well the lanes balance. The packages must be built
// (`pnpm test:integration` runs `turbo run build` first).
//
// With more than one lane each suite's output goes to a file and is printed whole when the suite
// ends, so nothing interleaves; a line says when each starts. After a failing suite no further suite
// starts (the running ones finish), unless given --continue. Prints each suite's time and the load
// average at its end, then a summary.
//
// Interrupted (SIGINT, SIGTERM, SIGHUP: Ctrl-C, CI's timeout): no further suite starts; the signal
// goes to every process of the run (each suite's pnpm, vitest and workers, and the servers, which run
// in process groups of their own; on Linux they are found by the variable ARTIFACTS_IT_RUNNER=<this
// pid> they inherit, elsewhere only the suites' pnpm get it), and the suites are given STOP_GRACE_MS
// to end before they are killed. vitest exits on a signal without its teardown, so then what is
// still there of the run (a server that ignored the signal) is stopped with SIGTERM, then SIGKILL,
// and `servers prune` removes what the dead suites recorded (their containers, their state). Then
// the runner exits with the signal's code (128 + its number). A second signal kills at once.
//
// Usage: node scripts/test-integration.mjs [--filter <package name>]... [--lanes N] [--continue] [--list]
// (`--list` prints the suites in the order they would start, and runs none; `--root DIR` runs the
// suites of another workspace, for this script's own test)
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, constants, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const rootArg = args.flatMap((arg, i) => (args[i - 1] === '--root' ? [arg] : [])).at(-1);
const root = rootArg === undefined ? new URL('..', import.meta.url).pathname : resolve(rootArg);
const filters = args.flatMap((arg, i) => (args[i - 1] === '--filter' ? [arg] : []));
const keepGoing = args.includes('--continue');
const listOnly = args.includes('--list');
const lanesArg =
  args.flatMap((arg, i) => (args[i - 1] === '--lanes' ? [arg] : [])).at(-1) ?? process.env.ARTIFACTS_IT_LANES;
const lanes = lanesArg === undefined ? Math.min(2, availableParallelism()) : Number(lanesArg);
if (!Number.isInteger(lanes) || lanes < 1) {
  console.error(
    `test-integration: --lanes must be a whole number of at least 1, not ${JSON.stringify(lanesArg)}`,
  );
  process.exit(1);
}

/**
 * The order in which the suites start (each lane takes the next when its suite ends). hdfs, the
 * longest (about 340 s), starts first, beside the suites whose servers cost nothing to compile; the
 * Go builds (MinIO, fake-gcs-server, toxiproxy, in that order) and MLflow's venv are done on a fresh
 * machine by the time fault-tests, the second longest (about 260 s), starts when hdfs ends. The
 * short suites fill both lanes after it. A suite not named here runs after these, in directory order.
 */
const ORDER = [
  '@artifacts/hdfs', // MiniDFSCluster (Maven Central), then the KDC (apt) and the kerberos binding (node-gyp)
  '@artifacts/ftp', // pure-ftpd (apt)
  '@artifacts/sftp', // sshd (apt)
  '@artifacts/azure', // Azurite (npm, part of pnpm install)
  '@artifacts/fault-tests', // every server but MLflow, and toxiproxy: the third Go build
  '@artifacts/s3', // MinIO: the first Go build
  '@artifacts/server', // MinIO, Azurite, MLflow (PyPI), and the others for the validators test
  '@artifacts/http', // MinIO, Azurite, MLflow
  '@artifacts/cli', // MinIO, MLflow
  '@artifacts/gcs', // fake-gcs-server: the second Go build
  '@artifacts/integration', // the smoke suite: every server
];

const dirs = ['packages', 'examples']
  .flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => join(root, group, entry.name))
      : [],
  )
  .concat([join(root, 'integration'), join(root, 'integration', 'faults'), join(root, 'bench')])
  .filter((dir) => existsSync(join(dir, 'package.json')));

const suites = dirs.flatMap((dir) => {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return manifest.scripts?.['test:integration'] ? [{ name: manifest.name, dir }] : [];
});
for (const name of rootArg === undefined ? ORDER : []) {
  if (!suites.some((suite) => suite.name === name)) {
    console.error(`test-integration: ${name} is in ORDER but has no test:integration script`);
    process.exit(1);
  }
}
const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
const chosen = suites
  .filter((suite) => filters.length === 0 || filters.includes(suite.name))
  .sort((a, b) => rank(a.name) - rank(b.name));
if (chosen.length === 0) {
  console.error(`test-integration: no package with a test:integration script matches ${filters.join(', ')}`);
  process.exit(1);
}

if (listOnly) {
  for (const suite of chosen) console.log(suite.name);
  process.exit(0);
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');

const outDir = lanes > 1 ? mkdtempSync(join(tmpdir(), 'artifacts-test-integration-')) : undefined;

/** What every process of this run inherits: how an interrupted run finds what it left. */
const MARKER = `ARTIFACTS_IT_RUNNER=${process.pid}`;
/** How long an interrupted suite has to end before its process group is killed. */
const STOP_GRACE_MS = 10_000;
/** The suites running now: child process → suite name. */
const running = new Map();
/** The signal that interrupted the run, once one did. */
let interrupted;

/** Sends `signal` to a process group (a server leads its own), else to the process. */
function signalGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

/** Runs one suite: its output live with one lane, else into a file printed whole when it ends. */
function run(suite) {
  return new Promise((resolve) => {
    console.log(`\ntest-integration: ${suite.name} started (load ${load()})`);
    const file = outDir && join(outDir, `${suite.name.replace(/[^a-z0-9-]+/gi, '_')}.log`);
    const fd = file && openSync(file, 'w');
    // `pnpm run` puts the package's and the root's node_modules/.bin (and the root's Node) first
    const child = spawn('pnpm', ['run', 'test:integration'], {
      cwd: suite.dir,
      stdio: fd === undefined ? 'inherit' : ['ignore', fd, fd],
      env: { ...process.env, ARTIFACTS_IT_RUNNER: String(process.pid) },
    });
    running.set(child, suite.name);
    let ended = false;
    // A child that could not be spawned emits 'error' and then 'close': the suite ends once.
    const done = (result) => {
      if (ended) return;
      ended = true;
      running.delete(child);
      if (fd !== undefined) {
        closeSync(fd);
        console.log(`\n---- test-integration: output of ${suite.name} ----`);
        process.stdout.write(readFileSync(file));
        console.log(`---- end of ${suite.name} ----`);
      }
      resolve(result);
    };
    child.on('error', (error) => done({ code: 1, error }));
    child.on('close', (code, signal) => done({ code: code ?? 1, signal }));
  });
}

/** Processes of this run still there (Linux: their environment carries MARKER); [] elsewhere. */
function leftProcesses() {
  let entries = [];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid);
  } catch {
    return [];
  }
  return entries.map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(MARKER);
    } catch {
      return false;
    }
  });
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/**
 * After an interrupt, once every suite has ended: stops what they left (their servers: SIGTERM, then
 * SIGKILL after 5 s), then `servers prune` (the dead suites' containers and state), within 20 s.
 */
async function cleanUpAfterInterrupt() {
  let left = leftProcesses();
  if (left.length > 0) {
    console.log(`test-integration: stopping ${left.length} process(es) the suites left: ${left.join(' ')}`);
    for (const pid of left) signalGroup(pid, 'SIGTERM');
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await sleep(100);
      left = leftProcesses();
    }
    for (const pid of left) signalGroup(pid, 'SIGKILL');
  }
  const cli = join(root, 'integration', 'src', 'cli.ts');
  if (!existsSync(cli)) return;
  await new Promise((resolve) => {
    const prune = spawn(process.execPath, ['--import', 'tsx', cli, 'prune'], {
      cwd: join(root, 'integration'),
      stdio: 'inherit',
    });
    const timer = setTimeout(() => prune.kill('SIGKILL'), 20_000);
    prune.on('error', resolve);
    prune.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Sends `signal` to every process of the run (the suites' pnpm at least). */
function signalRun(signal) {
  const pids = new Set([...[...running.keys()].map((child) => child.pid), ...leftProcesses()]);
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

function onSignal(signal) {
  if (interrupted) {
    // a second signal: no more waiting
    for (const pid of leftProcesses()) signalGroup(pid, 'SIGKILL');
    signalRun('SIGKILL');
    process.exit(128 + constants.signals[signal]);
  }
  interrupted = signal;
  const names = [...running.values()];
  console.log(
    `\ntest-integration: ${signal}: stopping ${names.join(', ') || 'nothing'}; no further suite starts (again to kill at once)`,
  );
  signalRun(signal);
  setTimeout(() => {
    if (running.size > 0) signalRun('SIGKILL');
  }, STOP_GRACE_MS).unref();
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, onSignal);

/**
 * CPU seconds used so far by the suites that ended (their processes and the servers they reaped):
 * Linux's cutime + cstime of this process, in clock ticks of 1/100 s. Undefined elsewhere.
 */
function childCpuSeconds() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return undefined;
  }
}

const started = Date.now();
const results = [];
const queue = [...chosen];
let failed = false;
async function lane() {
  while (queue.length > 0 && !interrupted && (keepGoing || !failed)) {
    const suite = queue.shift();
    const t0 = Date.now();
    const { code, signal, error } = await run(suite);
    const seconds = Math.round((Date.now() - t0) / 1000);
    const ok = code === 0;
    if (!ok) failed = true;
    results.push({ name: suite.name, ok, seconds, load: load() });
    console.log(
      `test-integration: ${suite.name} ${ok ? 'passed' : `FAILED (${error?.message ?? signal ?? `exit ${code}`})`} in ${seconds} s (load ${load()})`,
    );
  }
}
console.log(`test-integration: ${chosen.length} suites in ${Math.min(lanes, chosen.length)} lane(s)`);
await Promise.all(Array.from({ length: Math.min(lanes, chosen.length) }, lane));
if (outDir) rmSync(outDir, { recursive: true, force: true });
if (interrupted) await cleanUpAfterInterrupt();

const wall = (Date.now() - started) / 1000;
const cpu = childCpuSeconds();
console.log(
  `\ntest-integration: time per suite, in the order they ended (${Math.round(wall)} s in all, ${lanes} lane(s)${cpu === undefined ? '' : `; ${Math.round(cpu)} CPU-s, ${(cpu / wall).toFixed(2)} cores on average`})`,
);
for (const r of results)
  console.log(
    `  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(26)} ${String(r.seconds).padStart(5)} s  load ${r.load}`,
  );
const skipped = queue.map((suite) => suite.name);
if (skipped.length > 0)
  console.log(
    `  not run (${interrupted ? `interrupted by ${interrupted}` : 'an earlier suite failed'}): ${skipped.join(', ')}`,
  );
if (interrupted) process.exit(128 + constants.signals[interrupted]);
process.exit(results.every((r) => r.ok) && skipped.length === 0 ? 0 : 1);
