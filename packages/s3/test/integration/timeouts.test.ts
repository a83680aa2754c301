import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { ArtifactsError, openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
const target = () => {
  const url = new URL(env('MLFLOW_S3_ENDPOINT_URL'));
  return { host: url.hostname, port: Number(url.port) };
};

// 24 MiB as one PutObject, then as three 8 MiB parts (one in flight, so the proxy's pace holds).
describeTimeouts('s3 single request', {
  get target() {
    return target();
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), {
      endpointUrl: `http://${proxy.host}:${proxy.port}`,
      timeoutMs,
      partSizeBytes: 32 * MiB,
    }),
});

describeTimeouts('s3 multipart', {
  get target() {
    return target();
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts-mp'), {
      endpointUrl: `http://${proxy.host}:${proxy.port}`,
      timeoutMs,
      partSizeBytes: 8 * MiB,
      uploadQueueSize: 1,
    }),
});

/**
 * A port that never answers a SYN (Linux): a listener with backlog 1 in a process whose event loop
 * is blocked, so it never accepts, and whose accept queue is filled: the kernel drops the next SYN.
 */
async function unanswered(): Promise<{ port: number; stop(): void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port); require('child_process').execSync('sleep 300'); })",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
    child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
  });
  const fillers: Socket[] = [];
  for (let i = 0; i < 3; i += 1) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
  await new Promise((resolve) => setTimeout(resolve, 200));
  return {
    port,
    stop() {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('s3 connect timeout', () => {
  let silent: Awaited<ReturnType<typeof unanswered>> | undefined;
  afterAll(() => silent?.stop());

  it('connectTimeoutMs bounds our own requests: a host that never answers the SYN is a timeout naming the limit and host:port', async () => {
    silent = await unanswered();
    const repo = await openRepository(uniqueRoot('connect'), {
      endpointUrl: `http://127.0.0.1:${silent.port}`,
      connectTimeoutMs: 400,
      maxRetries: 0,
      partSizeBytes: 5 * 1024 * 1024,
    });
    try {
      const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
      const ours = `no connection to 127.0.0.1:${silent.port} within 0.4 s (connectTimeoutMs)`;
      const calls: Array<[() => Promise<unknown>, string]> = [
        // our own PutObject and GetObject
        [() => repo.write('a.txt', 'x'), ours],
        [async () => text(await repo.openRead('a.txt')), ours],
        // a download starts with our own HEAD
        [() => repo.downloadArtifacts('a.txt', dst), ours],
        // and our own listing
        [() => repo.listArtifacts(''), ours],
        // a multipart upload starts with our own CreateMultipartUpload
        [() => repo.write('big.bin', Buffer.alloc(6 * 1024 * 1024)), ours],
      ];
      for (const [call, message] of calls) {
        const started = Date.now();
        const error = await call().catch((e: unknown) => e);
        const elapsed = Date.now() - started;
        expect(error).toBeInstanceOf(ArtifactsError);
        expect(error).toMatchObject({ code: 'timeout' });
        expect((error as Error).message).toContain(message);
        expect(elapsed).toBeGreaterThanOrEqual(390);
        // the kernel's SYN retries alone would take about two minutes
        expect(elapsed).toBeLessThan(10_000);
      }
      expect(await readdir(dst)).toEqual([]);
    } finally {
      await repo.close();
    }
  });
});
