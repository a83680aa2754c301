import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RELEASE_CHUNK } from './driver.js';
import { PipelinedReadStream, type PositionedReads, writePipelined } from './pipelined-io.js';

/** A file answered out of order (each request after a random few ms), counting requests in flight. */
function fakeFile(content: Buffer = Buffer.alloc(0)) {
  const state = {
    content,
    inflight: 0,
    peak: 0,
    requests: 0,
    batches: 0,
    /** Corks not yet undone. */
    corked: 0,
    closed: 0,
    lost: false,
    /** Fails the request with this number (1-based). */
    failAt: 0,
    /** Answers READs with at most this many bytes. */
    maxAnswer: Number.POSITIVE_INFINITY,
  };
  const answer = async <T>(work: () => T): Promise<T> => {
    const n = ++state.requests;
    state.inflight++;
    state.peak = Math.max(state.peak, state.inflight);
    try {
      await sleep(Math.floor(Math.random() * 4));
      if (n === state.failAt) throw Object.assign(new Error(`request ${n} failed`), { code: 4 });
      return work();
    } finally {
      state.inflight--;
    }
  };
  const file: PositionedReads & {
    writeAt(piece: Buffer, position: number): Promise<unknown>;
  } = {
    writeAt: (piece, position) => {
      const copy = Buffer.from(piece);
      return answer(() => {
        const end = position + copy.length;
        if (end > state.content.length) {
          state.content = Buffer.concat([state.content, Buffer.alloc(end - state.content.length)]);
        }
        copy.copy(state.content, position);
      });
    },
    readAt: (length, position) =>
      answer(() => {
        const n = Math.max(0, Math.min(length, state.maxAnswer, state.content.length - position));
        return Buffer.from(state.content.subarray(position, position + n));
      }),
    socket: {
      cork: () => {
        state.batches++;
        state.corked++;
      },
      uncork: () => {
        state.corked--;
      },
    },
    lost: () => state.lost,
    close: async () => {
      state.closed++;
    },
  };
  return { file, state };
}

async function* chunks(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function readAll(stream: PipelinedReadStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

describe('writePipelined', () => {
  it('writes every byte at its offset, with at most `requests` WRITEs of `chunkSize` in flight', async () => {
    const data = randomBytes(1_000_003);
    const { file, state } = fakeFile();
    const written = await writePipelined(chunks(data, 65_536), { requests: 5, chunkSize: 10_000 }, file);
    expect(written).toBe(data.length);
    expect(state.content.equals(data)).toBe(true);
    expect(state.peak).toBe(5);
    // 15 chunks of 64 KiB in 7 pieces each (6 × 10000 + 5536), the last 16963 bytes in 2.
    expect(state.requests).toBe(15 * 7 + 2);
    expect(state.inflight).toBe(0);
    // Each batch of WRITEs goes out corked; every cork is undone.
    expect(state.batches).toBeGreaterThan(1);
    expect(state.batches).toBeLessThan(state.requests);
    expect(state.corked).toBe(0);
  });

  it('takes strings, and gives each chunk back (RELEASE_CHUNK) once all of it went out', async () => {
    const { file, state } = fakeFile();
    const released: number[] = [];
    async function* body() {
      yield 'hello ';
      for (const i of [1, 2]) {
        const chunk = Buffer.from(`chunk${i} `);
        Object.assign(chunk, { [RELEASE_CHUNK]: () => released.push(i) });
        yield chunk;
      }
    }
    await writePipelined(body(), { requests: 2, chunkSize: 3 }, file);
    expect(state.content.toString()).toBe('hello chunk1 chunk2 ');
    expect(released).toEqual([1, 2]);
  });

  it('fails with the first failure, only after every WRITE in flight settled, reading no further', async () => {
    const { file, state } = fakeFile();
    state.failAt = 3;
    let pulled = 0;
    async function* body() {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield Buffer.alloc(1000, i);
      }
    }
    await expect(writePipelined(body(), { requests: 4, chunkSize: 1000 }, file)).rejects.toThrow(
      'request 3 failed',
    );
    expect(state.inflight).toBe(0);
    expect(pulled).toBeLessThan(10);
  });
});

describe('PipelinedReadStream', () => {
  it('delivers [start, end) in order with at most `requests` READs in flight, then closes the file', async () => {
    const data = randomBytes(500_000);
    const { file, state } = fakeFile(data);
    let broken: boolean | undefined;
    const stream = new PipelinedReadStream(file, {
      start: 1234,
      end: 456_789,
      tuning: { requests: 6, chunkSize: 7000 },
      onClose: (b) => (broken = b),
    });
    expect((await readAll(stream)).equals(data.subarray(1234, 456_789))).toBe(true);
    expect(state.peak).toBe(6);
    await sleep(5);
    expect(state.closed).toBe(1);
    expect(broken).toBe(false);
  });

  it('asks for the rest of a short READ, and ends where the file ended when it shrank', async () => {
    const data = randomBytes(100_000);
    const { file, state } = fakeFile(data);
    state.maxAnswer = 3000;
    const all = new PipelinedReadStream(file, {
      start: 0,
      end: data.length,
      tuning: { requests: 4, chunkSize: 8192 },
      onClose: () => undefined,
    });
    expect((await readAll(all)).equals(data)).toBe(true);

    const shrunk = fakeFile(data.subarray(0, 50_000));
    const short = new PipelinedReadStream(shrunk.file, {
      start: 0,
      end: data.length,
      tuning: { requests: 4, chunkSize: 8192 },
      onClose: () => undefined,
    });
    expect((await readAll(short)).equals(data.subarray(0, 50_000))).toBe(true);
  });

  it('holds back with a consumer that does not read: no more READs than `requests` outstanding', async () => {
    const data = randomBytes(2_000_000);
    const { file, state } = fakeFile(data);
    const stream = new PipelinedReadStream(file, {
      start: 0,
      end: data.length,
      tuning: { requests: 4, chunkSize: 65_536 },
      onClose: () => undefined,
    });
    stream.pause();
    stream.once('readable', () => undefined);
    await sleep(100);
    // The stream's own buffer (1 MiB) and the 4 READs that fill it: nowhere near 2 MB asked.
    expect(state.requests * 65_536).toBeLessThan(1024 * 1024 + 5 * 65_536);
    stream.destroy();
  });

  it("fails with a READ's error; over a lost connection it does not close the file and says broken", async () => {
    const { file, state } = fakeFile(randomBytes(100_000));
    state.failAt = 2;
    state.lost = true;
    let broken: boolean | undefined;
    const stream = new PipelinedReadStream(file, {
      start: 0,
      end: 100_000,
      tuning: { requests: 3, chunkSize: 10_000 },
      onClose: (b) => (broken = b),
    });
    await expect(readAll(stream)).rejects.toThrow('request 2 failed');
    expect(broken).toBe(true);
    expect(state.closed).toBe(0);
  });

  it('stops with the signal, closing the file over a live connection', async () => {
    const { file, state } = fakeFile(randomBytes(1_000_000));
    const controller = new AbortController();
    let broken: boolean | undefined;
    const stream = new PipelinedReadStream(file, {
      start: 0,
      end: 1_000_000,
      tuning: { requests: 2, chunkSize: 1000 },
      signal: controller.signal,
      onClose: (b) => (broken = b),
    });
    const reading = readAll(stream);
    await sleep(5);
    controller.abort(new Error('stop now'));
    await expect(reading).rejects.toThrow('stop now');
    await sleep(5);
    expect(state.closed).toBe(1);
    expect(broken).toBe(false);
  });
});
