/** Readiness probes: poll until a check passes, failing fast with the log tail when the process exits. */
import { ServerError, withLogTail } from './logs.js';
import { httpStatus, tcpAnswers } from './net.js';
import { isAlive } from './proc.js';
import type { SpawnedProcess } from './processes.js';

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
