import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { dataBytes, dataStream, hashData, hashFile, hashStream, readAll } from './data.js';
import { sampleMemory } from './memory.js';

describe('dataStream', () => {
  it('is deterministic per seed and independent of the chunk size', async () => {
    const a = await readAll(dataStream(100_000, { seed: 's', chunkSize: 1000 }));
    const b = await readAll(dataStream(100_000, { seed: 's', chunkSize: 65_536 }));
    const c = await readAll(dataStream(100_000, { seed: 'other' }));
    expect(a.length).toBe(100_000);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.equals(dataBytes(100_000, { seed: 's' }))).toBe(true);
    expect(new Set(a.subarray(0, 4096)).size).toBeGreaterThan(200);
  });

  it('emits exactly size bytes, including 0', async () => {
    expect((await readAll(dataStream(0))).length).toBe(0);
    expect((await readAll(dataStream(3 * 1024 * 1024 + 5))).length).toBe(3 * 1024 * 1024 + 5);
  });

  it('fails after errorAfter bytes, and reports progress', async () => {
    const seen: number[] = [];
    const stream = dataStream(10_000, { chunkSize: 1000, errorAfter: 2500, onBytes: (n) => seen.push(n) });
    await expect(readAll(stream)).rejects.toThrow(/failed on purpose after 2500 bytes/);
    expect(seen).toEqual([1000, 2000, 2500]);
  });

  it('bytesPerSecond paces by bytes against the clock: a consumer that was late is caught up, not slowed further', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] });
    try {
      // Ten chunks of 10 kB at 100 kB/s: one due every 100 ms, the last at 900 ms.
      const stream = dataStream(100_000, { chunkSize: 10_000, bytesPerSecond: 100_000 });
      const arrivals: number[] = [];
      stream.on('data', () => arrivals.push(performance.now()));
      await vi.advanceTimersByTimeAsync(250);
      // A consumer (or an event loop) 300 ms late.
      stream.pause();
      await vi.advanceTimersByTimeAsync(300);
      stream.resume();
      await vi.advanceTimersByTimeAsync(1000);
      expect(arrivals).toHaveLength(10);
      expect(arrivals.slice(0, 3)).toEqual([0, 100, 200]);
      // The chunks that came due during the pause follow at once; the pace then holds.
      expect(arrivals.filter((t) => t === 550).length).toBeGreaterThanOrEqual(2);
      expect(arrivals.at(-1)).toBe(900);
    } finally {
      vi.useRealTimers();
    }
    expect(() => dataStream(1, { bytesPerSecond: 0 })).toThrow(RangeError);
  });

  it('refuses a negative or fractional size', () => {
    expect(() => dataStream(-1)).toThrow(RangeError);
    expect(() => dataStream(1.5)).toThrow(RangeError);
  });
});

describe('hashing', () => {
  it('hashData, hashStream and hashFile agree with a plain sha256', async () => {
    const bytes = dataBytes(50_000, { seed: 'h' });
    const digest = createHash('sha256').update(bytes).digest('hex');
    expect(await hashData(50_000, { seed: 'h' })).toEqual({ digest, bytes: 50_000 });
    expect(await hashStream(dataStream(50_000, { seed: 'h', chunkSize: 777 }))).toEqual({
      digest,
      bytes: 50_000,
    });
    const dir = await mkdtemp(join(tmpdir(), 'testkit-hash-'));
    try {
      await writeFile(join(dir, 'f'), bytes);
      expect(await hashFile(join(dir, 'f'))).toEqual({ digest, bytes: 50_000 });
      expect((await hashFile(join(dir, 'f'), 'md5')).digest).toBe(
        createHash('md5').update(bytes).digest('hex'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sampleMemory', () => {
  it('sees memory held while sampling', async () => {
    const sampler = sampleMemory(5);
    const held = Buffer.alloc(64 * 1024 * 1024, 1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    const report = sampler.stop();
    expect(held[0]).toBe(1);
    expect(report.growth).toBeGreaterThan(32 * 1024 * 1024);
    expect(report.peakRss).toBe(report.baselineRss + report.growth);
    expect(report.samples).toBeGreaterThan(1);
  });
});
