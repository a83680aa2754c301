/**
 * Starting launchers and recording what runs. An "owner" is the process that holds the RunningServer
 * handles: the `pnpm servers up` supervisor (owner dir .state/cli) or a vitest run's globalSetup
 * (.state/vitest-<pid>). Each owner writes `<ownerDir>/state.json`; `pnpm servers down` and the
 * in-test `getServer()` read it.
 */
import { type Dirent, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveMode, type ServersMode } from './mode.js';
import { getLauncher } from './registry.js';
import type { RunningServer, ServerName } from './types.js';
import {
  cacheRoot,
  isAlive,
  isLoopback,
  killProcessGroup,
  type ListeningSocket,
  listeningSocketsOfGroups,
  listeningSocketsOfProcesses,
  logTail,
  processGroupMembers,
  STATE_ROOT,
  tcpAnswers,
  withLogTail,
} from './util.js';

export interface StartedServer {
  name: ServerName;
  running: RunningServer;
  mode: ServersMode;
  stateDir: string;
  logFile: string;
  installLog: string;
  /** Listening sockets of the server's process groups right after start (native only). */
  listening: ListeningSocket[];
  installMs: number;
  startMs: number;
  /** When it became ready (not when its state was last written). */
  startedAt: Date;
}

export interface ServerState {
  name: ServerName;
  mode: ServersMode;
  pids: number[];
  env: Record<string, string>;
  logFile: string;
  stateDir: string;
  /** Loopback ports the server listened on after start. */
  ports: number[];
  addresses: string[];
  startedAt: string;
  installMs: number;
  startMs: number;
}

export interface OwnerState {
  owner: string;
  ownerPid: number;
  status: 'starting' | 'ready' | 'failed' | 'stopping';
  control?: { url: string; token: string };
  servers: Partial<Record<ServerName, ServerState>>;
  errors: Partial<Record<ServerName, string>>;
  /** Servers being started right now. */
  pending: ServerName[];
}

export function ownerDir(owner: string): string {
  return join(STATE_ROOT, owner);
}

export function stateFile(owner: string): string {
  return join(ownerDir(owner), 'state.json');
}

export function readOwnerState(owner: string): OwnerState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(owner), 'utf8')) as OwnerState;
  } catch {
    return undefined;
  }
}

/** Every owner state under .state/ (cli and vitest-* runs). */
export function readAllOwnerStates(): OwnerState[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(STATE_ROOT);
  } catch {
    return [];
  }
  return entries.map((e) => readOwnerState(e)).filter((s): s is OwnerState => s !== undefined);
}

export function writeOwnerState(state: OwnerState): void {
  const file = stateFile(state.owner);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  // rename is atomic: readers never see half a file
  renameSync(tmp, file);
}

export function toServerState(s: StartedServer): ServerState {
  return {
    name: s.name,
    mode: s.mode,
    pids: s.running.pids,
    env: s.running.env,
    logFile: s.running.logFile,
    stateDir: s.stateDir,
    ports: [...new Set(s.listening.map((l) => l.port))],
    addresses: [...new Set(s.listening.map((l) => `${l.address}:${l.port}`))],
    startedAt: s.startedAt.toISOString(),
    installMs: s.installMs,
    startMs: s.startMs,
  };
}

let installing: Promise<unknown> = Promise.resolve();

/**
 * Runs installs one at a time in this process while the servers start concurrently (Controller.up):
 * a first install is a Go build that keeps every core busy (`pnpm servers install` builds them one
 * after another for the same reason), and a present one is a quick check.
 */
function oneInstallAtATime<T>(fn: () => Promise<T>): Promise<T> {
  const next = installing.then(fn, fn);
  installing = next.catch(() => {});
  return next;
}

/**
 * Installs (if needed) and starts one server for an owner. Errors carry the relevant log tail. Safe to
 * call for several servers at once: installs queue (oneInstallAtATime), ports are never handed out
 * twice (freePort), each server has its own state directory and log.
 */
export async function startServer(name: ServerName, owner: string): Promise<StartedServer> {
  const launcher = getLauncher(name);
  const dir = ownerDir(owner);
  const logFile = join(dir, 'logs', `${name}.log`);
  const installLog = join(dir, 'logs', `${name}-install.log`);
  const stateDir = join(dir, name);
  await rm(stateDir, { recursive: true, force: true });
  await mkdir(stateDir, { recursive: true });
  await mkdir(join(dir, 'logs'), { recursive: true });
  await rm(logFile, { force: true });
  const mode = await resolveMode();
  const ctx = { cacheDir: cacheRoot(), stateDir, logFile };
  let installMs = 0;
  let running: RunningServer;
  const explain = (phase: string, err: unknown, log: string): Error => {
    const msg = err instanceof Error ? err.message : String(err);
    const text = `${name}: ${phase} failed: ${msg}`;
    return new Error(msg.includes('--- last ') || !logTail(log) ? text : withLogTail(text, log), {
      cause: err,
    });
  };
  let t0 = Date.now();
  if (mode === 'containers') {
    if (!launcher.startContainer) {
      throw new Error(
        `${name}: ARTIFACTS_IT_MODE=containers but this server has no container path (Launcher.startContainer)`,
      );
    }
    try {
      running = await launcher.startContainer(ctx);
    } catch (err) {
      throw explain('container start', err, logFile);
    }
  } else {
    try {
      // its own time, not the wait for the installs before it
      installMs = await oneInstallAtATime(async () => {
        const i0 = Date.now();
        await launcher.install({ cacheDir: ctx.cacheDir, logFile: installLog });
        return Date.now() - i0;
      });
    } catch (err) {
      throw explain('install', err, installLog);
    }
    t0 = Date.now();
    try {
      running = await launcher.start(ctx);
    } catch (err) {
      throw explain('start', err, logFile);
    }
  }
  const startMs = Date.now() - t0;
  const listening = serverSockets(running);
  const exposed = listening.filter((l) => !isLoopback(l.address));
  if (exposed.length > 0) {
    await running.stop().catch(() => {});
    throw new Error(
      `${name} listens beyond loopback: ${exposed.map((l) => `${l.address}:${l.port}`).join(', ')} (refusing to run it)`,
    );
  }
  return {
    name,
    running,
    mode: running.mode ?? mode,
    stateDir,
    logFile: running.logFile,
    installLog,
    listening,
    installMs,
    startMs,
    startedAt: new Date(),
  };
}

/**
 * What a running server listens on: the sockets of its process groups (native) or of its container's
 * processes (a container on this machine's engine with host networking shares this network namespace);
 * [] when they cannot be seen from here (an engine elsewhere, bridge networking).
 */
export function serverSockets(running: RunningServer): ListeningSocket[] {
  if (running.pids.length > 0) return listeningSocketsOfGroups(running.pids);
  const procs = running.processes?.() ?? [];
  return procs.length > 0 ? listeningSocketsOfProcesses(procs) : [];
}

/** True when a recorded server still runs: its process groups are alive and its ports answer. */
export async function serverAnswers(s: ServerState): Promise<boolean> {
  if (s.mode === 'native') {
    if (s.pids.length === 0) return false;
    if (!s.pids.every((p) => isAlive(p) || processGroupMembers(p).length > 0)) return false;
  }
  if (s.ports.length === 0) return s.mode === 'containers';
  for (const p of s.ports) if (!(await tcpAnswers(p))) return false;
  return true;
}

/** Moves a file into place atomically (write tmp + rename). */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  await rename(tmp, file);
}

/**
 * Removes what earlier test runs whose process is gone left (a run killed before its teardown):
 * kills the servers their state records, drops their state directories (a finished run leaves only
 * its logs/). Runs of `pnpm servers up` (owner cli) are not touched.
 */
export async function pruneStaleRuns(): Promise<string[]> {
  const pruned: string[] = [];
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(STATE_ROOT, { withFileTypes: true });
  } catch {
    return pruned;
  }
  for (const entry of entries) {
    const m = /^(?:vitest|smoke)-(\d+)/.exec(entry.name);
    if (!entry.isDirectory() || !m || isAlive(Number(m[1]))) continue;
    if (!existsSync(join(STATE_ROOT, entry.name, 'state.json'))) {
      await rm(join(STATE_ROOT, entry.name), { recursive: true, force: true });
    }
  }
  for (const st of readAllOwnerStates()) {
    if (!/^(vitest|smoke)-/.test(st.owner) || isAlive(st.ownerPid)) continue;
    for (const s of Object.values(st.servers)) for (const p of s?.pids ?? []) await killProcessGroup(p);
    await rm(ownerDir(st.owner), { recursive: true, force: true });
    pruned.push(`${st.owner} (${Object.keys(st.servers).join(' ') || 'no server'})`);
  }
  return pruned;
}
