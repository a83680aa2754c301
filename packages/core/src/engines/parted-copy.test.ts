import { describe, expect, it } from 'vitest';
import { copyInParts } from './parted-copy.js';

const limits = { maxParts: 4, minPartSize: 10, maxPartSize: 100 };

function recorder(fail?: number) {
  const calls: string[] = [];
  let inFlight = 0;
  let peak = 0;
  return {
    calls,
    peak: () => peak,
    target: {
      create: async () => {
        calls.push('create');
      },
      copyPart: async ({ partNumber, start, end }: { partNumber: number; start: number; end: number }) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        calls.push(`part ${partNumber} ${start}-${end}`);
        if (partNumber === fail) throw new Error(`part ${partNumber} failed`);
        return `etag${partNumber}`;
      },
      complete: async (parts: string[]) => {
        calls.push(`complete ${parts.join(',')}`);
      },
      abort: async () => {
        calls.push('abort');
        throw new Error('abort failures are ignored');
      },
    },
  };
}

describe('copyInParts', () => {
  it('copies every byte once in ranges within the limits, parts in order, at most `concurrency` at once', async () => {
    const r = recorder();
    // 25 bytes, 5 preferred: raised to the minimum 10 → 3 parts, the last one short.
    await copyInParts(r.target, { size: 25, partSize: 5, limits, concurrency: 2 });
    expect(r.calls[0]).toBe('create');
    expect(r.calls.slice(1, 4).sort()).toEqual(['part 1 0-9', 'part 2 10-19', 'part 3 20-24']);
    expect(r.calls[4]).toBe('complete etag1,etag2,etag3');
    expect(r.peak()).toBe(2);
  });

  it('raises the part size to stay within maxParts, and refuses before starting when nothing fits', async () => {
    const r = recorder();
    await copyInParts(r.target, { size: 200, partSize: 10, limits, concurrency: 4 });
    expect(r.calls.filter((c) => c.startsWith('part'))).toHaveLength(4);
    const none = recorder();
    await expect(
      copyInParts(none.target, { size: 401, partSize: 10, limits, concurrency: 4 }),
    ).rejects.toThrow(/more than 4 parts/);
    expect(none.calls).toEqual([]);
  });

  it('on a failed part starts no other, lets those in flight settle, aborts once and throws the part’s error', async () => {
    const r = recorder(1);
    await expect(copyInParts(r.target, { size: 40, partSize: 10, limits, concurrency: 2 })).rejects.toThrow(
      'part 1 failed',
    );
    expect(r.calls).toEqual(['create', 'part 1 0-9', 'part 2 10-19', 'abort']);
  });
});
