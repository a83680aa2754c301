import { describe, expect, it } from 'vitest';
import { lazily } from './lazily.js';

describe('lazily', () => {
  it('makes the value once, on first use, and shares it', async () => {
    let made = 0;
    const value = lazily(async () => ++made);
    expect(made).toBe(0);
    const [a, b] = await Promise.all([value(), value()]);
    expect([a, b, await value()]).toEqual([1, 1, 1]);
    expect(made).toBe(1);
  });

  it('a failure is tried again by the next call', async () => {
    let calls = 0;
    const value = lazily(async () => {
      if (++calls === 1) throw new Error('metadata server timed out');
      return 'token';
    });
    await expect(value()).rejects.toThrow('metadata server timed out');
    await expect(value()).resolves.toBe('token');
    expect(calls).toBe(2);
  });

  it('a failure `keep` accepts stays the answer', async () => {
    let calls = 0;
    const value = lazily(
      async () => {
        calls++;
        throw new Error('none found');
      },
      (error) => (error as Error).message === 'none found',
    );
    await expect(value()).rejects.toThrow('none found');
    await expect(value()).rejects.toThrow('none found');
    expect(calls).toBe(1);
  });
});
