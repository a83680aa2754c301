import { describe, expect, it } from 'vitest';
import { ArtifactsError } from '../errors.js';
import { Limiter } from '../internal/pool.js';
import { runBatch } from './batch.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('runBatch', () => {
  it('runs every item once, at most the pool at a time, and returns the failures in item order', async () => {
    const limiter = new Limiter(3);
    const items = Array.from({ length: 40 }, (_, i) => i);
    const done: number[] = [];
    let active = 0;
    let peak = 0;
    const failures = await runBatch(
      items,
      limiter,
      (i) => `file-${i}`,
      async (i) => {
        active++;
        peak = Math.max(peak, active);
        // Later items finish first: the failures must still come back in item order.
        await new Promise((resolve) => setTimeout(resolve, (40 - i) % 7));
        active--;
        done.push(i);
        if (i % 9 === 4) throw new ArtifactsError('unavailable', `no ${i}`);
      },
    );
    expect(done.sort((a, b) => a - b)).toEqual(items);
    expect(peak).toBe(3);
    expect(failures.map((f) => f.path)).toEqual(['file-4', 'file-13', 'file-22', 'file-31']);
    expect(failures.map((f) => f.error.message)).toEqual(['no 4', 'no 13', 'no 22', 'no 31']);
  });

  it('shares the pool with whatever else runs through it', async () => {
    const limiter = new Limiter(4);
    let active = 0;
    let peak = 0;
    const task = async () => {
      active++;
      peak = Math.max(peak, active);
      await tick();
      active--;
    };
    const [a, b] = await Promise.all([
      runBatch([...Array(20).keys()], limiter, String, task),
      runBatch([...Array(20).keys()], limiter, String, task),
    ]);
    expect([a, b]).toEqual([[], []]);
    expect(peak).toBe(4);
  });

  it('does nothing for no items', async () => {
    expect(await runBatch([], new Limiter(2), String, async () => undefined)).toEqual([]);
  });
});
