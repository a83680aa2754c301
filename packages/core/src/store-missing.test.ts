import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { missingAs, unlessMissing } from './store-missing.js';

const status = (n: number) => Object.assign(new Error(`HTTP ${n}`), { status: n });

describe('unlessMissing', () => {
  it('the answer, undefined for a 404, any other failure passed on', async () => {
    await expect(unlessMissing(Promise.resolve(7))).resolves.toBe(7);
    await expect(unlessMissing(Promise.reject(status(404)))).resolves.toBeUndefined();
    await expect(unlessMissing(Promise.reject(status(403)))).rejects.toThrow('HTTP 403');
  });

  it("a store's own test of missing replaces the 404 one", async () => {
    const noSuchKey = Object.assign(new Error('NoSuchKey'), { Code: 'NoSuchKey' });
    const missing = (e: unknown) => (e as { Code?: string }).Code === 'NoSuchKey';
    await expect(unlessMissing(Promise.reject(noSuchKey), missing)).resolves.toBeUndefined();
    await expect(unlessMissing(Promise.reject(status(404)), missing)).rejects.toThrow('HTTP 404');
  });
});

describe('missingAs', () => {
  it('a 404 is not_found naming the source, with the cause; anything else passes unchanged', async () => {
    const gone = status(404);
    const error = await Promise.reject(gone)
      .catch(missingAs('gs://b/src'))
      .catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'not_found')).toBe(true);
    expect((error as Error).message).toBe('gs://b/src does not exist');
    expect((error as Error).cause).toBe(gone);
    const other = status(500);
    await expect(Promise.reject(other).catch(missingAs('gs://b/src'))).rejects.toBe(other);
  });
});
