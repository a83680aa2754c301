/** Processes spawned into their own process group with output in a log file, and stopping them. */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { appendLog, ServerError, withLogTail } from './logs.js';
import { isAlive, processGroupMembers } from './proc.js';
import { sleep } from './wait.js';

/** A process started by spawnLogged: its own process group (pgid = pid), output in logFile. */
export interface SpawnedProcess {
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** Resolves when the process exits (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once the process exited. */
  exitStatus?: { code: number | null; signal: NodeJS.Signals | null };
}

export interface SpawnOptions {
  cwd?: string;
  /** Full environment (defaults to process.env) ... */
  env?: NodeJS.ProcessEnv;
  /** ... or extra variables merged over process.env. */
  extraEnv?: Record<string, string>;
  /** Log file (appended): stdout and stderr go straight to it, so the process outlives its parent. */
  logFile: string;
  /** Do not keep the parent's event loop alive for this process (default true). */
  unref?: boolean;
}

/**
 * Spawns a long-running server process detached into its own process group, stdout/stderr appended
 * to `logFile` (a file descriptor, not a pipe: it keeps running after the parent exits). Stop it with
 * `killProcessGroup(proc.pid)`.
 */
export function spawnLogged(command: string, args: string[], opts: SpawnOptions): SpawnedProcess {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const fd = openSync(opts.logFile, 'a');
  const env = opts.env ?? { ...process.env, ...(opts.extraEnv ?? {}) };
  if (opts.env && opts.extraEnv) Object.assign(env, opts.extraEnv);
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd: opts.cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const proc: Partial<SpawnedProcess> = { child, logFile: opts.logFile };
  proc.exited = new Promise((res) => {
    child.once('exit', (code, signal) => {
      proc.exitStatus = { code, signal };
      res({ code, signal });
    });
    child.once('error', (err) => {
      proc.exitStatus = { code: -1, signal: null };
      try {
        appendLog(opts.logFile, `spawn ${command} failed: ${err.message}\n`);
      } catch {}
      res({ code: -1, signal: null });
    });
  });
  if (child.pid === undefined) {
    // spawn failed synchronously (ENOENT is reported via 'error'); keep a sentinel pid
    proc.pid = -1;
  } else {
    proc.pid = child.pid;
  }
  if (opts.unref !== false) child.unref();
  return proc as SpawnedProcess;
}

export interface RunOptions {
  cwd?: string;
  extraEnv?: Record<string, string>;
  env?: NodeJS.ProcessEnv;
  /** Where output goes (appended); on failure the error carries its tail. */
  logFile: string;
  timeoutMs?: number;
}

/**
 * Runs a command to completion (installs, openssl, …), output appended to `logFile`. Rejects with a
 * ServerError carrying the log tail on a non-zero exit or timeout. Killed as a process group.
 */
export async function runLogged(command: string, args: string[], opts: RunOptions): Promise<void> {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  appendLog(opts.logFile, `$ ${command} ${args.join(' ')}\n`);
  const proc = spawnLogged(command, args, {
    logFile: opts.logFile,
    cwd: opts.cwd,
    env: opts.env ?? { ...process.env, ...(opts.extraEnv ?? {}) },
    unref: false,
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((res) => {
    if (opts.timeoutMs) timer = setTimeout(() => res('timeout'), opts.timeoutMs);
  });
  const result = await Promise.race([proc.exited, timedOut]);
  if (timer) clearTimeout(timer);
  if (result === 'timeout') {
    await killProcessGroup(proc.pid);
    throw new ServerError(withLogTail(`${command} timed out after ${opts.timeoutMs} ms`, opts.logFile));
  }
  if (result.code !== 0) {
    throw new ServerError(
      withLogTail(`${command} ${args.join(' ')} failed (exit ${result.code ?? result.signal})`, opts.logFile),
    );
  }
}

/**
 * Stops a process group started by spawnLogged: SIGTERM to the group, waits up to `timeoutMs`,
 * then SIGKILL. Resolves once no member of the group is left.
 */
export async function killProcessGroup(pgid: number, timeoutMs = 10_000): Promise<void> {
  if (!pgid || pgid <= 0) return;
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pgid, sig);
    } catch {
      try {
        process.kill(pgid, sig);
      } catch {}
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (processGroupMembers(pgid).length === 0 && !isAlive(pgid)) return;
    await sleep(100);
  }
  signalGroup('SIGKILL');
  const hard = Date.now() + 5000;
  while (Date.now() < hard) {
    if (processGroupMembers(pgid).length === 0 && !isAlive(pgid)) return;
    await sleep(100);
  }
}
