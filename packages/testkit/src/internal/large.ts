import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { type Readable, Transform } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dataStream, type HashResult, hashFile, hashStream } from '../data.js';
import { type MemoryReport, sampleMemory } from '../memory.js';
import { type Context, MiB, tempDir } from './context.js';

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

function report(direction: string, size: number, ms: number, memory: MemoryReport): string {
  return (
    `[@artifacts/testkit] ${direction} ${mib(size)} in ${(ms / 1000).toFixed(2)} s ` +
    `(${(size / MiB / (ms / 1000)).toFixed(1)} MiB/s); RSS baseline ${mib(memory.baselineRss)}, ` +
    `peak ${mib(memory.peakRss)}, growth ${mib(memory.growth)} over ${memory.samples} samples; ` +
    `ArrayBuffers ${mib(memory.baselineArrayBuffers)} then ${mib(memory.peakArrayBuffers)} at the peak`
  );
}

/** Passes a stream through, hashing it on the way. */
function hashing(source: Readable): { stream: Readable; result: () => HashResult } {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  source.once('error', (error) => stream.destroy(error));
  source.pipe(stream);
  return {
    stream,
    result: () => {
      digest ??= hash.digest('hex');
      return { digest, bytes };
    },
  };
}

export function largeSuite(ctx: Context): void {
  const size = ctx.largeFileBytes;

  describe('large files', () => {
    it(
      `a ${mib(size)} file streams up and down with memory growth under ${mib(ctx.maxRssGrowthBytes)}`,
      async () => {
        const repo = await ctx.fresh();
        const seed = `large-${size}`;

        // The expected digest is taken from the bytes as they are sent: a separate pass over the
        // data before the upload would inflate the RSS baseline with its garbage.
        let started = Date.now();
        let memory = sampleMemory();
        const sent = hashing(dataStream(size, { seed }));
        await repo.write('large/blob.bin', sent.stream, { size });
        const up = memory.stop();
        const expected = sent.result();
        expect(expected.bytes).toBe(size);
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
