/**
 * `await repo.close()` at the top level of a script settles, and the script exits, whatever state
 * the SSH connection is in. Each case runs a child process (node ends a script whose top-level await
 * is left unsettled with exit code 13 once nothing keeps its event loop alive) against the real
 * OpenSSH server; the TCP proxy only holds back the server's bytes, which a real server cannot be
 * made to do on demand.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTcpProxy, type TcpProxy } from '@artifacts/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { env, unique } from './helpers.js';

const CHILD = fileURLToPath(new URL('./close-child.mjs', import.meta.url));
/** close() waits this long for the server's goodbye (connection.ts), plus slack for a loaded machine. */
const EXIT_WITHIN_MS = 2000 + 6000;
/** A child still running this long after "go" hangs. */
const WATCHDOG_MS = 25_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** From "go" to the child's exit. */
  ms: number;
  stdout: string;
  stderr: string;
}

let proxy: TcpProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

/**
 * Runs the child against `uri`; when it reports its repository ready, `atIdle` puts the link into
 * the state under test before the child closes.
 */
function run(
  uri: string,
  options: Record<string, unknown>,
  mode: 'idle' | 'opening',
  atIdle: () => void | Promise<void>,
): Promise<Outcome> {
  const child = spawn(process.execPath, [CHILD, uri, JSON.stringify(options), mode], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let go = 0;
  let watchdog: NodeJS.Timeout | undefined;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (go === 0 && stdout.includes('idle\n')) {
        go = -1;
        Promise.resolve(atIdle()).then(() => {
          go = Date.now();
          watchdog = setTimeout(() => child.kill('SIGKILL'), WATCHDOG_MS);
          child.stdin.end('go\n');
        }, reject);
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ code, signal, ms: go > 0 ? Date.now() - go : -1, stdout, stderr });
    });
  });
}

const through = (port: number, label: string) =>
  unique(env('ARTIFACTS_IT_SFTP_URI').replace(/@[^/]+\//, `@127.0.0.1:${port}/`), label);

const options = (keepaliveIntervalMs: number) => ({
  hostFingerprint: env('ARTIFACTS_IT_SFTP_HOST_FINGERPRINT'),
  sshConfig: false,
  agent: false,
  keepaliveIntervalMs,
  // An opening that close() does not stop would keep the child alive this long.
  connectTimeoutMs: 60_000,
});

function expectClean(outcome: Outcome): void {
  const report = `exit ${outcome.code ?? outcome.signal} after ${outcome.ms} ms\nstdout: ${outcome.stdout}\nstderr: ${outcome.stderr}`;
  expect(outcome.signal, `the child hung (killed by the watchdog): ${report}`).toBeNull();
  expect(outcome.code, report).toBe(0);
  expect(outcome.stdout, report).toMatch(/closed in \d+ ms/);
  expect(outcome.ms, report).toBeLessThan(EXIT_WITHIN_MS);
}

async function proxied(): Promise<TcpProxy> {
  proxy = await startTcpProxy({
    host: env('ARTIFACTS_IT_SFTP_HOST'),
    port: Number(env('ARTIFACTS_IT_SFTP_PORT')),
  });
  return proxy;
}

describe('repo.close() at the top level of a script settles and the script exits', () => {
  it.each([0, 1000])('an idle connection, the server answering (keepalive %i ms)', async (keepalive) => {
    const port = Number(env('ARTIFACTS_IT_SFTP_PORT'));
    expectClean(await run(through(port, 'close'), options(keepalive), 'idle', () => undefined));
  });

  it.each([0, 1000])(
    "the server's goodbye arrives 1.5 s late, after the next keepalive tick (keepalive %i ms)",
    async (keepalive) => {
      const link = await proxied();
      const outcome = await run(through(link.port, 'close'), options(keepalive), 'idle', () => {
        link.stallAfter(0);
        setTimeout(() => link.resume(), 1500);
      });
      expectClean(outcome);
    },
  );

  it.each([0, 1000])('the server never answers again (keepalive %i ms)', async (keepalive) => {
    const link = await proxied();
    expectClean(await run(through(link.port, 'close'), options(keepalive), 'idle', () => link.stallAfter(0)));
  });

  it('the connection was already dropped', async () => {
    const link = await proxied();
    const outcome = await run(through(link.port, 'close'), options(1000), 'idle', async () => {
      // Every socket of the link closes: the child's connection is gone before it closes.
      await link.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
    });
    expectClean(outcome);
  });

  it('a connection is still being opened (the server silent in the handshake)', async () => {
    const link = await proxied();
    const outcome = await run(through(link.port, 'close'), options(1000), 'opening', () =>
      link.stallAfter(0),
    );
    expectClean(outcome);
    // The write that was opening the connection fails, naming the close.
    expect(outcome.stdout).toMatch(/write failed: /);
  });
});
