import { describe, expect, it } from 'vitest';
import { MAX_PRESIGN_SECONDS, presignSeconds, sortedParts } from './signing.js';

describe('presignSeconds', () => {
  it('defaults to one hour, takes 1 s to 7 days, refuses the rest naming the value', () => {
    expect(presignSeconds(undefined)).toBe(3600);
    expect(presignSeconds(1)).toBe(1);
    expect(presignSeconds(MAX_PRESIGN_SECONDS)).toBe(604_800);
    for (const bad of [0, -5, 1.5, MAX_PRESIGN_SECONDS + 1])
      expect(() => presignSeconds(bad)).toThrow(
        expect.objectContaining({ code: 'invalid_argument', message: expect.stringContaining(String(bad)) }),
      );
  });

  it('without a limit (an Azure service SAS) only asks a positive integer', () => {
    expect(presignSeconds(30 * 24 * 3600, Number.POSITIVE_INFINITY)).toBe(2_592_000);
    expect(() => presignSeconds(0, Number.POSITIVE_INFINITY)).toThrow(/at least 1, got 0/);
  });
});

describe('sortedParts', () => {
  it('orders parts by number and refuses a number given twice', () => {
    const part = (partNumber: number) => ({ partNumber, etag: `e${partNumber}` });
    expect(sortedParts([part(3), part(1), part(2)]).map((p) => p.partNumber)).toEqual([1, 2, 3]);
    expect(() => sortedParts([part(2), part(1), part(2)])).toThrow('each part number may appear only once');
  });
});
