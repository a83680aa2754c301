import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError, openRepository } from '@artifacts/core';
import { afterEach, describe, expect, it } from 'vitest';
import '../index.js';
import { identityOf } from './client.js';

/** A TCP server that accepts every connection and never answers (an instance metadata endpoint gone quiet). */
async function silentServer(): Promise<{ url: string; accepted: () => number; close(): void }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket.on('error', () => {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => sockets.length,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

const never = () => new Promise<never>(() => {});

/**
 * The SDK's chain with nothing but a profile whose credential_process is `command` (no static keys,
 * no credentials file, no instance metadata), the SDK loaded; returns the profile's directory.
 */
async function profileWithProcess(command: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 's3-process-'));
  const config = join(dir, 'config');
  writeFileSync(config, `[default]\ncredential_process = ${command}\n`);
  for (const name of Object.keys(process.env)) if (/^AWS_/.test(name)) delete process.env[name];
  Object.assign(process.env, {
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  // Loaded before the clock starts, so that a bound measures the chain's wait, not the import.
  await import('@aws-sdk/client-s3');
  return dir;
}

describe("the credential chain's wait is bounded (core's credentialWaitMs)", () => {
  const saved = { ...process.env };
  let silent: Awaited<ReturnType<typeof silentServer>> | undefined;
  afterEach(() => {
    silent?.close();
    silent = undefined;
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  });

  it('a credentials provider that never settles is a timeout naming the option; the next call waits on the same call', async () => {
    let calls = 0;
    const identity = identityOf(
      {
        credentials: () => {
          calls++;
          return never();
        },
        profile: undefined,
      },
      200,
    );
    const started = Date.now();
    const error = await Promise.resolve(identity()).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error).toBeInstanceOf(ArtifactsError);
    expect(error).toMatchObject({ code: 'timeout', context: { timeoutMs: 200 } });
    expect((error as Error).message).toBe(
      'no AWS credentials within 0.2 s: the credentials provider (option credentials) did not answer',
    );
    await expect(Promise.resolve(identity())).rejects.toMatchObject({ code: 'timeout' });
    expect(calls).toBe(1);
  });

  it("a repository's call fails as a timeout within half its timeoutMs, before any request is sent", async () => {
    silent = await silentServer();
    const repo = await openRepository('s3://bucket/root', {
      endpointUrl: silent.url,
      credentials: never,
      timeoutMs: 1_000,
      maxRetries: 0,
    });
    try {
      const started = Date.now();
      const error = await repo.listArtifacts('').catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(error).toMatchObject({ code: 'timeout' });
      expect((error as Error).message).toContain('no AWS credentials within 0.5 s');
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(5_000);
      expect(silent.accepted()).toBe(0);
    } finally {
      await repo.close();
    }
  });

  it("the SDK's chain, whose instance metadata endpoint accepts and never answers, is a timeout saying what to set", async () => {
    silent = await silentServer();
    for (const name of Object.keys(process.env)) if (/^AWS_/.test(name)) delete process.env[name];
    Object.assign(process.env, {
      AWS_CONFIG_FILE: '/nonexistent/config',
      AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
      AWS_EC2_METADATA_SERVICE_ENDPOINT: silent.url,
    });
    // Loaded before the clock starts, so that the bound measures the chain's wait, not the import.
    await import('@aws-sdk/client-s3');
    // The SDK's own instance metadata timeouts give up after about 2 s (1 s for IMDSv2's token, 1 s
    // for IMDSv1, measured): our bound of 1 s is the one that answers.
    const identity = identityOf({ credentials: undefined, profile: undefined }, 1_000);
    const started = Date.now();
    const error = await Promise.resolve(identity()).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toMatchObject({ code: 'timeout', context: { timeoutMs: 1_000 } });
    // The chain does reach the endpoint (the wait is the one we bound, not a refused connection):
    // under load its providers' lazy imports can take it past our bound first, so allow it a while.
    const until = Date.now() + 10_000;
    while (silent.accepted() === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(silent.accepted()).toBeGreaterThan(0);
    expect((error as Error).message).toContain("no AWS credentials within 1 s: the SDK's credential chain");
    expect((error as Error).message).toContain('AWS_EC2_METADATA_DISABLED=true');
    expect(elapsed).toBeGreaterThanOrEqual(950);
    // Ours answers, not the SDK's own instance metadata timeouts (about 2 s, and another code).
    expect(elapsed).toBeLessThan(2_500);
  });

  it("the SDK's chain, whose profile's credential_process never answers (the SDK waits for it without bound), is a timeout", async () => {
    // Exits after 5 s (with no credentials), so that the test leaves no process behind for long.
    await profileWithProcess('sleep 5');
    const identity = identityOf({ credentials: undefined, profile: undefined }, 1_000);
    const started = Date.now();
    const error = await Promise.resolve(identity()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'timeout', context: { timeoutMs: 1_000 } });
    expect((error as Error).message).toContain("no AWS credentials within 1 s: the SDK's credential chain");
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('a credentials provider running a process that never answers starts one process across several timed-out calls', async () => {
    const started = join(mkdtempSync(join(tmpdir(), 's3-process-')), 'started');
    const identity = identityOf(
      {
        credentials: () =>
          new Promise((_, reject) => {
            execFile('sh', ['-c', `echo started >> '${started}'; sleep 5`], () =>
              reject(new Error('no credentials')),
            );
          }),
        profile: undefined,
      },
      400,
    );
    for (let i = 0; i < 3; i++) {
      await expect(Promise.resolve(identity())).rejects.toMatchObject({ code: 'timeout' });
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(readFileSync(started, 'utf8').trim().split('\n')).toEqual(['started']);
  });

  // What this guards is the end result for the SDK's chain, whichever layer shares: core's shared
  // lookup (proven by the provider-process test above) and the SDK's own coalescing of a pending
  // fetch (@smithy/core's memoizeIdentityProvider) each keep it one child; it fails only when
  // neither does (checked: sharedLookup off and a new SDK client per call start three).
  it("a profile's credential_process that never answers is started once across several timed-out calls (by core's shared lookup, or by the SDK's own coalescing alone)", async () => {
    const started = join(mkdtempSync(join(tmpdir(), 's3-started-')), 'started');
    // Each child appends a line before it sleeps (5 s, then exits with no credentials).
    await profileWithProcess(`sh -c "echo started >> '${started}'; sleep 5"`);
    const identity = identityOf({ credentials: undefined, profile: undefined }, 400);
    for (let i = 0; i < 3; i++) {
      await expect(Promise.resolve(identity())).rejects.toMatchObject({ code: 'timeout' });
    }
    // Time for a child started by the last call to have written its line.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(existsSync(started)).toBe(true);
    expect(readFileSync(started, 'utf8').trim().split('\n')).toEqual(['started']);
  });
});
