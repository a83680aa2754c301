import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
import { DELETE_BATCH, deleteTree, forEachLimited } from './delete.js';
import type { DriverEntry, OperationOptions } from './driver.js';
import { withRetry } from './layers/retry.js';
import { ArtifactRepository } from './repository.js';

/** A store with batch deletes, whose listing can be made to stray like a sloppy prefix match. */
class BatchDriver extends MemoryDriver {
  batches: string[][] = [];
  stray = false;

  async deleteMany(keys: readonly string[], _options: OperationOptions): Promise<void> {
    this.batches.push([...keys]);
    for (const key of keys) this.objects.delete(key);
  }

  override async *list(prefix: string, options: { recursive: boolean }): AsyncIterable<DriverEntry> {
    if (this.stray) {
      for (const [key, data] of this.objects)
        if (key.startsWith(prefix)) yield { key, isDir: false, size: data.length };
      return;
    }
    yield* super.list(prefix, options);
  }
}

function fill(driver: MemoryDriver, keys: string[]): void {
  for (const key of keys) driver.objects.set(key, Buffer.from(key));
}

describe('deleteTree', () => {
  it('removes the key and everything under key/, never a sibling sharing the prefix, in batches', async () => {
    const driver = new BatchDriver();
    fill(driver, ['plots', 'plots/a.png', 'plots/deep/b.png', 'plots2/c.png', 'plotsx']);
    driver.stray = true;
    const repo = new ArtifactRepository({
      uri: 'mem://x',
      driver: withRetry(driver),
      maxConcurrency: 4,
      secrets: [],
    });
    await repo.deleteArtifacts('plots');
    expect([...driver.objects.keys()].sort()).toEqual(['plots2/c.png', 'plotsx']);
    expect(driver.batches).toEqual([['plots', 'plots/a.png', 'plots/deep/b.png']]);
    await repo.deleteArtifacts('nothing/here');
    await repo.deleteArtifacts();
    expect([...driver.objects.keys()]).toEqual([]);
  });

  it(`splits a large tree into batches of ${DELETE_BATCH} as it lists`, async () => {
    const driver = new BatchDriver();
    fill(
      driver,
      Array.from({ length: 2 * DELETE_BATCH + 5 }, (_, i) => `run/f${i}`),
    );
    await deleteTree(driver, 'run', {});
    expect(driver.batches.map((batch) => batch.length)).toEqual([DELETE_BATCH, DELETE_BATCH, 6]);
    expect(driver.objects.size).toBe(0);
  });

  it("uses the driver's own delete when it has no deleteMany", async () => {
    const driver = new MemoryDriver();
    fill(driver, ['a/b', 'ab']);
    await deleteTree(driver, 'a', {});
    expect([...driver.objects.keys()]).toEqual(['ab']);
  });
});

describe('forEachLimited', () => {
  it('keeps at most `limit` in flight, runs every item, then rejects with the first failure', async () => {
    let active = 0;
    let peak = 0;
    const done: number[] = [];
    const run = forEachLimited([1, 2, 3, 4, 5, 6], 2, async (n) => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 5));
      active--;
      if (n === 3) throw new Error('three');
      done.push(n);
    });
    await expect(run).rejects.toThrow('three');
    expect(peak).toBe(2);
    expect(done.sort()).toEqual([1, 2, 4, 5, 6]);
  });

  it('with stopAfterFailure starts no item after a failure, lets those in flight settle, then rejects', async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const run = forEachLimited(
      [1, 2, 3, 4, 5, 6],
      2,
      async (n) => {
        started.push(n);
        await new Promise((resolve) => setTimeout(resolve, n === 1 ? 5 : 20));
        settled.push(n);
        if (n === 1) throw new Error('one');
      },
      { stopAfterFailure: true },
    );
    await expect(run).rejects.toThrow('one');
    // 1 fails while 2 is in flight: 3 (next in line) and the rest never start; 2 still settles.
    expect(started).toEqual([1, 2]);
    expect(settled.sort()).toEqual([1, 2]);
  });
});
