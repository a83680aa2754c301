import { describe, expect, it } from 'vitest';
import { credentialWaitMs, sharedLookup, within } from './credential-wait.js';
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

describe('within, given a signal', () => {
  it("ends the wait with the signal's reason when it aborts first", async () => {
    const controller = new AbortController();
    const waiting = within(new Promise(() => {}), 5_000, () => 'late', controller.signal);
    controller.abort(new Error('caller gave up'));
    await expect(waiting).rejects.toThrow('caller gave up');
    await expect(within(Promise.resolve(1), 5_000, () => 'late', controller.signal)).rejects.toThrow(
      'caller gave up',
    );
  });
});

describe('sharedLookup', () => {
  it('a lookup that never settles is started once across several timed-out calls; once it settles, the next call gets its value', async () => {
    let calls = 0;
    let settle: (value: string) => void = () => {};
    const lookup = sharedLookup(
      () => {
        calls++;
        return new Promise<string>((resolve) => {
          settle = resolve;
        });
      },
      30,
      (s) => `nothing within ${s} s`,
    );
    for (let i = 0; i < 3; i++) {
      const error = await lookup().catch((e: unknown) => e);
      expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    }
    expect(calls).toBe(1);
    settle('credentials');
    await expect(lookup()).resolves.toBe('credentials');
    expect(calls).toBe(1);
    // A value is not kept (credentials expire; the caller's `refreshing` keeps it): the next call asks again.
    const again = lookup().catch(() => undefined);
    expect(calls).toBe(2);
    settle('renewed');
    await expect(again).resolves.toBe('renewed');
  });

  it('concurrent callers wait on one lookup, each within its own signal', async () => {
    let calls = 0;
    let settle: (value: number) => void = () => {};
    const lookup = sharedLookup(
      () => {
        calls++;
        return new Promise<number>((resolve) => {
          settle = resolve;
        });
      },
      5_000,
      () => 'late',
    );
    const controller = new AbortController();
    const aborted = lookup(controller.signal);
    const waiting = lookup();
    controller.abort(new Error('request aborted'));
    await expect(aborted).rejects.toThrow('request aborted');
    settle(7);
    await expect(waiting).resolves.toBe(7);
    expect(calls).toBe(1);
  });

  it('a failure is asked again by the next call', async () => {
    let calls = 0;
    const lookup = sharedLookup(
      async () => {
        if (++calls === 1) throw new Error('token endpoint refused');
        return 'token';
      },
      1_000,
      () => 'late',
    );
    await expect(lookup()).rejects.toThrow('token endpoint refused');
    await expect(lookup()).resolves.toBe('token');
    expect(calls).toBe(2);
  });

  it('a lookup that fails after every wait ran out is asked again by the next call', async () => {
    let calls = 0;
    let fail: (error: Error) => void = () => {};
    const lookup = sharedLookup(
      () => {
        calls++;
        return new Promise<string>((_, reject) => {
          fail = reject;
        });
      },
      30,
      () => 'late',
    );
    await expect(lookup()).rejects.toThrow('late');
    fail(new Error('process exited 1'));
    await new Promise((resolve) => setImmediate(resolve));
    const next = lookup().catch((e: unknown) => e);
    expect(calls).toBe(2);
    await next;
  });
});
