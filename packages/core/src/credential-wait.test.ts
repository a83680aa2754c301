import { describe, expect, it } from 'vitest';
import { credentialWaitMs, within } from './credential-wait.js';
import { ArtifactsError } from './errors.js';

describe('credentialWaitMs', () => {
  it("is half the repository's timeout, at least 1 ms, and a minute when nothing is bounded", () => {
    expect(credentialWaitMs(6000)).toBe(3000);
    expect(credentialWaitMs(1)).toBe(1);
    expect(credentialWaitMs(undefined)).toBe(60_000);
    expect(credentialWaitMs(-1)).toBe(60_000);
    expect(credentialWaitMs(0)).toBe(60_000);
  });
});

describe('within', () => {
  it('gives the value, or the failure, of a promise that settles in time', async () => {
    expect(await within(Promise.resolve(7), 1000, () => 'late')).toBe(7);
    await expect(within(Promise.reject(new Error('no')), 1000, () => 'late')).rejects.toThrow('no');
  });

  it('fails a promise that never settles with a timeout error saying what did not answer, after the bound', async () => {
    const started = Date.now();
    const error = (await within(new Promise(() => {}), 50, (s) => `nothing within ${s} s`).catch(
      (e) => e,
    )) as ArtifactsError;
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect(error.message).toBe('nothing within 0.05 s');
    expect(error.context).toEqual({ timeoutMs: 50 });
  });
});
