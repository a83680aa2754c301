import { createHash } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { RELEASE_CHUNK, type SentBody } from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { crc32c, crcText } from '../internal/checksum.js';
import { type ChunkedUploadTarget, choosePartSize, chunkedUpload } from './chunked-upload.js';

const limits = { maxParts: 10_000, minPartSize: 1, maxPartSize: 1 << 30 };

function bytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

function chunks(data: Buffer, size = 1000): Readable {
  const list: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) list.push(data.subarray(i, i + size));
  return Readable.from(list);
}

async function drain(stream: Readable, signal: AbortSignal, delayMs = 0): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) {
    signal.throwIfAborted();
    out.push(Buffer.from(chunk as Buffer));
    if (delayMs) await sleep(delayMs, undefined, { signal });
  }
  return Buffer.concat(out);
}

/** A store in memory that records every request; `behaviour` may fail or slow a part's attempt. */
function store(behaviour: (part: number, attempt: number) => 'ok' | Error | 'stall' | number = () => 'ok') {
  const attempts = new Map<number, number>();
  const parts = new Map<number, Buffer>();
  const log = { whole: 0, created: 0, completed: 0, aborted: 0, maxInFlight: 0, inFlight: 0 };
  let result: Buffer | undefined;
  const target: ChunkedUploadTarget<number, string> = {
    async putWhole(request) {
      log.whole++;
      result = await drain(request.body(), request.signal);
      return 'whole';
    },
    async create() {
      log.created++;
    },
    async uploadPart(request) {
      const attempt = (attempts.get(request.partNumber) ?? 0) + 1;
      attempts.set(request.partNumber, attempt);
      log.inFlight++;
      log.maxInFlight = Math.max(log.maxInFlight, log.inFlight);
      try {
        const how = behaviour(request.partNumber, attempt);
        if (how instanceof Error) throw how;
        if (how === 'stall')
          await new Promise((_, reject) => request.signal.addEventListener('abort', reject));
        const data = await drain(request.body(), request.signal, typeof how === 'number' ? how : 0);
        parts.set(request.partNumber, data);
        return request.partNumber;
      } finally {
        log.inFlight--;
      }
    },
    async complete(numbers) {
      log.completed++;
      result = Buffer.concat(numbers.map((n) => parts.get(n)!));
      return 'multipart';
    },
    async abort(context) {
      expect(context.signal.aborted).toBe(false);
      log.aborted++;
    },
  };
  return { target, log, attempts, result: () => result };
}

const temporary = () => new ArtifactsError('unavailable', 'connection reset', { temporary: true });

describe('chunkedUpload', () => {
  it('sends a body that fits in one part as one request', async () => {
    const data = bytes(5000);
    const s = store();
    const out = await chunkedUpload(chunks(data), s.target, {
      partSize: 5000,
      concurrency: 2,
      limits,
      what: 'x',
    });
    expect(out).toBe('whole');
    expect(s.log).toMatchObject({ whole: 1, created: 0 });
    expect(s.result()).toEqual(data);
  });

  it('sends a larger body as parts in order, with at most `concurrency` in flight', async () => {
    const data = bytes(10_500);
    const s = store(() => 2);
    const seen: Buffer[] = [];
    const out = await chunkedUpload(chunks(data, 700), s.target, {
      partSize: 1000,
      concurrency: 3,
      limits,
      what: 'x',
      onData: (d) => seen.push(Buffer.from(d)),
    });
    expect(out).toBe('multipart');
    expect(s.result()).toEqual(data);
    expect(Buffer.concat(seen)).toEqual(data);
    expect(s.log).toMatchObject({ created: 1, completed: 1, aborted: 0, whole: 0 });
    expect(s.log.maxInFlight).toBe(3);
  });

  it("hashes each part once with `crc` and reports the whole body's CRC from the parts'", async () => {
    for (const [algorithm, crc] of [
      ['crc32', (b: Uint8Array) => zlib.crc32(b)],
      ['crc32c', crc32c],
    ] as const) {
      for (const size of [0, 1, 999, 1000, 1001, 10_500]) {
        const data = bytes(size);
        const s = store();
        const headers: string[] = [];
        const target = { ...s.target };
        target.uploadPart = (request) => {
          expect(request.crc).toBe(crcText(crc(request.data)));
          headers.push(request.crc as string);
          return s.target.uploadPart(request);
        };
        target.putWhole = (request) => {
          expect(request.crc).toBe(crcText(crc(request.data)));
          return s.target.putWhole!(request);
        };
        let sent: SentBody | undefined;
        await chunkedUpload(chunks(data, 700), target, {
          partSize: 1000,
          concurrency: 3,
          limits,
          what: 'x',
          crc: algorithm,
          onSent: (body) => {
            sent = body;
          },
        });
        expect(s.result()).toEqual(data);
        expect(headers.length).toBe(size > 1000 ? Math.ceil(size / 1000) : 0);
        expect(sent).toEqual({ checksum: { algorithm, value: crcText(crc(data)) }, bytes: size });
      }
    }
  });

  it("with `digest`, hands the whole body's hash to putWhole or complete (before the commit) and reports it", async () => {
    for (const size of [0, 1, 999, 1000, 1001, 10_500]) {
      const data = bytes(size);
      const md5 = createHash('md5').update(data).digest('base64');
      const expected = { checksum: { algorithm: 'md5', value: md5 }, bytes: size };
      const s = store();
      const given: Array<SentBody | undefined> = [];
      const target = { ...s.target };
      target.putWhole = (request) => {
        given.push(request.sent);
        return s.target.putWhole!(request);
      };
      target.complete = (parts, context) => {
        given.push(context.sent);
        return s.target.complete(parts, context);
      };
      let sent: SentBody | undefined;
      await chunkedUpload(chunks(data, 700), target, {
        partSize: 1000,
        concurrency: 3,
        limits,
        what: 'x',
        digest: 'md5',
        onSent: (body) => {
          sent = body;
        },
      });
      expect(s.result()).toEqual(data);
      expect(given).toEqual([expected]);
      expect(sent).toEqual(expected);
    }
  });

  it('with `partDigest`, gives each uploadPart its own digest once; payload() is the buffer, or a stream of it under a timeout', async () => {
    const data = bytes(2500);
    for (const timeoutMs of [undefined, 60_000]) {
      const s = store();
      const target = { ...s.target };
      const digests: Array<string | undefined> = [];
      target.uploadPart = async (request) => {
        digests[request.partNumber - 1] = request.digest;
        const payload = request.payload();
        if (timeoutMs === undefined) expect(payload).toBe(request.data);
        else {
          expect(Buffer.isBuffer(payload)).toBe(false);
          expect(Buffer.concat(await (payload as Readable).toArray())).toEqual(request.data);
        }
        return s.target.uploadPart(request);
      };
      await chunkedUpload(chunks(data, 700), target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        what: 'x',
        timeoutMs,
        partDigest: 'md5',
      });
      expect(s.result()).toEqual(data);
      const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');
      expect(digests).toEqual(
        [data.subarray(0, 1000), data.subarray(1000, 2000), data.subarray(2000)].map(md5),
      );
    }
  });

  it("with `partDigest`, a body of one part hands putWhole its digest; with `digest` of the same algorithm, the whole body's", async () => {
    const data = bytes(700);
    const md5 = createHash('md5').update(data).digest('base64');
    const sha256 = createHash('sha256').update(data).digest('base64');
    for (const [partDigest, digest, expected] of [
      ['sha256', undefined, sha256],
      ['md5', 'md5', md5],
      ['sha256', 'md5', sha256],
    ] as const) {
      const s = store();
      const target = { ...s.target };
      let given: string | undefined;
      target.putWhole = async (request) => {
        given = request.digest;
        return s.target.putWhole!(request);
      };
      await chunkedUpload(chunks(data, 300), target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        what: 'x',
        partDigest,
        ...(digest ? { digest } : {}),
      });
      expect(s.result()).toEqual(data);
      expect(given).toBe(expected);
    }
  });

  it('reports nothing sent when the upload fails', async () => {
    const s = store((part) => (part === 3 ? new ArtifactsError('permission_denied', 'no') : 'ok'));
    let sent: SentBody | undefined;
    await expect(
      chunkedUpload(chunks(bytes(5000)), s.target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        what: 'x',
        crc: 'crc32',
        onSent: (body) => {
          sent = body;
        },
      }),
    ).rejects.toThrow('no');
    expect(sent).toBeUndefined();
  });

  it('retries only the part that failed with a temporary error', async () => {
    const data = bytes(5000);
    const s = store((part, attempt) => (part === 3 && attempt === 1 ? temporary() : 'ok'));
    await chunkedUpload(chunks(data), s.target, { partSize: 1000, concurrency: 2, limits, what: 'x' });
    expect(s.result()).toEqual(data);
    expect([...s.attempts.entries()].sort()).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 1],
      [5, 1],
    ]);
  });

  it('releases each lent chunk once copied into its part, and a retried part still sends its bytes', async () => {
    const data = bytes(5000);
    // Lent chunks whose RELEASE_CHUNK scribbles over them (a producer reusing its buffer): a part
    // that sent, or retried, a chunk after its release would carry wrong bytes.
    const lent = [] as (Buffer & { [RELEASE_CHUNK]?: () => void })[];
    const released = new Set<number>();
    for (let i = 0; i < data.length; i += 700) {
      const chunk: Buffer & { [RELEASE_CHUNK]?: () => void } = Buffer.from(data.subarray(i, i + 700));
      const index = lent.length;
      chunk[RELEASE_CHUNK] = () => {
        released.add(index);
        chunk.fill(0xee);
      };
      lent.push(chunk);
    }
    const s = store((part, attempt) => (part === 3 && attempt === 1 ? temporary() : 'ok'));
    await chunkedUpload(Readable.from(lent), s.target, { partSize: 1000, concurrency: 2, limits, what: 'x' });
    expect(s.result()).toEqual(data);
    expect(s.attempts.get(3)).toBe(2);
    expect(released.size).toBe(lent.length);
  });

  it('aborts the upload on a permanent part failure and completes nothing', async () => {
    const s = store((part) => (part === 2 ? new ArtifactsError('permission_denied', 'no') : 'ok'));
    await expect(
      chunkedUpload(chunks(bytes(5000)), s.target, { partSize: 1000, concurrency: 2, limits, what: 'x' }),
    ).rejects.toMatchObject({ code: 'permission_denied' });
    expect(s.log).toMatchObject({ completed: 0, aborted: 1 });
    expect(s.attempts.get(2)).toBe(1);
  });

  it("reports a body's own failure, not the aborts of the parts it cancelled, and aborts", async () => {
    const s = store(() => 'stall');
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= 3) {
          this.destroy(new Error('the source disk went away'));
          return;
        }
        produced++;
        this.push(bytes(1000));
      },
    });
    await expect(
      chunkedUpload(body, s.target, { partSize: 1000, concurrency: 4, limits, what: 'x' }),
    ).rejects.toThrow('the source disk went away');
    expect(s.log).toMatchObject({ completed: 0, aborted: 1 });
  });

  it('gives up on a part after maxAttempts temporary failures', async () => {
    const s = store((part) => (part === 1 ? temporary() : 'ok'));
    await expect(
      chunkedUpload(chunks(bytes(3000)), s.target, {
        partSize: 1000,
        concurrency: 1,
        limits,
        maxAttempts: 2,
        what: 'x',
      }),
    ).rejects.toMatchObject({ code: 'unavailable' });
    expect(s.attempts.get(1)).toBe(2);
    expect(s.log.aborted).toBe(1);
  });

  it('fails a stalled part with timeout within the timeout, and aborts', async () => {
    const s = store((part) => (part === 2 ? 'stall' : 'ok'));
    const started = Date.now();
    await expect(
      chunkedUpload(chunks(bytes(5000)), s.target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        timeoutMs: 300,
        what: 'x',
      }),
    ).rejects.toMatchObject({ code: 'timeout' });
    // Only tells a cut from none (a stalled part never ends): event-loop lag on a loaded CI machine
    // has taken seconds.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(s.log).toMatchObject({ completed: 0, aborted: 1 });
    expect(s.attempts.get(2)).toBe(1);
  });

  it('lets a part slower than the timeout through while its bytes keep moving', async () => {
    const data = bytes(2 * 48 * 256 * 1024);
    // Each chunk of a part takes 50 ms: a part takes well over 800 ms, the timeout. The gap
    // between two chunks (50 ms) is far below the timeout, so a busy machine's event-loop lag of a
    // few hundred ms cannot pass for a stall (a 250 ms timeout against 100 ms chunks failed on CI).
    const s = store(() => 50);
    let beats = 0;
    const started = Date.now();
    await chunkedUpload(chunks(data, 64 * 1024), s.target, {
      partSize: 48 * 256 * 1024,
      concurrency: 1,
      limits,
      timeoutMs: 800,
      what: 'x',
      onActivity: () => beats++,
    });
    // Each of the two parts (one in flight at a time) took longer than the timeout.
    expect(Date.now() - started).toBeGreaterThan(2 * 800);
    expect(s.result()?.equals(data)).toBe(true);
    expect(s.log.created).toBe(1);
    expect(beats).toBeGreaterThanOrEqual(48);
  });

  it("leaves no listener of its own on the caller's signal, after a success and after a failure", async () => {
    const signal = new AbortController().signal;
    for (const size of [500, 5000]) {
      const out = await chunkedUpload(chunks(bytes(size)), store().target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        signal,
        timeoutMs: 5000,
        what: 'x',
      });
      expect(out).toBe(size === 500 ? 'whole' : 'multipart');
    }
    const failing = store((part) => (part === 2 ? new ArtifactsError('permission_denied', 'no') : 'ok'));
    await expect(
      chunkedUpload(chunks(bytes(5000)), failing.target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        signal,
        what: 'x',
      }),
    ).rejects.toThrow('no');
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });

  it('aborts in flight on the caller signal', async () => {
    const controller = new AbortController();
    const s = store(() => 'stall');
    setTimeout(() => controller.abort(), 50);
    await expect(
      chunkedUpload(chunks(bytes(5000)), s.target, {
        partSize: 1000,
        concurrency: 2,
        limits,
        signal: controller.signal,
        what: 'x',
      }),
    ).rejects.toThrow();
    expect(s.log).toMatchObject({ completed: 0, aborted: 1 });
  });
});

describe('choosePartSize', () => {
  it('raises the part size to stay under the part limit and to the minimum', () => {
    const l = { maxParts: 10, minPartSize: 100, maxPartSize: 10_000 };
    expect(choosePartSize(50, undefined, l)).toBe(100);
    expect(choosePartSize(200, 1000, l)).toBe(200);
    expect(choosePartSize(200, 5000, l)).toBe(500);
    expect(() => choosePartSize(200, 200_000, l)).toThrow(/more than 10 parts/);
  });
});
