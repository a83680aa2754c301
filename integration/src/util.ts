/**
 * Helpers shared by every launcher: cache and state directories, free ports, process spawning into a
 * log file (own process group, killed as a whole), readiness probes that fail fast with the log tail,
 * and /proc-based checks of what is listening.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the `integration/` package directory. */
export const IT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/**
 * `integration/.state/`: per-run state dirs, logs, the CLI's state file (git-ignored). Override with
 * ARTIFACTS_IT_STATE_DIR (the CLI's own test does, to stay apart from servers a person started).
 */
export const STATE_ROOT = process.env.ARTIFACTS_IT_STATE_DIR
  ? resolve(process.env.ARTIFACTS_IT_STATE_DIR)
  : join(IT_ROOT, '.state');
/** `integration/.servers.env`: `export NAME=value` lines written by `pnpm servers up` (ARTIFACTS_IT_SERVERS_ENV overrides). */
export const SERVERS_ENV_FILE = process.env.ARTIFACTS_IT_SERVERS_ENV
  ? resolve(process.env.ARTIFACTS_IT_SERVERS_ENV)
  : join(IT_ROOT, '.servers.env');

/** `${XDG_CACHE_HOME:-~/.cache}/artifacts-it` (override with ARTIFACTS_IT_CACHE). */
export function cacheRoot(): string {
  if (process.env.ARTIFACTS_IT_CACHE) return resolve(process.env.ARTIFACTS_IT_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'artifacts-it');
}

/** Versioned install directory `<cacheRoot>/<tool>-<version>` (not created). */
export function cacheDirFor(tool: string, version: string): string {
  return join(cacheRoot(), `${tool}-${version}`);
}

export class ServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerError';
  }
}

/** The last `lines` lines of a log file ('' when missing). */
export function logTail(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8');
    const all = text.split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** A message followed by the framed tail of a log, for errors and failure output. */
export function withLogTail(message: string, logFile: string, lines = 40): string {
  const tail = logTail(logFile, lines);
  return `${message}\n--- last ${lines} lines of ${logFile} ---\n${tail || '(empty log)'}\n--- end of log ---`;
}

/** Prints the tail of a log to stderr (used when a run fails). */
export function printLogTail(logFile: string, lines = 40): void {
  process.stderr.write(`${withLogTail('', logFile, lines).trimStart()}\n`);
}

/** A free TCP port on 127.0.0.1 (bind :0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return rej(new Error('no port'));
      srv.close(() => res(addr.port));
    });
  });
}

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

export async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

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

/** Appends a line to a log file (creating it). */
export function appendLog(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  try {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
  } finally {
    closeSync(fd);
  }
}
/** True while a process with this pid exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  if (!pid || pid < 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Pids of every live process whose process group is `pgid`. */
export function processGroupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const st = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
      // rest[0]=state rest[1]=ppid rest[2]=pgrp
      if (Number(rest[2]) === pgid && rest[0] !== 'Z') out.push(Number(entry));
    } catch {}
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
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

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface WaitOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  /** Fail fast when this process exits before it is ready. */
  proc?: SpawnedProcess;
  /** Log whose tail goes into the error (defaults to proc.logFile). */
  logFile?: string;
  /** What is being waited for, for the error message. */
  what?: string;
  intervalMs?: number;
}

/**
 * Polls `check` until it returns true. Rejects with the log tail on timeout or when `opts.proc` exits.
 */
export async function waitUntil(check: () => Promise<boolean>, opts: WaitOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const logFile = opts.logFile ?? opts.proc?.logFile;
  const what = opts.what ?? 'server';
  const fail = (msg: string) => new ServerError(logFile ? withLogTail(msg, logFile) : msg);
  let lastErr = '';
  while (true) {
    if (opts.proc && (opts.proc.exitStatus || !isAlive(opts.proc.pid))) {
      const st =
        opts.proc.exitStatus ?? (await Promise.race([opts.proc.exited, sleep(500).then(() => undefined)]));
      throw fail(`${what} exited before it was ready (${st ? `exit ${st.code ?? st.signal}` : 'gone'})`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw fail(`${what} not ready after ${timeoutMs} ms${lastErr ? ` (last error: ${lastErr})` : ''}`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

/** True when a TCP connection to host:port succeeds within `timeoutMs`. */
export function tcpAnswers(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const sock = new Socket();
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.connect(port, host, () => done(true));
  });
}

/** Waits until a TCP connect to host:port succeeds. */
export function waitForTcp(port: number, opts: WaitOptions & { host?: string } = {}): Promise<void> {
  return waitUntil(() => tcpAnswers(port, opts.host ?? '127.0.0.1'), {
    what: `${opts.what ?? 'server'} on ${opts.host ?? '127.0.0.1'}:${port}`,
    ...opts,
  });
}

/** Waits until no TCP connect to host:port succeeds any more. */
export function waitForPortClosed(port: number, opts: WaitOptions & { host?: string } = {}): Promise<void> {
  return waitUntil(async () => !(await tcpAnswers(port, opts.host ?? '127.0.0.1')), {
    what: `port ${port} to close`,
    timeoutMs: 15_000,
    ...opts,
    proc: undefined,
  });
}

/**
 * Waits until an HTTP(S) GET answers with an accepted status (default: 2xx). For https with a
 * self-signed certificate pass `ca` (PEM).
 */
export function waitForHttp(
  url: string,
  opts: WaitOptions & { accept?: (status: number) => boolean; ca?: string | Buffer } = {},
): Promise<void> {
  const accept = opts.accept ?? ((s: number) => s >= 200 && s < 300);
  return waitUntil(async () => accept(await httpStatus(url, opts.ca)), { what: `GET ${url}`, ...opts });
}

/** Status code of a GET (uses node:http(s) so a CA can be given; 3 s timeout). */
export async function httpStatus(url: string, ca?: string | Buffer): Promise<number> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((res, rej) => {
    const req = mod.get(url, { timeout: 3000, ...(ca ? { ca } : {}) }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
}

/** A listening TCP socket from /proc/net/tcp{,6}. */
export interface ListeningSocket {
  /** Local address as text: '127.0.0.1', '0.0.0.0', '::', '::1', '::ffff:127.0.0.1'. */
  address: string;
  port: number;
  inode: number;
  family: 4 | 6;
}

function hexToIpv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function hexToIpv6(hex: string): string {
  // four little-endian 32-bit words
  const bytes: number[] = [];
  for (let w = 0; w < 4; w++) {
    const word = hex.slice(w * 8, w * 8 + 8);
    for (let b = 3; b >= 0; b--) bytes.push(Number.parseInt(word.slice(b * 2, b * 2 + 2), 16));
  }
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 255 && bytes[11] === 255) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  const full = groups.join(':');
  if (full === '0:0:0:0:0:0:0:0') return '::';
  if (full === '0:0:0:0:0:0:0:1') return '::1';
  return full;
}

/** Every listening TCP socket on the machine (this network namespace). */
export function listeningSockets(): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const [file, family] of [
    ['/proc/net/tcp', 4],
    ['/proc/net/tcp6', 6],
  ] as const) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      const [addrHex, portHex] = (f[1] ?? '').split(':');
      if (!addrHex || !portHex) continue;
      out.push({
        address: family === 4 ? hexToIpv4(addrHex) : hexToIpv6(addrHex),
        port: Number.parseInt(portHex, 16),
        inode: Number(f[9]),
        family,
      });
    }
  }
  return out;
}

/** Socket inodes held open by a process. */
function socketInodesOf(pid: number): Set<number> {
  const out = new Set<number>();
  for (const fd of safeReaddir(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {}
  }
  return out;
}

/** Listening sockets owned by any member of the given process groups (and the given pids). */
export function listeningSocketsOfGroups(pgids: number[]): ListeningSocket[] {
  const pids = new Set<number>();
  for (const g of pgids) {
    pids.add(g);
    for (const p of processGroupMembers(g)) pids.add(p);
  }
  return listeningSocketsOfProcesses([...pids]);
}

/** Listening sockets (in this network namespace) owned by any of the given processes. */
export function listeningSocketsOfProcesses(pids: number[]): ListeningSocket[] {
  const inodes = new Set<number>();
  for (const p of pids) for (const i of socketInodesOf(p)) inodes.add(i);
  return listeningSockets().filter((s) => inodes.has(s.inode));
}

/**
 * Every process in the PID namespace of `pid` (a container's processes, seen from the host), or []
 * when `pid` is not a process here.
 */
export function processesInPidNamespaceOf(pid: number): number[] {
  let ns = '';
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of safeReaddir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) === ns) out.push(Number(e));
    } catch {}
  }
  return out;
}

/** True for 127.0.0.0/8, ::1 and ::ffff:127.x addresses. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

/** Shell-quotes a value for `export NAME=value` lines (single quotes). */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Renders `export NAME=value` lines. */
export function renderEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
    .join('');
}

/** Parses what renderEnvFile wrote (export NAME=value, single-quoted or bare values). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    const key = m[1] as string;
    let rest = (m[2] as string).trim();
    let val = '';
    while (rest.length > 0) {
      if (rest.startsWith("'")) {
        const end = rest.indexOf("'", 1);
        val += rest.slice(1, end < 0 ? undefined : end);
        rest = end < 0 ? '' : rest.slice(end + 1);
      } else if (rest.startsWith('\\')) {
        val += rest.slice(1, 2);
        rest = rest.slice(2);
      } else {
        const m2 = /^[^'\\]+/.exec(rest);
        val += m2?.[0] ?? '';
        rest = rest.slice(m2?.[0].length ?? 1);
      }
    }
    out[key] = val;
  }
  return out;
}

/**
 * Runs `fn` holding an exclusive lock directory `<path>.lock` (for concurrent installs into the same
 * cache dir by two processes). A lock older than `staleMs` whose owner is gone is broken.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, staleMs = 60 * 60_000): Promise<T> {
  const lock = `${path}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  const start = Date.now();
  while (true) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {}
      const age = Date.now() - ((await stat(lock).catch(() => null))?.mtimeMs ?? Date.now());
      if ((owner && !isAlive(owner)) || age > staleMs) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - start > staleMs) throw new ServerError(`timed out waiting for lock ${lock}`);
      await sleep(500);
    }
  }
  const fh = await open(join(lock, 'pid'), 'w');
  await fh.writeFile(String(process.pid));
  await fh.close();
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** True when `file` exists and is executable by someone. */
export function isExecutable(file: string): boolean {
  try {
    const st = statSync(file);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The flags of every `go install` here: no cgo (a static binary, which the `FROM scratch` images need),
 * no symbol table or DWARF (`-s -w`: a smaller binary and a cheaper link, the longest single step of a
 * large build) and no file-system paths in it (`-trimpath`). None changes what the server does.
 */
export const GO_BUILD_FLAGS = ['-trimpath', '-ldflags=-s -w'];

/**
 * `go install pkg@version` into `<installDir>/bin` (atomic: built into a temp GOBIN then renamed),
 * under a lock. Returns the path of the binary. No-op when the binary is already cached.
 */
/** A Go program the cache holds: `go install pkg@version`, its binary at `<installDir>/bin/<binary>`. */
export interface GoBuild {
  pkg: string;
  version: string;
  installDir: string;
  binary: string;
}

export async function goInstall(opts: GoBuild & { logFile: string; timeoutMs?: number }): Promise<string> {
  const bin = join(opts.installDir, 'bin', opts.binary);
  if (isExecutable(bin)) return bin;
  return withLock(opts.installDir, async () => {
    if (isExecutable(bin)) return bin;
    const tmp = join(opts.installDir, `.tmpbin-${process.pid}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    const started = Date.now();
    appendLog(opts.logFile, `installing ${opts.pkg}@${opts.version} into ${opts.installDir} (go install)\n`);
    await runLogged('go', ['install', ...GO_BUILD_FLAGS, `${opts.pkg}@${opts.version}`], {
      logFile: opts.logFile,
      extraEnv: { GOBIN: tmp, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
      timeoutMs: opts.timeoutMs ?? 60 * 60_000,
    });
    await mkdir(join(opts.installDir, 'bin'), { recursive: true });
    await rename(join(tmp, opts.binary), bin);
    await rm(tmp, { recursive: true, force: true });
    appendLog(opts.logFile, `installed ${opts.binary} in ${Math.round((Date.now() - started) / 1000)} s\n`);
    return bin;
  });
}

/**
 * Downloads the modules `go install pkg@version` would build (`go install -n` loads every package,
 * fetching its module, and builds nothing), so a build queued behind another can have its network
 * part done while the other compiles. No-op when the binary is already cached.
 */
export async function goDownload(opts: GoBuild & { logFile: string }): Promise<void> {
  if (isExecutable(join(opts.installDir, 'bin', opts.binary))) return;
  const started = Date.now();
  // -n prints the whole build plan (megabytes): into a file of its own, kept only when it fails
  const plan = `${opts.logFile}.go-plan`;
  await runLogged('go', ['install', '-n', ...GO_BUILD_FLAGS, `${opts.pkg}@${opts.version}`], {
    logFile: plan,
    extraEnv: { CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
    timeoutMs: 30 * 60_000,
  });
  await rm(plan, { force: true });
  appendLog(
    opts.logFile,
    `downloaded the modules of ${opts.pkg}@${opts.version} in ${Math.round((Date.now() - started) / 1000)} s\n`,
  );
}

/** A fresh, empty directory (removed first if present). */
export async function freshDir(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

export function fileExists(file: string): boolean {
  return existsSync(file);
}

export interface ManagedProcessSpec {
  command: string;
  args: string[];
  /** Extra variables over process.env. */
  extraEnv?: Record<string, string>;
  cwd?: string;
  logFile: string;
  /** Waits until the freshly spawned process answers (use waitForHttp/waitForTcp with `{ proc }`). */
  ready(proc: SpawnedProcess): Promise<void>;
  /** Ports it listens on: stop() waits until they are closed. */
  ports?: number[];
  /** What it is, for messages. */
  what?: string;
}

/**
 * One long-running server process with start/stop/restart on the same command line (and so the same
 * ports and data). `pids` is updated in place on restart, so hand it to RunningServer.pids.
 */
export class ManagedProcess {
  proc?: SpawnedProcess;
  readonly pids: number[] = [];

  readonly spec: ManagedProcessSpec;

  constructor(spec: ManagedProcessSpec) {
    this.spec = spec;
  }

  async start(): Promise<void> {
    const s = this.spec;
    appendLog(s.logFile, `--- ${new Date().toISOString()} starting ${s.what ?? s.command}\n`);
    const proc = spawnLogged(s.command, s.args, { logFile: s.logFile, cwd: s.cwd, extraEnv: s.extraEnv });
    this.proc = proc;
    this.pids.splice(0, this.pids.length, proc.pid);
    try {
      await s.ready(proc);
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    const pid = this.proc.pid;
    this.proc = undefined;
    await killProcessGroup(pid);
    for (const p of this.spec.ports ?? []) await waitForPortClosed(p, { what: this.spec.what });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
