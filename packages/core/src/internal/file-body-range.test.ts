import { randomBytes } from 'node:crypto';
import { type FileHandle, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RELEASE_CHUNK } from '../driver.js';
import { FileBody, ReadBufferPool } from './file-body.js';

type Lent = Buffer & { [RELEASE_CHUNK]?: () => void };

let dir: string;
let file: string;
const BYTES = randomBytes(10 * 4096 + 123);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'artifacts-read-stream-'));
  file = join(dir, 'data.bin');
  await writeFile(file, BYTES);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Reads the stream, copying each chunk and (when `release`) giving it back at once. */
async function collect(stream: FileBody, release: boolean): Promise<{ bytes: Buffer; chunks: Lent[] }> {
  const copies: Buffer[] = [];
  const chunks: Lent[] = [];
  for await (const chunk of stream) {
    const lent = chunk as Lent;
    chunks.push(lent);
    copies.push(Buffer.from(lent));
    if (release) lent[RELEASE_CHUNK]?.();
  }
  return { bytes: Buffer.concat(copies), chunks };
}

/** What the local driver reads: bytes [start, end] of an open file, through pooled buffers. */
function ranged(
  handle: FileHandle,
  range: { start: number; end: number },
  pool: ReadBufferPool,
  signal?: AbortSignal,
): FileBody {
  return new FileBody('data.bin', range.end - range.start + 1, {
    handle,
    start: range.start,
    buffers: pool,
    signal,
  });
}

describe('FileBody over an open file, a range and pooled buffers (the local driver reads)', () => {
  it('reads every range exactly, whether its chunks are given back or kept', async () => {
    for (const [start, end] of [
      [0, BYTES.length - 1],
      [0, 0],
      [4095, 4096],
      [100, 3 * 4096 + 7],
      [4096, BYTES.length - 1],
    ] as const) {
      for (const release of [true, false]) {
        const pool = new ReadBufferPool(4096, 2);
        const stream = ranged(await open(file), { start, end }, pool);
        const { bytes } = await collect(stream, release);
        expect(bytes.equals(BYTES.subarray(start, end + 1))).toBe(true);
      }
    }
  });

  it('reuses a buffer given back, and lends only whole read buffers', async () => {
    const pool = new ReadBufferPool(4096, 2);
    const stream = ranged(await open(file), { start: 0, end: BYTES.length - 1 }, pool);
    const { bytes, chunks } = await collect(stream, true);
    expect(bytes.equals(BYTES)).toBe(true);
    // 10 whole chunks from (at most) two buffers, and a last one of 123 bytes of its own.
    const whole = chunks.slice(0, -1);
    expect(whole.every((chunk) => chunk.length === 4096 && typeof chunk[RELEASE_CHUNK] === 'function')).toBe(
      true,
    );
    expect(new Set(whole.map((chunk) => chunk.buffer)).size).toBeLessThanOrEqual(2);
    const last = chunks.at(-1)!;
    expect(last.length).toBe(123);
    expect(last[RELEASE_CHUNK]).toBeUndefined();
    expect(pool.idle).toBeLessThanOrEqual(2);
  });

  it('allocates a fresh buffer for each read when no chunk is given back', async () => {
    const pool = new ReadBufferPool(4096, 2);
    const stream = ranged(await open(file), { start: 0, end: BYTES.length - 1 }, pool);
    const { chunks } = await collect(stream, false);
    expect(new Set(chunks.map((chunk) => chunk.buffer)).size).toBe(chunks.length);
    expect(pool.idle).toBe(0);
  });

  it('gives a buffer back once, however often its release is called', async () => {
    const pool = new ReadBufferPool(4096, 4);
    const stream = ranged(await open(file), { start: 0, end: 4095 }, pool);
    const { chunks } = await collect(stream, false);
    chunks[0]![RELEASE_CHUNK]!();
    chunks[0]![RELEASE_CHUNK]!();
    expect(pool.idle).toBe(1);
  });

  it('closes the file when destroyed mid-read, also with a read in flight, and when it ends', async () => {
    const pool = new ReadBufferPool(4096, 2);
    const early = await open(file);
    const stream = ranged(early, { start: 0, end: BYTES.length - 1 }, pool);
    const first = await new Promise<Lent>((resolve) => stream.once('data', resolve));
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    expect(early.fd).toBe(-1);
    // A chunk handed out before the end can still be given back.
    first[RELEASE_CHUNK]?.();
    expect(pool.idle).toBeLessThanOrEqual(2);

    // Destroyed from its first 'data' event: the next read is already in flight then.
    const inFlight = await open(file);
    const racing = ranged(inFlight, { start: 0, end: BYTES.length - 1 }, pool);
    racing.once('data', () => racing.destroy());
    await new Promise((resolve) => racing.once('close', resolve));
    expect(inFlight.fd).toBe(-1);

    const whole = await open(file);
    const ending = ranged(whole, { start: 0, end: 99 }, pool);
    await collect(ending, true);
    if (!ending.closed) await new Promise((resolve) => ending.once('close', resolve));
    expect(whole.fd).toBe(-1);
  });

  it('stops on its signal and closes the file', async () => {
    const controller = new AbortController();
    const handle = await open(file);
    const stream = ranged(
      handle,
      { start: 0, end: BYTES.length - 1 },
      new ReadBufferPool(4096, 2),
      controller.signal,
    );
    const failed = new Promise<unknown>((resolve) => stream.once('error', resolve));
    controller.abort(new Error('stop'));
    expect(((await failed) as Error).message).toBe('stop');
    await new Promise((resolve) => setImmediate(resolve));
    expect(handle.fd).toBe(-1);
  });

  it('ends early, without error, when the file shrank after it was opened (core checks the length)', async () => {
    const handle = await open(file);
    await writeFile(file, BYTES.subarray(0, 5000));
    const { bytes } = await collect(
      ranged(handle, { start: 0, end: BYTES.length - 1 }, new ReadBufferPool(4096, 2)),
      true,
    );
    expect(bytes.length).toBe(5000);
  });
});

describe("a local file streamed through core's HttpPool", () => {
  it('gets each whole chunk back once the socket has taken it, and the server every byte', async () => {
    const { createServer } = await import('node:http');
    const { createHash } = await import('node:crypto');
    const { HttpPool } = await import('../http-client.js');
    const server = createServer((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => res.end(hash.digest('hex')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const http = new HttpPool({ connections: 1 });
    try {
      const pool = new ReadBufferPool(4096, 4);
      const body = new FileBody(file, BYTES.length, { buffers: pool });
      const { port } = server.address() as { port: number };
      const answer = await http.request({ method: 'PUT', url: `http://127.0.0.1:${port}/`, body });
      let text = '';
      for await (const chunk of answer.body) text += String(chunk);
      expect(text).toBe(createHash('sha256').update(BYTES).digest('hex'));
      // 10 whole chunks were lent and given back: the pool holds buffers again (at most `max`).
      expect(pool.idle).toBeGreaterThan(0);
      expect(pool.idle).toBeLessThanOrEqual(4);
    } finally {
      http.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("a local file through core's layers' views (PullStream)", () => {
  it('hands each pooled chunk on as it is: never two concatenated into a copy', async () => {
    const { PullStream } = await import('./pull-stream.js');
    // Chunks larger than a view's own buffer (64 KiB), as the 1 MiB chunks of an upload are.
    const size = 128 * 1024;
    const big = randomBytes(10 * size + 123);
    await writeFile(file, big);
    const pool = new ReadBufferPool(size, 4);
    const body = new FileBody(file, big.length, { buffers: pool });
    const retryView = new PullStream(body, { ownSource: false });
    const timeoutView = new PullStream(retryView, { ownSource: true });
    const chunks: Lent[] = [];
    const copies: Buffer[] = [];
    // What HttpPool does with a request body: `read()` in a loop (the stream's async iterator).
    for await (const chunk of timeoutView.iterator({ destroyOnReturn: false })) {
      chunks.push(chunk as Lent);
      copies.push(Buffer.from(chunk as Buffer));
      (chunk as Lent)[RELEASE_CHUNK]?.();
      // A socket slower than the disk: the file and the views fill up meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(Buffer.concat(copies).equals(big)).toBe(true);
    expect(chunks.map((chunk) => chunk.length)).toEqual([...Array(10).fill(size), 123]);
    expect(chunks.slice(0, -1).every((chunk) => typeof chunk[RELEASE_CHUNK] === 'function')).toBe(true);
  });
});
