import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactsError } from '../errors.js';
import type { RangeRequest, RangeSource } from './ranged-read.js';
import { type RangedReadPlan, rangedReader } from './ranged-reader.js';

function bytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + 5) & 0xff;
  return out;
}

/** Objects in memory answering ranged GETs; `fail(request, attempt)` may throw instead. */
function objects(
  data: Record<string, Buffer>,
  fail?: (request: RangeRequest, attempt: number) => Error | undefined,
) {
  const requests: Array<{ key: string; start: number; end: number }> = [];
  const attempts = new Map<string, number>();
  const source = (key: string): RangeSource => ({
    async readRange(request) {
      requests.push({ key, start: request.start, end: request.end });
      const attempt = (attempts.get(`${key} ${request.start}`) ?? 0) + 1;
      attempts.set(`${key} ${request.start}`, attempt);
      const error = fail?.(request, attempt);
      if (error) throw error;
      const body = data[key];
      if (!body) throw ArtifactsError.notFound(key);
      const end = Math.min(request.end, body.length - 1);
      return {
        stream: Readable.from([body.subarray(request.start, end + 1)]),
        served: { start: request.start, end },
        totalSize: body.length,
        pin: 'v1',
      };
    },
  });
  return { source, requests };
}

const temporary = () => new ArtifactsError('unavailable', 'connection reset', { temporary: true });

async function drain(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

describe('rangedReader', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ranged-reader-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const plan = (what: string, extra: Partial<RangedReadPlan> = {}): RangedReadPlan => ({
    partSize: 1000,
    concurrency: 2,
    context: {},
    what,
    ...extra,
  });

  it('reads a key in the parts its plan names, and a range of it', async () => {
    const data = bytes(3500);
    const store = objects({ a: data });
    const reader = rangedReader({ source: store.source, plan: (key) => plan(`reading ${key}`) });
    const whole = await reader.read('a', {});
    expect((await drain(whole.stream)).equals(data)).toBe(true);
    expect(store.requests.map((r) => [r.start, r.end])).toEqual([
      [0, 999],
      [1000, 1999],
      [2000, 2999],
      [3000, 3499],
    ]);
    const part = await reader.read('a', { range: { start: 1500, end: 1600 } });
    expect((await drain(part.stream)).equals(data.subarray(1500, 1601))).toBe(true);
    expect(part.served).toEqual({ start: 1500, end: 1600 });
  });

  it('writes a key to a file and reports its bytes', async () => {
    const data = bytes(2500);
    const reader = rangedReader({ source: objects({ b: data }).source, plan: (key) => plan(key) });
    const path = join(dir, 'b');
    let counted = 0;
    await reader.readToFile('b', path, { onBytes: (n) => (counted += n) });
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(counted).toBe(2500);
  });

  it("takes its attempts per range from the repository's maxRetries", async () => {
    const data = bytes(3000);
    const failing = (retries: number) =>
      rangedReader({
        // The second range fails twice with a temporary error.
        source: objects({ c: data }, (request, attempt) =>
          request.start === 1000 && attempt <= 2 ? temporary() : undefined,
        ).source,
        plan: (key) => plan(key, { context: { maxRetries: retries } }),
      });
    const gaveUp = await failing(1).read('c', {});
    await expect(drain(gaveUp.stream)).rejects.toThrow(/connection reset/);
    const read = await failing(2).read('c', {});
    expect((await drain(read.stream)).equals(data)).toBe(true);
  });

  it("passes every failure through the driver's guard, with the plan's name in the engine's errors", async () => {
    const seen: string[] = [];
    const reader = rangedReader({
      source: objects({}).source,
      plan: (key) => plan(`reading bucket/${key}`),
      guard: async (key, read) => {
        try {
          return await read();
        } catch (error) {
          seen.push(`${key}: ${(error as Error).message}`);
          throw new ArtifactsError('not_found', `mapped ${key}`);
        }
      },
    });
    await expect(reader.read('gone', {})).rejects.toThrow('mapped gone');
    await expect(reader.readToFile('gone', join(dir, 'gone'), {})).rejects.toThrow('mapped gone');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatch(/^gone: /);
  });

  it('asks the plan when each read starts, so settings set after the spec was built are used', async () => {
    const settings = { partSize: 0 };
    const store = objects({ d: bytes(1200) });
    const reader = rangedReader({
      source: store.source,
      plan: (key) => plan(key, { partSize: settings.partSize, concurrency: 1 }),
    });
    settings.partSize = 600;
    await drain((await reader.read('d', {})).stream);
    expect(store.requests.map((r) => [r.start, r.end])).toEqual([
      [0, 599],
      [600, 1199],
    ]);
  });
});
