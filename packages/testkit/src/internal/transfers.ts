import { ArtifactsError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { dataBytes, dataStream, hashData, hashStream, readAll } from '../data.js';
import { allFiles, type Context, expectAbsent, expectCode, MiB, readText, rejectionOf } from './context.js';

export function transfersSuite(ctx: Context): void {
  const { timeout } = ctx;

  describe('transfers', () => {
    it(
      'ranged reads return exactly the requested bytes; an end beyond EOF is clamped to the last byte, a start at or past it reads nothing',
      async () => {
        const repo = await ctx.fresh();
        const size = 300_000;
        const data = dataBytes(size, { seed: 'range' });
        await repo.write('range.bin', data);
        const read = async (start: number, end?: number) =>
          readAll(
            await repo.openRead('range.bin', { range: end === undefined ? { start } : { start, end } }),
          );
        expect((await read(0)).equals(data)).toBe(true);
        expect((await read(1000)).equals(data.subarray(1000))).toBe(true);
        expect((await read(10, 99)).equals(data.subarray(10, 100))).toBe(true);
        expect((await read(5, 5)).equals(data.subarray(5, 6))).toBe(true);
        expect((await read(0, 0)).equals(data.subarray(0, 1))).toBe(true);
        expect((await read(size - 1, size - 1)).equals(data.subarray(size - 1))).toBe(true);
        expect((await read(size - 1)).equals(data.subarray(size - 1))).toBe(true);
        expect((await read(131_072, 196_607)).equals(data.subarray(131_072, 196_608))).toBe(true);
        expect((await read(250_000, 10_000_000)).equals(data.subarray(250_000))).toBe(true);
        // A range that starts at or past the end reads nothing, as a file read past its end does.
        expect((await read(size)).length).toBe(0);
        expect((await read(size + 1000, size + 2000)).length).toBe(0);
      },
      timeout,
    );

    it(
      'invalid ranges are refused with invalid_argument',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('range.bin', 'abcdef');
        await expectCode(repo.openRead('range.bin', { range: { start: -1 } }), 'invalid_argument');
        await expectCode(repo.openRead('range.bin', { range: { start: 4, end: 2 } }), 'invalid_argument');
        await expectCode(repo.openRead('range.bin', { range: { start: 1.5 } }), 'invalid_argument');
      },
      timeout,
    );

    it(
      'a write aborted half-way rejects with aborted and leaves nothing at the key',
      async () => {
        const repo = await ctx.fresh();
        const controller = new AbortController();
        const total = 32 * MiB;
        let emitted = 0;
        const body = dataStream(total, {
          seed: 'abort',
          chunkSize: 256 * 1024,
          delayMs: 5,
          onBytes: (n) => {
            emitted = n;
            if (n >= 12 * MiB && !controller.signal.aborted) controller.abort();
          },
        });
        await expectCode(
          repo.write('big/aborted.bin', body, { signal: controller.signal, size: total }),
          'aborted',
        );
        expect(emitted).toBeLessThan(total);
        await expectAbsent(repo, 'big/aborted.bin');
        expect(await allFiles(repo)).toEqual([]);
      },
      timeout,
    );

    it(
      'an aborted write leaves an existing artifact at the key unchanged',
      async () => {
        const repo = await ctx.fresh();
        await repo.write('keep.bin', 'previous content');
        const controller = new AbortController();
        const body = dataStream(16 * MiB, {
          seed: 'abort-over',
          chunkSize: 256 * 1024,
          delayMs: 5,
          onBytes: (n) => {
            if (n >= 6 * MiB && !controller.signal.aborted) controller.abort();
          },
        });
        await expectCode(repo.write('keep.bin', body, { signal: controller.signal }), 'aborted');
        expect(await readText(repo, 'keep.bin')).toBe('previous content');
        expect(await allFiles(repo)).toEqual(['keep.bin']);
      },
      timeout,
    );

    it(
      'a write with an already aborted signal fails with aborted without reading the body',
      async () => {
        const repo = await ctx.fresh();
        let read = 0;
        const body = dataStream(MiB, { onBytes: (n) => (read = n) });
        await expectCode(repo.write('never.bin', body, { signal: AbortSignal.abort() }), 'aborted');
        expect(read).toBe(0);
        await expectAbsent(repo, 'never.bin');
      },
      timeout,
    );

    it(
      'a write slower than timeoutMs but never stalled succeeds (the timeout bounds stalls, not transfers)',
      async () => {
        const repo = await ctx.fresh();
        // Connected first: what is proven is a transfer longer than the timeout, not how fast a
        // busy machine logs in. A chunk every 100 ms against a 2 s bound leaves room for load.
        await repo.write('slow/warm.txt', 'connected');
        const size = 3 * MiB;
        const body = dataStream(size, { seed: 'slow', chunkSize: 64 * 1024, delayMs: 100 });
        const started = Date.now();
        await repo.write('slow/steady.bin', body, { timeoutMs: 2000 });
        expect(Date.now() - started).toBeGreaterThan(4000);
        const stored = await hashStream(await repo.openRead('slow/steady.bin'));
        expect(stored).toEqual(await hashData(size, { seed: 'slow' }));
      },
      timeout,
    );

    it(
      'a write that stalls rejects with timeout within the timeout (plus a few seconds) and leaves nothing',
      async () => {
        const repo = await ctx.fresh();
        const body = dataStream(64 * MiB, { seed: 'stall', chunkSize: 64 * 1024, stallAfter: MiB });
        const started = Date.now();
        await expectCode(repo.write('slow/timed-out.bin', body, { timeoutMs: 1000 }), 'timeout');
        expect(Date.now() - started).toBeLessThan(1000 + 5000);
        await expectAbsent(repo, 'slow/timed-out.bin');
        expect(await allFiles(repo)).toEqual([]);
      },
      timeout,
    );

    it(
      'a write whose source stream fails rejects and leaves nothing (nor changes an existing artifact)',
      async () => {
        const repo = await ctx.fresh();
        const failing = () =>
          dataStream(8 * MiB, { seed: 'fail', chunkSize: 256 * 1024, errorAfter: 3 * MiB });
        const error = await rejectionOf(repo.write('failed/new.bin', failing()));
        expect(ArtifactsError.is(error), String(error)).toBe(true);
        await expectAbsent(repo, 'failed/new.bin');
        await repo.write('failed/existing.bin', 'old');
        await rejectionOf(repo.write('failed/existing.bin', failing()));
        expect(await readText(repo, 'failed/existing.bin')).toBe('old');
        expect(await allFiles(repo)).toEqual(['failed/existing.bin']);
      },
      timeout,
    );

    it(
      '20 concurrent writers to different keys all land intact',
      async () => {
        const repo = await ctx.fresh();
        const writers = Array.from({ length: 20 }, (_, i) => ({
          key: `concurrent/writer-${String(i).padStart(2, '0')}.bin`,
          size: 64 * 1024 + i * 50_000 + 7,
          seed: `writer-${i}`,
        }));
        await Promise.all(
          writers.map((w) => repo.write(w.key, dataStream(w.size, { seed: w.seed, chunkSize: 32 * 1024 }))),
        );
        const listed = await repo.listArtifacts('concurrent');
        expect(listed).toEqual(writers.map((w) => ({ path: w.key, isDir: false, fileSize: w.size })));
        for (const w of writers) {
          const expected = await hashData(w.size, { seed: w.seed });
          expect(await hashStream(await repo.openRead(w.key))).toEqual(expected);
        }
      },
      timeout,
    );

    it(
      'concurrent writers to the same key leave exactly one complete version',
      async () => {
        const repo = await ctx.fresh();
        const versions = Array.from({ length: 5 }, (_, i) => ({
          size: 300_000 + i * 1000,
          seed: `same-${i}`,
        }));
        await Promise.all(
          versions.map((v) =>
            repo.write('same.bin', dataStream(v.size, { seed: v.seed, chunkSize: 16 * 1024 })),
          ),
        );
        const got = await hashStream(await repo.openRead('same.bin'));
        const candidates = await Promise.all(versions.map((v) => hashData(v.size, { seed: v.seed })));
        expect(candidates).toContainEqual(got);
        expect(await allFiles(repo)).toEqual(['same.bin']);
      },
      timeout,
    );
  });
}
