import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Checksum, RELEASE_CHUNK } from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { HttpPool } from '../http-client.js';
import { crc32c, crcCombine } from '../internal/checksum.js';
import { parseContentRange } from '../object-store.js';
import {
  type RangeRequest,
  type RangeResponse,
  type RangeSource,
  rangedRead,
  rangedReadToFile,
  sliceServed,
  writeSizeFor,
} from './ranged-read.js';

function bytes(n: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function crcOf(algorithm: 'crc32' | 'crc32c', data: Buffer): Checksum {
  const value = algorithm === 'crc32c' ? crc32c(data) : zlib.crc32(data);
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value >>> 0);
  return { algorithm, value: out.toString('base64') };
}

type Behaviour = (request: RangeRequest, attempt: number) => 'ok' | Error | 'stall' | { cutAfter: number };

interface Logged {
  start: number;
  end: number;
  pin: string | undefined;
}

/** An object store in memory answering ranged GETs; `version` may change between requests. */
function store(
  initial: Buffer,
  options: {
    behaviour?: Behaviour;
    ignoreRanges?: boolean;
    wholeFirst?: boolean;
    checksum?: (data: Buffer) => Checksum | undefined;
  } = {},
) {
  const state = { data: initial, version: 'v1' };
  const log: Logged[] = [];
  const attempts = new Map<number, number>();
  const flight = { now: 0, max: 0 };
  const source: RangeSource = {
    async readRange(request) {
      log.push({ start: request.start, end: request.end, pin: request.pin });
      const attempt = (attempts.get(request.end) ?? 0) + 1;
      attempts.set(request.end, attempt);
      const how = options.behaviour?.(request, attempt) ?? 'ok';
      if (how instanceof Error) throw how;
      if (how === 'stall') {
        await new Promise((_, reject) =>
          request.signal.addEventListener('abort', () => reject(request.signal.reason)),
        );
      }
      if (request.pin !== undefined && request.pin !== state.version) {
        throw new ArtifactsError('failed_precondition', 'ETag does not match (412)');
      }
      const total = state.data.length;
      const whole = options.ignoreRanges || (options.wholeFirst && request.whole);
      const served = whole
        ? { start: 0, end: total - 1 }
        : { start: request.start, end: Math.min(request.end, total - 1) };
      let body = state.data.subarray(served.start, served.end + 1);
      let cut: Error | undefined;
      if (typeof how === 'object') {
        body = body.subarray(0, how.cutAfter);
        cut = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
      }
      flight.now++;
      flight.max = Math.max(flight.max, flight.now);
      const pieces: Buffer[] = [];
      for (let i = 0; i < body.length; i += 1000) pieces.push(Buffer.from(body.subarray(i, i + 1000)));
      async function* emit() {
        try {
          for (const piece of pieces) {
            await sleep(0);
            yield piece;
          }
          if (cut) throw cut;
        } finally {
          flight.now--;
        }
      }
      const response: RangeResponse = {
        stream: Readable.from(emit(), { objectMode: false }),
        served,
        totalSize: total,
        pin: state.version,
        ...(options.wholeFirst && request.whole ? { rangesHonoured: true } : {}),
        ...(whole && options.checksum ? { checksum: options.checksum(state.data) } : {}),
        ...(!whole && request.whole && options.checksum ? { checksum: options.checksum(state.data) } : {}),
        contentType: 'application/octet-stream',
      };
      return response;
    },
  };
  return { source, log, state, flight };
}

async function drain(stream: Readable, delayMs = 0): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) {
    out.push(chunk as Buffer);
    if (delayMs) await sleep(delayMs);
  }
  return Buffer.concat(out);
}

const base = { partSize: 10_000, concurrency: 3, what: 'reading "x"' };

describe('rangedRead (stream)', () => {
  it('reads a large object as parallel pinned ranges, in order', async () => {
    const data = bytes(95_000);
    const { source, log, flight } = store(data);
    const result = await rangedRead(source, base);
    expect(result.size).toBe(95_000);
    expect(result.served).toEqual({ start: 0, end: 94_999 });
    // The version every later range is pinned to (a proxy server hands it on as its ETag).
    expect(result.etag).toBe('v1');
    expect((await drain(result.stream)).equals(data)).toBe(true);
    expect(log.map((entry) => entry.start)).toEqual([
      0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000, 80_000, 90_000,
    ]);
    expect(log[0]!.pin).toBeUndefined();
    expect(log.slice(1).every((entry) => entry.pin === 'v1')).toBe(true);
    expect(flight.max).toBeLessThanOrEqual(3);
    expect(flight.max).toBeGreaterThan(1);
  });

  it('reads a byte range, clamped to the object', async () => {
    const data = bytes(50_000);
    const { source } = store(data);
    const result = await rangedRead(source, { ...base, range: { start: 12_345, end: 99_999 } });
    expect(result.served).toEqual({ start: 12_345, end: 49_999 });
    expect((await drain(result.stream)).equals(data.subarray(12_345))).toBe(true);
  });

  it('reads an empty object and a range past the end as nothing', async () => {
    const empty = await rangedRead(store(Buffer.alloc(0)).source, base);
    expect(empty.size).toBe(0);
    expect((await drain(empty.stream)).length).toBe(0);
    const past = await rangedRead(store(bytes(10)).source, { ...base, range: { start: 10 } });
    expect((await drain(past.stream)).length).toBe(0);
  });

  it('reads a range past the end as nothing when the store refuses it with 416; a 416 inside the object stays an error', async () => {
    const unsatisfiable = () =>
      new ArtifactsError('invalid_argument', 'range not satisfiable', { context: { status: 416 } });
    const { source, log } = store(bytes(10), {
      behaviour: (request) => (request.start >= 10 ? unsatisfiable() : 'ok'),
    });
    const past = await rangedRead(source, { ...base, range: { start: 25, end: 40 } });
    expect((await drain(past.stream)).length).toBe(0);
    // The object's first byte told its size.
    expect(log.map(({ start, end }) => [start, end])).toEqual([
      [25, 40],
      [0, 0],
    ]);
    const inside = store(bytes(10), {
      behaviour: (request) => (request.start === 4 ? unsatisfiable() : 'ok'),
    });
    await expect(rangedRead(inside.source, { ...base, range: { start: 4 } })).rejects.toThrow(
      'range not satisfiable',
    );
  });

  it('reads everything from one answer when the store ignores ranges (no second request)', async () => {
    const data = bytes(95_000);
    const { source, log } = store(data, { ignoreRanges: true });
    const result = await rangedRead(source, { ...base, range: { start: 25_000, end: 60_000 } });
    expect(result.served).toEqual({ start: 25_000, end: 60_000 });
    expect((await drain(result.stream)).equals(data.subarray(25_000, 60_001))).toBe(true);
    expect(log).toHaveLength(1);
  });

  it('takes the first part of a whole first answer and asks for the rest (checksum kept)', async () => {
    const data = bytes(95_000);
    const { source, log } = store(data, { wholeFirst: true, checksum: (d) => crcOf('crc32', d) });
    const result = await rangedRead(source, base);
    expect(result.checksum).toEqual(crcOf('crc32', data));
    expect((await drain(result.stream)).equals(data)).toBe(true);
    expect(log).toHaveLength(10);
  });

  it('keeps a small whole answer whole (one request)', async () => {
    const data = bytes(15_000);
    const { source, log } = store(data, { wholeFirst: true });
    const result = await rangedRead(source, base);
    expect((await drain(result.stream)).equals(data)).toBe(true);
    expect(log).toHaveLength(1);
  });

  it('fails with failed_precondition when the object is replaced mid-read, never a mixed stream', async () => {
    const data = bytes(95_000);
    const s = store(data, {
      behaviour: (request) => {
        if (request.start === 50_000) {
          s.state.data = bytes(95_000, 99);
          s.state.version = 'v2';
        }
        return 'ok';
      },
    });
    const result = await rangedRead(s.source, { ...base, concurrency: 1 });
    const error = await drain(result.stream).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'failed_precondition')).toBe(true);
    expect((error as Error).message).toMatch(/changed while it was being read/);
  });

  it('detects a store that ignores the pin condition by the version it answers with', async () => {
    const data = bytes(45_000);
    const s = store(data, {
      behaviour: (request) => {
        if (request.start === 20_000) s.state.version = 'v2';
        return 'ok';
      },
    });
    const source: RangeSource = {
      // The condition is not sent: only the answer's version can tell.
      readRange: (request) => s.source.readRange({ ...request, pin: undefined }),
    };
    const result = await rangedRead(source, { ...base, concurrency: 1 });
    const error = await drain(result.stream).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'failed_precondition')).toBe(true);
    expect((error as Error).message).toMatch(/version v1, now v2/);
  });

  it('resumes only the range that broke, from its first missing byte', async () => {
    const data = bytes(95_000);
    const { source, log } = store(data, {
      behaviour: (request, attempt) =>
        request.start === 30_000 && attempt === 1 ? { cutAfter: 4_000 } : 'ok',
    });
    const result = await rangedRead(source, base);
    expect((await drain(result.stream)).equals(data)).toBe(true);
    const starts = log.map((entry) => entry.start);
    expect(starts.filter((start) => start === 30_000)).toHaveLength(1);
    expect(starts.filter((start) => start === 34_000)).toHaveLength(1);
    expect(starts).toHaveLength(11);
  });

  it('gives up on a range after maxAttempts temporary failures', async () => {
    const data = bytes(45_000);
    const { source, log } = store(data, {
      behaviour: (request) => (request.start >= 20_000 && request.start < 30_000 ? { cutAfter: 10 } : 'ok'),
    });
    const result = await rangedRead(source, { ...base, maxAttempts: 2 });
    const error = await drain(result.stream).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(log.filter((entry) => entry.start >= 20_000 && entry.start < 30_000)).toHaveLength(2);
  });

  it('does not retry a permanent error', async () => {
    const { source, log } = store(bytes(45_000), {
      behaviour: (request) =>
        request.start === 20_000 ? new ArtifactsError('permission_denied', 'no') : 'ok',
    });
    const result = await rangedRead(source, { ...base, concurrency: 1 });
    const error = await drain(result.stream).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'permission_denied')).toBe(true);
    expect(log.filter((entry) => entry.start === 20_000)).toHaveLength(1);
  });

  it('fails a stalled range with timeout within the stall bound', async () => {
    const { source } = store(bytes(45_000), {
      behaviour: (request) => (request.start === 20_000 ? 'stall' : 'ok'),
    });
    const started = Date.now();
    const result = await rangedRead(source, { ...base, timeoutMs: 200 });
    const error = await drain(result.stream).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('reads ahead at most `concurrency` parts for a slow consumer', async () => {
    const data = bytes(200_000);
    const { source, log, flight } = store(data);
    const result = await rangedRead(source, { ...base, concurrency: 2 });
    const reader = result.stream[Symbol.asyncIterator]();
    await reader.next();
    await sleep(100);
    // The part being consumed and one ahead.
    expect(log.length).toBeLessThanOrEqual(2);
    const rest: Buffer[] = [];
    for (let next = await reader.next(); !next.done; next = await reader.next())
      rest.push(next.value as Buffer);
    expect(log).toHaveLength(20);
    expect(flight.max).toBeLessThanOrEqual(2);
  });

  it("follows the caller's abort while the stream is open and leaves nothing on its signal once closed", async () => {
    const data = bytes(95_000);
    const caller = new AbortController();
    const listening = () => getEventListeners(caller.signal, 'abort').length;
    const read = await rangedRead(store(data).source, { ...base, signal: caller.signal });
    expect(listening()).toBe(1);
    expect((await drain(read.stream)).equals(data)).toBe(true);
    expect(listening()).toBe(0);

    const { source, flight } = store(data);
    const cut = await rangedRead(source, { ...base, signal: caller.signal });
    const reader = cut.stream[Symbol.asyncIterator]();
    await reader.next();
    caller.abort(new ArtifactsError('aborted', 'stopped by the caller'));
    await expect(reader.next()).rejects.toThrow('stopped by the caller');
    await sleep(50);
    expect(flight.now).toBe(0);
    expect(listening()).toBe(0);
  });

  it('stops every request when the consumer destroys the stream', async () => {
    const { source, flight } = store(bytes(200_000));
    const result = await rangedRead(source, base);
    const reader = result.stream[Symbol.asyncIterator]();
    await reader.next();
    result.stream.destroy();
    await sleep(50);
    expect(flight.now).toBe(0);
    // Through a destroy function shared by every read (a function made per stream and stored on it
    // would keep the stream past V8's young-generation collections).
    const other = await rangedRead(store(bytes(200_000)).source, base);
    expect(other.stream._destroy).toBe(result.stream._destroy);
    other.stream.destroy();
  });
});

describe('rangedReadToFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ranged-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const target = () => join(dir, `f${Math.random().toString(36).slice(2)}`);

  it('writes parts at their offsets and verifies a combined CRC', async () => {
    const data = bytes(95_000);
    for (const algorithm of ['crc32', 'crc32c'] as const) {
      const { source } = store(data, { checksum: (d) => crcOf(algorithm, d) });
      const path = target();
      let reported = 0;
      const result = await rangedReadToFile(source, path, { ...base, onBytes: (n) => (reported += n) });
      expect(result.checksum?.algorithm).toBe(algorithm);
      expect((await readFile(path)).equals(data)).toBe(true);
      expect(reported).toBe(95_000);
    }
  });

  it("gathers a part's chunks into fewer writes, each at its offset, across chunk boundaries", async () => {
    // The store answers in 1,000-byte chunks; 10,000-byte parts. A write size that is not a multiple
    // of the chunk (2,500: writes of 3,000 bytes) or of the part, one chunk (1), and one larger than
    // a part (25,000) must all put every byte where it belongs, the CRC combined as before.
    const data = bytes(95_000);
    for (const writeSize of [1, 2_500, 4_000, 25_000]) {
      for (const shape of [{}, { wholeFirst: true }, { ignoreRanges: true }]) {
        const { source } = store(data, { ...shape, checksum: (d) => crcOf('crc32c', d) });
        const path = target();
        const writes: number[] = [];
        const result = await rangedReadToFile(source, path, {
          ...base,
          writeSize,
          onBytes: (n) => writes.push(n),
        });
        expect((await readFile(path)).equals(data)).toBe(true);
        expect(result.size).toBe(95_000);
        expect(writes.reduce((a, b) => a + b, 0)).toBe(95_000);
        if (writeSize === 4_000 && !('ignoreRanges' in shape)) {
          // 9 parts of 10,000 (4,000 + 4,000 + 2,000) and one of 5,000 (4,000 + 1,000): 29 writes,
          // not one per chunk (95).
          expect(writes.length).toBe(29);
        }
        if (writeSize === 1) expect(writes.length).toBe(95);
      }
    }
  });

  it('sizes its writes to the concurrency: 64–256 KiB, 4 MiB gathered and in flight in all', () => {
    expect(writeSizeFor(1)).toBe(256 * 1024);
    expect(writeSizeFor(4)).toBe(256 * 1024);
    expect(writeSizeFor(16)).toBe(Math.floor((4 * 1024 * 1024) / 48));
    expect(writeSizeFor(64)).toBe(64 * 1024);
    for (const concurrency of [1, 4, 8, 16]) {
      // Each part: one gathering and up to two writes in flight.
      expect(3 * concurrency * writeSizeFor(concurrency)).toBeLessThanOrEqual(4 * 1024 * 1024);
    }
  });

  it('writes a range that starts mid-chunk at its offset in the file', async () => {
    const data = bytes(95_000);
    const { source } = store(data);
    const path = target();
    const result = await rangedReadToFile(source, path, {
      ...base,
      range: { start: 1_234, end: 56_788 },
      writeSize: 3_333,
    });
    expect(result.size).toBe(55_555);
    expect((await readFile(path)).equals(data.subarray(1_234, 56_789))).toBe(true);
  });

  it('keeps what a short answer sent in its gathered chunks and resumes after it', async () => {
    // The answer for 60,000- is cut after 2,500 bytes (chunks of 1,000, 1,000 and 500, none of
    // them written yet at a write size of 4,000); the retry asks from 62,500 and its bytes join
    // the same gathered run.
    const data = bytes(95_000);
    const resumed = store(data, {
      behaviour: (request, attempt) =>
        request.start === 60_000 && attempt === 1 ? { cutAfter: 2_500 } : 'ok',
      checksum: (d) => crcOf('crc32', d),
    });
    const path = target();
    const writes: number[] = [];
    await rangedReadToFile(resumed.source, path, {
      ...base,
      writeSize: 4_000,
      onBytes: (n) => writes.push(n),
    });
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(resumed.log.map((entry) => entry.start)).toContain(62_500);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(95_000);
  });

  it('fails on an answer shorter than its range and never reports the missing bytes written', async () => {
    const data = bytes(95_000);
    const short = store(data, {
      // The range 30,000-39,999 sends 4,500 bytes, then nothing more on its retry.
      behaviour: (request, attempt) =>
        request.end === 39_999 ? { cutAfter: attempt === 1 ? 4_500 : 0 } : 'ok',
    });
    let reported = 0;
    const error = await rangedReadToFile(short.source, target(), {
      ...base,
      maxAttempts: 2,
      writeSize: 4_000,
      onBytes: (n) => (reported += n),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(short.log.filter((entry) => entry.end === 39_999).map((entry) => entry.start)).toEqual([
      30_000, 34_500,
    ]);
    expect(reported).toBeLessThan(95_000);
  });

  it('verifies a digest that does not combine', async () => {
    const data = bytes(45_000);
    const md5 = (d: Buffer): Checksum => ({
      algorithm: 'md5',
      value: createHash('md5').update(d).digest('base64'),
    });
    const { source } = store(data, { checksum: md5 });
    const path = target();
    const result = await rangedReadToFile(source, path, base);
    expect(result.checksum).toEqual(md5(data));
    const bad = store(data, { checksum: () => md5(bytes(45_000, 1)) });
    const error = await rangedReadToFile(bad.source, target(), base).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'integrity')).toBe(true);
  });

  it('verifies an MD5 in byte order while parts finish out of order, and finds a changed byte anywhere', async () => {
    const data = bytes(95_000);
    const md5 = (d: Buffer): Checksum => ({
      algorithm: 'md5',
      value: createHash('md5').update(d).digest('base64'),
    });
    /**
     * The store of `served` (what it sends) claiming the MD5 of `data`; the first part is the slowest,
     * so the later parts are written before the digest reaches them (and are read back), while the
     * first is hashed as it arrives.
     */
    const slowFirst = (served: Buffer): RangeSource => ({
      async readRange(request) {
        const end = Math.min(request.end, served.length - 1);
        const body = served.subarray(request.start, end + 1);
        async function* emit() {
          for (let at = 0; at < body.length; at += 1000) {
            await sleep(request.start === 0 ? 3 : 0);
            yield Buffer.from(body.subarray(at, at + 1000));
          }
        }
        return {
          stream: Readable.from(emit(), { objectMode: false }),
          served: { start: request.start, end },
          totalSize: served.length,
          pin: 'v1',
          ...(request.whole ? { checksum: md5(data) } : {}),
        };
      },
    });
    for (const concurrency of [1, 3, 8]) {
      const path = target();
      const result = await rangedReadToFile(slowFirst(data), path, { ...base, concurrency });
      expect(result.checksum).toEqual(md5(data));
      expect((await readFile(path)).equals(data)).toBe(true);
      // One byte changed: in the first part (hashed as it arrives), or in one read back.
      for (const at of [5_000, 47_123, 94_999]) {
        const changed = Buffer.from(data);
        changed[at] = changed[at]! ^ 1;
        const error = await rangedReadToFile(slowFirst(changed), target(), { ...base, concurrency }).catch(
          (e: unknown) => e,
        );
        expect(ArtifactsError.is(error, 'integrity'), `concurrency ${concurrency}, byte ${at}`).toBe(true);
      }
    }
  });

  it('an MD5 download whose later part fails permanently fails with that error, its reads back ended', async () => {
    const data = bytes(95_000);
    const md5: Checksum = { algorithm: 'md5', value: createHash('md5').update(data).digest('base64') };
    const { source } = store(data, {
      checksum: () => md5,
      behaviour: (request) =>
        request.start >= 60_000 ? new ArtifactsError('permission_denied', 'no more (403)') : 'ok',
    });
    const path = target();
    const error = await rangedReadToFile(source, path, { ...base, concurrency: 3 }).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'permission_denied')).toBe(true);
  });

  it('fails when the file cannot be written, with writes in flight', async () => {
    // /dev/full takes the open and fails every write (ENOSPC): no failed write may go unseen
    // while the parts keep reading.
    const { source } = store(bytes(95_000));
    const error = await rangedReadToFile(source, '/dev/full', base).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  });

  it('releases each chunk that carries RELEASE_CHUNK once written, and only those', async () => {
    const canDetach = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    const data = bytes(95_000);
    const given: Buffer[] = [];
    let released = 0;
    const answer = (request: RangeRequest, lent: boolean): RangeResponse => {
      const start = request.start;
      const end = Math.min(request.end, data.length - 1);
      const chunks: Buffer[] = [];
      for (let at = start; at <= end; at += 1000) {
        // Each chunk a buffer of its own (a copy, not from Node's shared pool), as core's HttpPool
        // gives them: lent with RELEASE_CHUNK, which frees it.
        const piece = data.subarray(at, Math.min(end + 1, at + 1000));
        const own = Buffer.allocUnsafeSlow(piece.length);
        piece.copy(own);
        if (lent) {
          (own as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => {
            released++;
            (own.buffer as ArrayBuffer & { transfer?: (n: number) => ArrayBuffer }).transfer?.(0);
          };
        }
        chunks.push(own);
      }
      given.push(...chunks);
      return { stream: Readable.from(chunks), served: { start, end }, totalSize: data.length, pin: 'v1' };
    };
    for (const lent of [true, false]) {
      given.length = 0;
      released = 0;
      const path = target();
      await rangedReadToFile({ readRange: async (request) => answer(request, lent) }, path, {
        ...base,
        writeSize: 4_000,
      });
      expect((await readFile(path)).equals(data)).toBe(true);
      // Each lent chunk released once, after its bytes were written (the file is right); the others
      // left alone.
      expect(released).toBe(lent ? given.length : 0);
      const freed = given.filter((chunk) => chunk.buffer.byteLength === 0).length;
      expect(freed).toBe(lent && canDetach ? given.length : 0);
    }
    // A chunk cut out of a lent one (one answer that served more than asked) is a new view: the
    // engine never releases a buffer whose rest another view may hold.
    given.length = 0;
    released = 0;
    const skipped = await rangedReadToFile(
      {
        readRange: async (request) => {
          const whole = answer({ ...request, start: 0 }, true);
          return { ...whole, served: { start: 0, end: whole.served.end } };
        },
      },
      target(),
      { ...base, partSize: 100_000, range: { start: 500, end: 94_999 }, writeSize: 4_000 },
    );
    expect(skipped.size).toBe(94_500);
    expect(released).toBe(given.length - 1);
    expect(data.equals(bytes(95_000))).toBe(true);
  });

  it('refuses bytes that do not match the store CRC', async () => {
    const data = bytes(95_000);
    const { source } = store(data, { checksum: () => crcOf('crc32c', bytes(95_000, 3)) });
    const error = await rangedReadToFile(source, target(), base).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'integrity')).toBe(true);
  });

  it('resumes a broken range and fails on a replaced object', async () => {
    const data = bytes(95_000);
    const resumed = store(data, {
      behaviour: (request, attempt) =>
        request.start === 60_000 && attempt === 1 ? { cutAfter: 2_500 } : 'ok',
    });
    const path = target();
    await rangedReadToFile(resumed.source, path, base);
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(resumed.log.map((entry) => entry.start)).toContain(62_500);

    const replaced = store(data, {
      behaviour: (request) => {
        if (request.start === 40_000) replaced.state.version = 'v2';
        return 'ok';
      },
    });
    const error = await rangedReadToFile(replaced.source, target(), base).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'failed_precondition')).toBe(true);
  });
});

describe('rangedReadToFile: a small answer, checked before the file is created', () => {
  let dir: string;
  beforeAll(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'ranged-small-')), 'into');
    await mkdir(dir);
  });
  afterAll(async () => {
    await rm(dirname(dir), { recursive: true, force: true });
  });
  const target = () => join(dir, `f${Math.random().toString(36).slice(2)}`);
  const small = { ...base, partSize: 8 * 1024 * 1024 };

  it('writes the exact bytes, checked against the store CRC and digest, releasing lent chunks once', async () => {
    const data = bytes(50_000);
    for (const checksum of [
      crcOf('crc32c', data),
      { algorithm: 'md5', value: createHash('md5').update(data).digest('base64') } as Checksum,
    ]) {
      let released = 0;
      const chunks: Buffer[] = [];
      for (let at = 0; at < data.length; at += 1000) {
        const own = Buffer.from(data.subarray(at, at + 1000));
        (own as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => released++;
        chunks.push(own);
      }
      const path = target();
      let reported = 0;
      const result = await rangedReadToFile(
        {
          readRange: async () => ({
            stream: Readable.from(chunks),
            served: { start: 0, end: data.length - 1 },
            totalSize: data.length,
            pin: 'v1',
            checksum,
          }),
        },
        path,
        { ...small, onBytes: (n) => (reported += n) },
      );
      expect(result).toMatchObject({ size: 50_000, totalSize: 50_000, checksum });
      expect((await readFile(path)).equals(data)).toBe(true);
      expect(reported).toBe(50_000);
      expect(released).toBe(chunks.length);
    }
  });

  it('resumes a broken answer from its first missing byte and writes the bytes once', async () => {
    const data = bytes(30_000);
    const { source, log } = store(data, {
      behaviour: (request) => (request.start === 0 ? { cutAfter: 12_345 } : 'ok'),
      checksum: (d) => crcOf('crc32', d),
    });
    const path = target();
    await rangedReadToFile(source, path, small);
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(log.map((entry) => entry.start)).toEqual([0, 12_345]);
  });

  it('creates nothing when the bytes do not match the store checksum', async () => {
    const { source } = store(bytes(40_000), { checksum: () => crcOf('crc32c', bytes(40_000, 3)) });
    const path = target();
    const error = await rangedReadToFile(source, path, small).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'integrity')).toBe(true);
    expect(await readdir(dir)).not.toContain(basename(path));
  });

  it('creates nothing when aborted mid-answer, and stops reading it', async () => {
    const controller = new AbortController();
    let closed = false;
    const source: RangeSource = {
      async readRange() {
        // One chunk, then the caller aborts and the answer sends nothing more.
        const stream = new Readable({ read() {} });
        stream.push(bytes(1000));
        setImmediate(() => controller.abort(new ArtifactsError('aborted', 'stopped by the test')));
        stream.once('close', () => {
          closed = true;
        });
        return { stream, served: { start: 0, end: 9_999 }, totalSize: 10_000, pin: 'v1' };
      },
    };
    const path = target();
    const error = await rangedReadToFile(source, path, { ...small, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(ArtifactsError.is(error, 'aborted')).toBe(true);
    expect(await readdir(dir)).not.toContain(basename(path));
    await sleep(10);
    expect(closed).toBe(true);
  });

  it('never writes through a file or link already at the path', async () => {
    const outside = join(dirname(dir), 'outside.txt');
    await writeFile(outside, 'keep');
    const path = target();
    await symlink(outside, path);
    const { source } = store(bytes(2_000));
    const error = await rangedReadToFile(source, path, small).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('EEXIST');
    expect(await readFile(outside, 'utf8')).toBe('keep');
  });
});

describe('crcCombine', () => {
  it('gives the CRC of the concatenation', () => {
    const a = bytes(12_345, 1);
    const b = bytes(67_890, 2);
    const whole = Buffer.concat([a, b]);
    expect(crcCombine('crc32c', crc32c(a), crc32c(b), b.length)).toBe(crc32c(whole));
    expect(crcCombine('crc32', zlib.crc32(a), zlib.crc32(b), b.length)).toBe(zlib.crc32(whole));
    expect(crcCombine('crc32', zlib.crc32(a), 0, 0)).toBe(zlib.crc32(a));
  });
});

describe('sliceServed', () => {
  it('keeps the wanted bytes of a larger answer', async () => {
    const data = bytes(10_000);
    const pieces = [data.subarray(0, 3000), data.subarray(3000, 7000), data.subarray(7000)];
    const out = await drain(
      sliceServed(Readable.from(pieces), { start: 0, end: 9_999 }, { start: 2_500, end: 7_499 }),
    );
    expect(out.equals(data.subarray(2_500, 7_500))).toBe(true);
    const tail = await drain(sliceServed(Readable.from(pieces), { start: 0, end: 9_999 }, { start: 9_000 }));
    expect(tail.equals(data.subarray(9_000))).toBe(true);
  });
});

describe('over core HttpPool and a real HTTP server', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ranged-http-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const target = () => join(dir, `f${Math.random().toString(36).slice(2)}`);

  /**
   * A real HTTP server of ranges: 'Range: bytes=a-b' answered 206 (or, with `more`, everything from
   * `a` to the end: a store serving more than asked); `cut` ends the first answer of a range early by
   * destroying its connection; every answer is written in 16 KiB pieces so the client reads many
   * socket reads.
   */
  async function rangeServer(data: Buffer, options: { more?: boolean; cut?: number; stall?: number } = {}) {
    const { createServer } = await import('node:http');
    let cutDone = false;
    const server = createServer((req, res) => {
      const [, a, b] = /bytes=(\d+)-(\d+)/.exec(String(req.headers.range)) ?? [];
      const start = Number(a ?? 0);
      const end = options.more ? data.length - 1 : Math.min(Number(b ?? data.length - 1), data.length - 1);
      res.writeHead(206, {
        'content-length': String(end - start + 1),
        'content-range': `bytes ${start}-${end}/${data.length}`,
        etag: '"v1"',
      });
      const cutAt = !cutDone && options.cut !== undefined && start > 0 ? options.cut : undefined;
      if (cutAt !== undefined) cutDone = true;
      let at = start;
      const pump = () => {
        while (at <= end) {
          if (cutAt !== undefined && at - start >= cutAt) {
            res.socket?.destroy();
            return;
          }
          // Sends nothing more, and keeps the connection open.
          if (options.stall !== undefined && start > 0 && at - start >= options.stall) return;
          const piece = data.subarray(at, Math.min(end + 1, at + 16_384));
          at += piece.length;
          if (!res.write(piece)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/object`;
    const pool = new HttpPool({ connections: 3 });
    const source: RangeSource = {
      async readRange(request) {
        const answer = await pool.request({
          method: 'GET',
          url,
          headers: { range: `bytes=${request.start}-${request.end}` },
          signal: request.signal,
        });
        const served = parseContentRange(String(answer.headers['content-range']));
        return {
          stream: answer.body,
          served: { start: served?.start ?? 0, end: served?.end ?? -1 },
          totalSize: served?.total ?? 0,
          pin: String(answer.headers.etag),
          rangesHonoured: true,
        };
      },
    };
    return {
      source,
      close: () => {
        pool.destroy();
        server.closeAllConnections();
        server.close();
      },
    };
  }

  const options = { partSize: 200_000, concurrency: 3, what: 'object', timeoutMs: 5_000 };

  it('writes every byte at its offset, the same as the stream of the same parts', async () => {
    const data = bytes(1_234_567);
    const served = await rangeServer(data);
    try {
      const path = target();
      // Small writes: the parts wait for writes in flight (the body paused and resumed) many times.
      const result = await rangedReadToFile(served.source, path, { ...options, writeSize: 20_000 });
      expect(result.size).toBe(data.length);
      expect((await readFile(path)).equals(data)).toBe(true);
      const streamed = await rangedRead(served.source, options);
      expect((await drain(streamed.stream)).equals(data)).toBe(true);
    } finally {
      served.close();
    }
  });

  it('stops reading an answer that served more than asked, and resumes a cut one from its first missing byte', async () => {
    const data = bytes(1_000_000);
    for (const served of [
      await rangeServer(data, { more: true }),
      await rangeServer(data, { cut: 50_000 }),
    ]) {
      try {
        const path = target();
        await rangedReadToFile(served.source, path, options);
        expect((await readFile(path)).equals(data)).toBe(true);
      } finally {
        served.close();
      }
    }
  });

  it('fails a range whose answer stalls mid-body with timeout, and stops the other parts', async () => {
    const served = await rangeServer(bytes(1_000_000), { stall: 40_000 });
    try {
      const started = Date.now();
      const error = await rangedReadToFile(served.source, target(), { ...options, timeoutMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(ArtifactsError.is(error, 'timeout')).toBe(true);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      served.close();
    }
  });
});
