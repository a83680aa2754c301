import { rm } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { dataStream, hashData, hashFile, hashStream } from '../data.js';
import { type MemoryReport, sampleMemory } from '../memory.js';
import { type Context, MiB, tempDir } from './context.js';

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

function report(direction: string, size: number, ms: number, memory: MemoryReport): string {
  return (
    `[@artifacts/testkit] ${direction} ${mib(size)} in ${(ms / 1000).toFixed(2)} s ` +
    `(${(size / MiB / (ms / 1000)).toFixed(1)} MiB/s); RSS baseline ${mib(memory.baselineRss)}, ` +
    `peak ${mib(memory.peakRss)}, growth ${mib(memory.growth)} over ${memory.samples} samples`
  );
}

export function largeSuite(ctx: Context): void {
  const size = ctx.largeFileBytes;

  describe('large files', () => {
    it(
      `a ${mib(size)} file streams up and down with memory growth under ${mib(ctx.maxRssGrowthBytes)}`,
      async () => {
        const repo = await ctx.fresh();
        const seed = `large-${size}`;
        const expected = await hashData(size, { seed });

        let started = Date.now();
        let memory = sampleMemory();
        await repo.write('large/blob.bin', dataStream(size, { seed }), { size });
        const up = memory.stop();
        console.info(report('upload (write)', size, Date.now() - started, up));
        expect((await repo.stat('large/blob.bin')).fileSize).toBe(size);

        started = Date.now();
        memory = sampleMemory();
        const read = await hashStream(await repo.openRead('large/blob.bin'));
        const down = memory.stop();
        console.info(report('download (openRead)', size, Date.now() - started, down));
        expect(read).toEqual(expected);

        const dst = await tempDir('large');
        started = Date.now();
        memory = sampleMemory();
        const local = await repo.downloadArtifacts('large/blob.bin', dst);
        const toDisk = memory.stop();
        console.info(report('download (downloadArtifacts)', size, Date.now() - started, toDisk));
        expect(await hashFile(local)).toEqual(expected);
        await rm(local);
        await repo.deleteArtifacts('large/blob.bin');
        expect(await repo.listArtifacts('large')).toEqual([]);

        started = Date.now();
        memory = sampleMemory();
        await repo.write('large/second.bin', dataStream(size, { seed }));
        const upUnknown = memory.stop();
        console.info(report('upload (write, size unknown)', size, Date.now() - started, upUnknown));
        expect((await repo.stat('large/second.bin')).fileSize).toBe(size);

        for (const measured of [up, down, toDisk, upUnknown]) {
          expect(measured.growth).toBeLessThan(ctx.maxRssGrowthBytes);
        }
      },
      ctx.longTimeout,
    );
  });
}
