import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RELEASE_CHUNK } from './driver.js';
import { lendChunks, releaseChunk, releaseWritten } from './lent-chunks.js';

type Lent = Buffer & { [RELEASE_CHUNK]?: () => void };
const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/** Node 20 has no `ArrayBuffer.prototype.transfer`: a released buffer is left to the collector there. */
const canDetach = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
const freed = (chunk: Lent) =>
  canDetach ? chunk.buffer.byteLength === 0 : typeof chunk[RELEASE_CHUNK] === 'function';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lent-chunks-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/**
 * `count` chunks of 64 KiB, each lent with a `RELEASE_CHUNK` that scribbles over its bytes (what a
 * producer reusing the buffer would do): a chunk released before its bytes were written shows as
 * wrong bytes in the file.
 */
function scribbledChunks(count: number) {
  const chunks: Lent[] = [];
  const released: number[] = [];
  for (let i = 0; i < count; i++) {
    const chunk: Lent = randomBytes(64 * 1024);
    chunk[RELEASE_CHUNK] = () => {
      released.push(i);
      chunk.fill(0xee);
    };
    chunks.push(chunk);
  }
  const digest = sha(Buffer.concat(chunks));
  return { chunks, released, digest };
}

describe('lendChunks', () => {
  it('lends each whole buffer the stream pushes, freed at once by its RELEASE_CHUNK; views are not lent', async () => {
    const stream = lendChunks(new PassThrough());
    const whole = Buffer.alloc(4096, 7);
    const view = Buffer.alloc(8192).subarray(1024, 2048);
    stream.end(whole);
    const got: Lent[] = [];
    stream.on('data', (chunk: Lent) => got.push(chunk));
    const rest = new PassThrough();
    lendChunks(rest).end(view);
    rest.on('data', (chunk: Lent) => got.push(chunk));
    await Promise.all([new Promise((r) => stream.once('end', r)), new Promise((r) => rest.once('end', r))]);
    expect(got).toHaveLength(2);
    const [lent, notLent] = got as [Lent, Lent];
    expect(lent).toBe(whole);
    expect(typeof lent[RELEASE_CHUNK]).toBe('function');
    expect(notLent[RELEASE_CHUNK]).toBeUndefined();
    releaseChunk(lent);
    // The memory is gone: the ArrayBuffer is detached (on Node 20, left to the collector).
    expect(whole.buffer.byteLength).toBe(canDetach ? 0 : 4096);
    releaseChunk(notLent); // no RELEASE_CHUNK: nothing happens
    expect(notLent.length).toBe(1024);
  });
});

describe('releaseWritten', () => {
  it('releases each chunk only after a file has its bytes, through pipeline', async () => {
    const { chunks, released, digest } = scribbledChunks(200);
    const path = join(dir, 'out');
    const out = releaseWritten((await open(path, 'w')).createWriteStream({ highWaterMark: 16 * 1024 }));
    await pipeline(Readable.from(chunks), out);
    expect(sha(await readFile(path))).toBe(digest);
    expect(released.sort((a, b) => a - b)).toEqual(chunks.map((_, i) => i));
  });

  it('releases each chunk only after a file has its bytes, when writes wait and are gathered (writev)', async () => {
    const { chunks, released, digest } = scribbledChunks(200);
    const path = join(dir, 'gathered');
    const out = releaseWritten((await open(path, 'w')).createWriteStream());
    let gathered = 0;
    const own = out as unknown as { _writev: (c: unknown[], cb: (e?: Error | null) => void) => void };
    const writev = own._writev;
    own._writev = function (this: unknown, c, cb) {
      gathered += c.length > 1 ? 1 : 0;
      writev.call(this, c, cb);
    };
    // Every chunk written at once: while the first write runs, the rest wait in the stream's buffer.
    for (const chunk of chunks) out.write(chunk);
    out.end();
    await finished(out);
    expect(gathered).toBeGreaterThan(0);
    expect(sha(await readFile(path))).toBe(digest);
    expect(released.sort((a, b) => a - b)).toEqual(chunks.map((_, i) => i));
  });

  it('with lendChunks end to end: the file is whole and every chunk freed', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const source = lendChunks(new PassThrough());
    const pieces: Buffer[] = [];
    for (let i = 0; i < data.length; i += 65_536) {
      const piece = data.subarray(i, i + 65_536);
      const own = Buffer.alloc(piece.length); // a whole ArrayBuffer of its own, as Node's parser makes
      piece.copy(own);
      pieces.push(own);
    }
    const path = join(dir, 'lent');
    const out = releaseWritten((await open(path, 'w')).createWriteStream());
    const done = pipeline(source, out);
    for (const piece of pieces) if (!source.write(piece)) await new Promise((r) => source.once('drain', r));
    source.end();
    await done;
    expect(sha(await readFile(path))).toBe(sha(data));
    expect(pieces.every(freed)).toBe(true);
  });

  it('releases nothing whose write failed', async () => {
    const { chunks, released } = scribbledChunks(3);
    const failing = releaseWritten(
      new Writable({
        write(_chunk, _encoding, callback) {
          callback(new Error('disk full'));
        },
      }),
    );
    await expect(pipeline(Readable.from(chunks), failing)).rejects.toThrow('disk full');
    expect(released).toEqual([]);
  });
});
