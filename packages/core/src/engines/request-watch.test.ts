import { getEventListeners } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ArtifactsError } from '../errors.js';
import { createRetrier, defaultRequestRetry } from '../layers/retry.js';
import { bodyOf, runRequest } from './request-watch.js';

const hangUp = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

describe('runRequest', () => {
  it('a request the store never answers is a timeout once the timeout has passed, not one per attempt', async () => {
    let attempts = 0;
    const started = Date.now();
    const error = await runRequest(
      'uploading "k"',
      new AbortController().signal,
      { timeoutMs: 1000, retry: defaultRequestRetry(10, 'write', 'k') },
      async ({ signal, touch }) => {
        attempts++;
        touch(); // the body went out whole
        if (attempts === 1) {
          await sleep(600);
          throw hangUp(); // the connection closed, no answer
        }
        // the answer never comes
        await new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        );
      },
    ).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'timeout'), String(error)).toBe(true);
    expect((error as ArtifactsError).message).toMatch(/uploading "k": no answer from the store/);
    expect(attempts).toBe(2);
    // Attempt 2 is cut once nothing moved for 1000 ms: not before (≈ 1600 ms in all on an idle
    // machine). The upper bound only tells a cut from none: a shared 2-core CI machine's event-loop
    // lag has taken seconds, and a wait that is never cut runs into the test's own timeout anyway.
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(600 + 1000 - 20);
    expect(elapsed).toBeLessThan(10_000);
  });

  it('keeps retrying a store that answers (a 503) past the timeout', async () => {
    let attempts = 0;
    const started = Date.now();
    await expect(
      runRequest(
        'x',
        new AbortController().signal,
        // Back-off without randomness: 200 ms, then 400 ms between the attempts.
        { timeoutMs: 400, retry: createRetrier({ maxAttempts: 3, jitterMs: 0 }).forCall('write', 'x') },
        async () => {
          attempts++;
          // Each answer comes well inside the timeout (a loaded machine's lag must not turn it into
          // a stall); the back-off between attempts takes the call past it.
          await sleep(30);
          throw new ArtifactsError('unavailable', 'busy', { temporary: true, context: { status: 503 } });
        },
      ),
    ).rejects.toThrow('busy');
    expect(attempts).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });
});

describe('runRequest signals', () => {
  it("without a stall timeout a request gets the caller's signal itself; with one, a signal that aborts with the caller's reason; none leaves a listener on the caller's signal", async () => {
    const outer = new AbortController();
    const seen: AbortSignal[] = [];
    await runRequest('x', outer.signal, {}, async ({ signal }) => seen.push(signal));
    await runRequest('x', outer.signal, { timeoutMs: 5000 }, async ({ signal }) => seen.push(signal));
    await runRequest('x', outer.signal, { timeoutMs: 5000 }, async () => {
      throw new ArtifactsError('permission_denied', 'no');
    }).catch(() => undefined);
    expect(seen[0]).toBe(outer.signal);
    expect(seen[1]).not.toBe(outer.signal);
    expect(getEventListeners(outer.signal, 'abort')).toHaveLength(0);
    const reason = new Error('stop');
    const pending = runRequest('x', outer.signal, { timeoutMs: 5000 }, ({ signal }) => {
      setTimeout(() => outer.abort(reason), 10);
      return new Promise((_resolve, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      );
    });
    await expect(pending).rejects.toBe(reason);
  });
});

describe('bodyOf', () => {
  it("gives a reader that waits between chunks views of the part's own bytes, never a copy, in order", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    let touched = 0;
    const views: Uint8Array[] = [];
    for await (const chunk of bodyOf(data, () => touched++)) {
      views.push(chunk as Uint8Array);
      // The socket draining: the stream has time to buffer ahead.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(views.every((view) => view.buffer === data.buffer)).toBe(true);
    expect(Buffer.concat(views).equals(data)).toBe(true);
    expect(touched).toBe(views.length);
  });
});
