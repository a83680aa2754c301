import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Fixture, startFixture } from './helpers.js';

// A download from a local destination reuses the store's read buffers: each goes back once the
// socket has taken its bytes (core's RELEASE_CHUNK). A buffer given back too early would show as
// wrong bytes in a download still being written; one kept by a client that left would hold the file
// open. Both are checked here against the real server over a real directory.

const A = '/api/2.0/mlflow-artifacts/artifacts';
const SIZE = 20 * 1024 * 1024 + 17;
const DATA = randomBytes(SIZE);
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

let fixture: Fixture;
beforeAll(async () => {
  fixture = await startFixture({ auth: { allowUnauthenticated: true } });
  expect((await call(fixture.url, 'PUT', `${A}/big.bin`, { body: DATA })).status).toBe(200);
});
afterAll(() => fixture.close());

/** A GET read to its end, pausing now and then (`slow`), so the server's writes wait on the socket. */
function download(headers: Record<string, string>, slow: boolean): Promise<{ status: number; body: Buffer }> {
  const url = new URL(fixture.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: `${A}/big.bin`, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          seen += 1;
          if (slow && seen % 16 === 0) {
            res.pause();
            setTimeout(() => res.resume(), 5);
          }
        });
        res.on('error', reject);
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function openDescriptors(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

async function settle(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}

describe('downloads through reused read buffers', () => {
  it('serves the right bytes to many downloads at once, whole and ranged, fast and slow readers', async () => {
    const ranges = [
      undefined,
      `bytes=0-${8 * 1024 * 1024 - 1}`,
      `bytes=${8 * 1024 * 1024}-${16 * 1024 * 1024 - 1}`,
      `bytes=${16 * 1024 * 1024}-`,
      'bytes=1000-3000000',
      undefined,
    ];
    for (let round = 0; round < 2; round++) {
      const answers = await Promise.all(
        ranges.map((range, index) => download(range ? { range } : {}, (index + round) % 2 === 0)),
      );
      for (const [index, range] of ranges.entries()) {
        const answer = answers[index]!;
        const match = range ? /^bytes=(\d+)-(\d*)$/.exec(range)! : undefined;
        const start = match ? Number(match[1]) : 0;
        const end = match && match[2] !== '' ? Number(match[2]) + 1 : SIZE;
        expect(answer.status).toBe(range ? 206 : 200);
        expect(answer.body.length).toBe(end - start);
        expect(sha(answer.body)).toBe(sha(DATA.subarray(start, end)));
      }
    }
  });

  it('closes the file when the client leaves mid-body, and serves the next download whole', async () => {
    const before = await openDescriptors();
    const url = new URL(fixture.url);
    for (let i = 0; i < 4; i++) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request(
          { host: url.hostname, port: url.port, path: `${A}/big.bin`, agent: false },
          (res) => {
            let seen = 0;
            res.on('data', (chunk: Buffer) => {
              seen += chunk.length;
              // Gone after the first megabytes: the server is mid-file, writes waiting on the socket.
              if (seen > 2 * 1024 * 1024) {
                req.destroy();
                resolve();
              }
            });
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => {
          if (!req.destroyed) reject(error);
        });
        req.end();
      });
    }
    expect(await settle(async () => (await openDescriptors()) <= before)).toBe(true);
    const again = await download({}, false);
    expect(sha(again.body)).toBe(sha(DATA));
  });
});
