import { getEventListeners } from 'node:events';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { DriverCapabilities, DriverReadResult, StorageDriver } from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { withLimit } from './limit.js';
import { backoffDelayMs, parseRetryAfter, type RetryEvent, withRetry } from './retry.js';
import { withTimeout } from './timeout.js';

const capabilities: DriverCapabilities = {
  rangeRead: false,
  directories: false,
  checksums: [],
  multipartUpload: false,
  presign: false,
  serverSideCopy: false,
};

/** A driver whose members the test supplies; the rest throw. */
function fake(members: Partial<StorageDriver>): StorageDriver {
  const missing = () => {
    throw new Error('not used by this test');
  };
  return {
    capabilities,
    write: missing,
    read: missing,
    stat: missing,
    list: missing,
    delete: missing,
    close: async () => undefined,
    ...members,
  };
}

/** Drains a body as a store would, honouring the call's signal. */
async function consume(body: Readable, signal?: AbortSignal): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) {
    signal?.throwIfAborted();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A body that yields `count` chunks, one every `everyMs`, or stops after `stallAfter` of them. */
function trickle(count: number, everyMs: number, stallAfter = Number.POSITIVE_INFINITY): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= count) {
        this.push(null);
        return;
      }
      if (sent >= stallAfter) return;
      sent++;
      setTimeout(() => this.push(Buffer.alloc(10, sent)), everyMs);
    },
  });
}

async function failure(promise: Promise<unknown>): Promise<ArtifactsError> {
  try {
    await promise;
  } catch (error) {
    if (ArtifactsError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('withTimeout', () => {
  it('lets a write slower than the timeout succeed while it keeps moving', async () => {
    let stored: Buffer | undefined;
    const driver = withTimeout(
      fake({
        write: async (_key, body, options) => {
          stored = await consume(body, options.signal);
          return undefined;
        },
      }),
      // A 1 s stall bound against 40 ms gaps: the slack absorbs a loaded machine's event-loop lag,
      // while the whole write (1.6 s) still outlasts the timeout.
      1000,
    );
    const started = Date.now();
    await driver.write('k', trickle(40, 40), {});
    expect(Date.now() - started).toBeGreaterThan(1000);
    expect(stored?.length).toBe(400);
  });

  it('counts the bytes a driver reports sending while the body waits as progress', async () => {
    let beats = 0;
    const driver = withTimeout(
      fake({
        write: async (_key, body, options) => {
          const iterator = body[Symbol.asyncIterator]();
          await iterator.next();
          // Parts in flight at the link's pace while the body waits: no byte taken from it.
          // 1.5 s in all, longer than the 1 s timeout, with a beat every 150 ms.
          for (let i = 0; i < 10; i++) {
            await sleep(150);
            options.signal?.throwIfAborted();
            options.onActivity?.();
            beats++;
          }
          while (!(await iterator.next()).done) options.signal?.throwIfAborted();
          return undefined;
        },
      }),
      1000,
    );
    await driver.write('k', trickle(2, 10), {});
    expect(beats).toBe(10);
  });

  it('fails a stalled write with timeout within the timeout, not at the end of the transfer', async () => {
    const driver = withTimeout(
      fake({
        write: async (_key, body, options) => {
          await consume(body, options.signal);
          return undefined;
        },
      }),
      100,
    );
    // The transfer itself never ends (it stalls): only the 100 ms stall timer can end the write.
    // 'hung' (a resolution, so not a failure) after 5 s: a timer 50 times late, not a loaded
    // machine's lag, which ran a fixed 1.5 s bound close.
    const error = await failure(
      Promise.race([driver.write('k', trickle(12, 20, 3), {}), sleep(5_000).then(() => 'hung')]),
    );
    expect(error.code).toBe('timeout');
    expect(error.temporary).toBe(false);
  });

  it('fails a read stream that stalls, but not one whose consumer is slow', async () => {
    const reader = (stallAfter: number) =>
      withTimeout(
        fake({
          read: async (): Promise<DriverReadResult> => ({ stream: trickle(3, 10, stallAfter) }),
        }),
        // 400 ms against 10 ms gaps: room for a loaded machine's lag; the consumer waits longer.
        400,
      );
    const slowConsumer = (await reader(Number.POSITIVE_INFINITY).read('k', {})).stream;
    let got = 0;
    for await (const chunk of slowConsumer) {
      got += (chunk as Buffer).length;
      await sleep(600);
    }
    expect(got).toBe(30);

    const stalled = (await reader(2).read('k', {})).stream;
    const error = await failure(consume(stalled));
    expect(error.code).toBe('timeout');
  });

  it('fails a stalled read with timeout when the client fails its body with an AbortError at once', async () => {
    // node-fetch (under Google's client) emits its AbortError on the body synchronously on abort.
    const driver = withTimeout(
      fake({
        read: async (_key, options): Promise<DriverReadResult> => {
          const stream = trickle(6, 10, 2);
          options.signal?.addEventListener('abort', () => {
            const error = new Error('The operation was aborted.');
            error.name = 'AbortError';
            stream.emit('error', error);
          });
          return { stream };
        },
      }),
      100,
    );
    const error = await failure(consume((await driver.read('k', {})).stream));
    expect(error.code).toBe('timeout');
  });

  it('bounds a metadata call and leaves -1 unbounded', async () => {
    const slowStat = fake({
      stat: async (_key, options) => {
        await sleep(300, undefined, { signal: options.signal });
        return undefined;
      },
    });
    expect((await failure(withTimeout(slowStat, 50).stat('k', {}))).code).toBe('timeout');
    await expect(withTimeout(slowStat, 50).stat('k', { timeoutMs: -1 })).resolves.toBeUndefined();
  });

  it('bounds metadata calls, reads and listings of a driver that ignores its signal', async () => {
    const never = new Promise<never>(() => undefined);
    const deaf = withTimeout(
      fake({
        stat: () => never,
        read: () => never,
        list: () => ({
          [Symbol.asyncIterator]: () => ({ next: () => never }),
        }),
      }),
      50,
    );
    // The driver never settles: each call ends only by its 50 ms timeout. 10 s for the three leaves
    // a loaded machine's late timers room, yet tells them from a longer default timeout.
    const started = Date.now();
    expect((await failure(deaf.stat('k', {}))).code).toBe('timeout');
    expect((await failure(deaf.read('k', {}))).code).toBe('timeout');
    const listing = (async () => {
      for await (const _ of deaf.list('', { recursive: false })) break;
    })();
    expect((await failure(listing)).code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("follows the caller's abort in every call, and leaves nothing on the caller's signal once it is over", async () => {
    const seen: Array<AbortSignal | undefined> = [];
    const listening = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;
    const caller = new AbortController();
    const driver = withTimeout(
      fake({
        stat: async (_key, options) => {
          seen.push(options.signal);
          // The call's signal follows the caller's through one listener while the call runs.
          expect(listening(caller.signal)).toBe(1);
          return undefined;
        },
        read: async (_key, options) => {
          seen.push(options.signal);
          return { stream: Readable.from([Buffer.from('abc')]) };
        },
        write: async (_key, body, options) => {
          seen.push(options.signal);
          await consume(body);
          return undefined;
        },
        list: (_prefix, options) => {
          seen.push(options.signal);
          return (async function* () {
            yield { key: 'a', isDir: false, size: 1 };
          })();
        },
      }),
      1000,
    );
    const signal = caller.signal;
    await driver.stat('k', { signal });
    const read = await driver.read('k', { signal });
    expect(listening(signal)).toBe(1);
    await consume(read.stream);
    await driver.write('k', Readable.from([Buffer.from('abc')]), { signal });
    for await (const _ of driver.list('', { recursive: false, signal })) expect(listening(signal)).toBe(1);
    expect(seen).toHaveLength(4);
    expect(listening(signal)).toBe(0);

    // While a call runs, the caller's abort reaches it with the caller's reason.
    const blocked = withTimeout(
      fake({
        stat: async (_key, options) => {
          await sleep(5_000, undefined, { signal: options.signal });
          return undefined;
        },
      }),
      10_000,
    );
    const call = blocked.stat('k', { signal });
    caller.abort(new ArtifactsError('aborted', 'stopped by the caller'));
    expect((await failure(call)).message).toBe('stopped by the caller');
  });

  it('keeps optional members absent and present as the driver has them', () => {
    const wrapped = withTimeout(fake({ copy: async () => undefined }), 10);
    expect(typeof wrapped.copy).toBe('function');
    expect(wrapped.mkdir).toBeUndefined();
    expect(wrapped.presign).toBeUndefined();
  });
});

const temporary = () => new ArtifactsError('unavailable', 'busy', { temporary: true });

describe('backoffDelayMs', () => {
  it("full jitter by default; with jitterMs, MLflow's whole step plus jitter; Retry-After and the cap win", () => {
    const half = () => 0.5;
    expect(backoffDelayMs(3, undefined, { baseMs: 100, random: half })).toBe(200);
    expect(backoffDelayMs(3, undefined, { baseMs: 100, jitterMs: 1000, random: half })).toBe(900);
    expect(backoffDelayMs(9, undefined, { baseMs: 100, capMs: 1000, jitterMs: 1000, random: half })).toBe(
      1000,
    );
    const busy = new ArtifactsError('unavailable', 'busy', {
      temporary: true,
      context: { retryAfterMs: 5000 },
    });
    expect(backoffDelayMs(1, busy, { baseMs: 100, jitterMs: 0, random: half })).toBe(5000);
  });
});

describe('withRetry', () => {
  it('retries a temporary failure and reports each retry', async () => {
    let calls = 0;
    const events: RetryEvent[] = [];
    const driver = withRetry(
      fake({
        stat: async (key) => {
          calls++;
          if (calls < 3) throw temporary();
          return { key, isDir: false, size: 1 };
        },
      }),
      { baseDelayMs: 1, onRetry: (event) => events.push(event) },
    );
    expect((await driver.stat('k', {}))?.size).toBe(1);
    expect(calls).toBe(3);
    expect(events.map((event) => [event.operation, event.attempt])).toEqual([
      ['stat', 1],
      ['stat', 2],
    ]);
  });

  it('gives up after maxAttempts and never retries a permanent error', async () => {
    let calls = 0;
    const failing = (error: () => Error) =>
      withRetry(
        fake({
          delete: async () => {
            calls++;
            throw error();
          },
        }),
        { baseDelayMs: 1, maxAttempts: 3 },
      );
    await expect(failing(temporary).delete('k', {})).rejects.toThrow('busy');
    expect(calls).toBe(3);
    calls = 0;
    await expect(failing(() => ArtifactsError.notFound('k')).delete('k', {})).rejects.toThrow();
    expect(calls).toBe(1);
  });

  it('honours Retry-After', async () => {
    let calls = 0;
    const events: RetryEvent[] = [];
    const driver = withRetry(
      fake({
        stat: async () => {
          calls++;
          if (calls === 1)
            throw new ArtifactsError('unavailable', 'slow down', {
              temporary: true,
              context: { retryAfterMs: parseRetryAfter('1') },
            });
          return undefined;
        },
      }),
      { baseDelayMs: 1, onRetry: (event) => events.push(event) },
    );
    const started = Date.now();
    await driver.stat('k', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
    expect(events[0]?.delayMs).toBe(1000);
  });

  it('resends a write body only while the store has not read from it', async () => {
    let calls = 0;
    let stored: Buffer | undefined;
    const driver = withRetry(
      fake({
        write: async (_key, body) => {
          calls++;
          if (calls === 1) throw temporary();
          stored = await consume(body);
          return undefined;
        },
      }),
      { baseDelayMs: 1 },
    );
    await driver.write('k', Readable.from([Buffer.from('hello '), Buffer.from('world')]), {});
    expect(calls).toBe(2);
    expect(stored?.toString()).toBe('hello world');

    calls = 0;
    const readOnce = withRetry(
      fake({
        write: async (_key, body) => {
          calls++;
          for await (const _chunk of body) throw temporary();
          return undefined;
        },
      }),
      { baseDelayMs: 1 },
    );
    await expect(readOnce.write('k', Readable.from([Buffer.from('x')]), {})).rejects.toThrow('busy');
    expect(calls).toBe(1);
  });

  it('stops retrying once the budget is spent', async () => {
    let calls = 0;
    const driver = withRetry(
      fake({
        stat: async () => {
          calls++;
          throw temporary();
        },
      }),
      { baseDelayMs: 1, maxAttempts: 10, budget: 2 },
    );
    await expect(driver.stat('k', {})).rejects.toThrow();
    expect(calls).toBe(3);
  });

  it('a store that never answers is a timeout once the timeout has passed, not a retry per hang-up', async () => {
    // Each attempt ends with the connection closed and no answer (a proxy that held the answer).
    const hangUp = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    let calls = 0;
    const events: RetryEvent[] = [];
    const driver = withRetry(
      withTimeout(
        fake({
          stat: async () => {
            calls++;
            await sleep(600);
            throw hangUp();
          },
        }),
        1000,
      ),
      { baseDelayMs: 1, maxAttempts: 10, timeoutMs: 1000, onRetry: (event) => events.push(event) },
    );
    const started = Date.now();
    const error = await driver.stat('k', {}).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(ArtifactsError.is(error, 'timeout'), String(error)).toBe(true);
    expect((error as ArtifactsError).message).toMatch(/no answer from the store/);
    // Attempt 1 hangs up at 600 ms. Attempt 2 is not held to what is left of the timeout (400 ms):
    // `nextTimeoutMs` gives an unanswered store a fresh try of at least min(timeout, 2 s), 1000 ms
    // here, and it hangs up first, at 1200 ms; the timeout has then passed since attempt 1 began,
    // so there is no third.
    expect(calls).toBe(2);
    expect(events).toHaveLength(1);
    // Without the rule: 10 attempts, 6 s; the attempts counted above prove it without a clock
    // margin a busy machine's timers can overrun. The timeout came no earlier than it should.
    expect((error as ArtifactsError).context).toMatchObject({ timeoutMs: 1000, attempts: 2 });
    expect(elapsed).toBeGreaterThanOrEqual(1000);
  });

  it('a store that answered (a 503) keeps its retries; a refused connection fails fast', async () => {
    let calls = 0;
    const busy = withRetry(
      fake({
        stat: async () => {
          calls++;
          await sleep(60);
          throw new ArtifactsError('unavailable', 'busy', { temporary: true, context: { status: 503 } });
        },
      }),
      { baseDelayMs: 1, maxAttempts: 4, timeoutMs: 100 },
    );
    await expect(busy.stat('k', {})).rejects.toThrow('busy');
    expect(calls).toBe(4);

    calls = 0;
    const refused = withRetry(
      fake({
        stat: async () => {
          calls++;
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
        },
      }),
      { baseDelayMs: 1, maxAttempts: 3, timeoutMs: 10_000 },
    );
    const error = await refused.stat('k', {}).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('ECONNREFUSED');
    expect(calls).toBe(3);
  });

  it('a write the store never answers is a timeout once the timeout has passed', async () => {
    let calls = 0;
    // when the retry layer cut the second attempt, and with what
    let cut: { at: number; reason: unknown } | undefined;
    const driver = withRetry(
      fake({
        write: async (_key, body, o) => {
          calls++;
          if (calls === 1) {
            // the connection closes before a byte was taken: the body is still whole
            await sleep(600);
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          }
          await consume(body);
          // the body went whole, the answer never comes: only the retry layer's cut ends this
          await new Promise((_resolve, reject) => {
            o.signal?.addEventListener(
              'abort',
              () => {
                cut = { at: Date.now(), reason: o.signal?.reason };
                reject(o.signal?.reason);
              },
              { once: true },
            );
          });
          return undefined;
        },
      }),
      { baseDelayMs: 1, timeoutMs: 1200 },
    );
    const started = Date.now();
    const error = await driver
      .write('k', Readable.from([Buffer.from('x')]), { timeoutMs: 1200 })
      .catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'timeout'), String(error)).toBe(true);
    expect(calls).toBe(2);
    // The call ended by the cut's own timeout and nothing else, and not before the timeout had
    // passed since the first attempt began. No upper bound by the clock: on a loaded machine timers
    // fire late, and a write that is never cut never ends (the test's own timeout catches that).
    expect(cut?.reason).toBe(error);
    expect((cut?.at ?? 0) - started).toBeGreaterThanOrEqual(1200);
    expect((error as ArtifactsError).context).toMatchObject({ timeoutMs: 1200, attempts: 2 });
  });

  it('repeats a failed page request of a listing on its own: no entry twice, none lost', async () => {
    const pages = [['a', 'b'], ['c', 'd'], ['e']];
    const requests: number[] = [];
    const driver = withRetry(
      fake({
        async *list(_prefix, o) {
          for (let n = 0; n < pages.length; n++) {
            const request = async () => {
              requests.push(n);
              // page 2 (n = 1) breaks once, as a reset connection would
              if (n === 1 && requests.filter((r) => r === 1).length === 1)
                throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
              return pages[n] as string[];
            };
            const page = o.page ? await o.page(request) : await request();
            for (const key of page) yield { key, isDir: false, size: 1 };
          }
        },
      }),
      { baseDelayMs: 1 },
    );
    const keys: string[] = [];
    for await (const entry of driver.list('', { recursive: true })) keys.push(entry.key);
    expect(keys).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(requests).toEqual([0, 1, 1, 2]);
  });

  it('parses Retry-After dates', () => {
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(parseRetryAfter('Sun, 29 Nov 2026 12:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('withLimit', () => {
  it('keeps at most `limit` calls in flight', async () => {
    let active = 0;
    let peak = 0;
    const driver = withLimit(
      fake({
        stat: async () => {
          active++;
          peak = Math.max(peak, active);
          await sleep(10);
          active--;
          return undefined;
        },
      }),
      3,
    );
    await Promise.all(Array.from({ length: 12 }, (_, i) => driver.stat(`k${i}`, {})));
    expect(peak).toBe(3);
  });
});
