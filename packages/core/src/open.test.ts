import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
import type { DriverRetryPolicy } from './driver.js';
import { ArtifactsError } from './errors.js';
import type { RetryEvent } from './layers/retry.js';
import { openRepository } from './open.js';
import { registerBackend } from './registry.js';

/** A store whose first write fails with a temporary error before reading a byte of the body. */
class FirstWriteFails extends MemoryDriver {
  writes = 0;
  override async write(key: string, body: Readable, options: { signal?: AbortSignal }) {
    this.writes++;
    if (this.writes === 1) throw new ArtifactsError('unavailable', 'busy', { temporary: true });
    return super.write(key, body, options);
  }
}

describe('openRepository: the layers as composed', () => {
  const opened: FirstWriteFails[] = [];
  registerBackend({
    name: 'first-write-fails',
    schemes: ['firstwritefails'],
    open: () => {
      const driver = new FirstWriteFails();
      opened.push(driver);
      return driver;
    },
  });

  // The timeout layer's view of the body sits on top of the retry layer's: it must not take a byte
  // the store did not ask for, or the retry layer would think the body was read and not retry.
  for (const timeoutMs of [-1, 60_000]) {
    it(`retries a write the store failed before reading the body (timeout ${timeoutMs})`, async () => {
      const events: RetryEvent[] = [];
      const repo = await openRepository('firstwritefails://bucket/root', {
        timeoutMs,
        maxRetries: 2,
        onRetry: (event) => events.push(event),
      });
      const driver = opened.at(-1)!;
      const chunks = [Buffer.from('hello '), Buffer.from('whole '), Buffer.from('body')];
      try {
        await repo.write('a/b.txt', Readable.from(chunks));
      } finally {
        await repo.close();
      }
      expect(driver.writes).toBe(2);
      expect(events.map((event) => [event.operation, event.attempt])).toEqual([['write', 1]]);
      expect([...driver.objects.values()].map((data) => data.toString())).toEqual(['hello whole body']);
    });
  }

  it('does not resend a body the store began reading (timeout set)', async () => {
    const repo = await openRepository('firstwritefails://bucket/root', { timeoutMs: 60_000, maxRetries: 2 });
    const driver = opened.at(-1)!;
    let calls = 0;
    driver.write = async (_key, stream) => {
      calls++;
      for await (const _chunk of stream) throw new ArtifactsError('unavailable', 'busy', { temporary: true });
      return undefined;
    };
    try {
      await expect(
        repo.write('a/b.txt', Readable.from([Buffer.from('first '), Buffer.from('second')])),
      ).rejects.toThrow('busy');
    } finally {
      await repo.close();
    }
    expect(calls).toBe(1);
    expect(driver.objects.size).toBe(0);
  });
});

describe("openRepository: a driver's own retry schedule (retryPolicy)", () => {
  /** A store whose stat always fails with a temporary error, and whose retry schedule is its own. */
  class OwnSchedule extends MemoryDriver {
    stats = 0;
    readonly retryPolicy;
    constructor(policy: DriverRetryPolicy) {
      super();
      this.retryPolicy = policy;
    }
    override async stat(): Promise<undefined> {
      this.stats++;
      throw new ArtifactsError('unavailable', 'busy', { temporary: true });
    }
  }
  let policy: DriverRetryPolicy = {};
  const opened: OwnSchedule[] = [];
  registerBackend({
    name: 'own-schedule',
    schemes: ['ownschedule'],
    open: () => {
      const driver = new OwnSchedule(policy);
      opened.push(driver);
      return driver;
    },
  });

  it('its attempts, waits (whole step plus jitter) and reporter replace the defaults', async () => {
    const own: RetryEvent[] = [];
    const repository: RetryEvent[] = [];
    policy = { maxRetries: 2, baseDelayMs: 20, maxDelayMs: 60, jitterMs: 0, onRetry: (e) => own.push(e) };
    const repo = await openRepository('ownschedule://bucket/root', { onRetry: (e) => repository.push(e) });
    try {
      await expect(repo.stat('a.txt')).rejects.toThrow('busy');
    } finally {
      await repo.close();
    }
    expect(opened.at(-1)!.stats).toBe(3);
    // MLflow's schedule: the whole step each time (20, 40), not a random part of it.
    expect(own.map((e) => e.delayMs)).toEqual([20, 40]);
    expect(repository).toEqual(own);
  });

  it('the repository maxRetries applies when the driver names none', async () => {
    policy = { baseDelayMs: 1, jitterMs: 0 };
    const repo = await openRepository('ownschedule://bucket/root', { maxRetries: 1 });
    try {
      await expect(repo.stat('a.txt')).rejects.toThrow('busy');
    } finally {
      await repo.close();
    }
    expect(opened.at(-1)!.stats).toBe(2);
  });
});

describe("openRepository: the backend's default concurrency", () => {
  const contexts: number[] = [];
  registerBackend({
    name: 'wide-default',
    schemes: ['widedefault'],
    defaultMaxConcurrency: 48,
    open: (_location, _options, context) => {
      contexts.push(context.maxConcurrency);
      return new MemoryDriver();
    },
  });

  /** The repository's own `maxConcurrency`, as each `widest` opened it. */
  const opens: number[] = [];

  /** Files the repository moves at once: the most writes its store ever had in flight. */
  async function widest(options: { maxConcurrency?: number } = {}): Promise<number> {
    const repo = await openRepository('widedefault://bucket/root', options);
    opens.push(repo.maxConcurrency);
    let running = 0;
    let most = 0;
    try {
      await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          repo.write(
            `f${i}.txt`,
            // Counted while the store reads it: inside the repository's slot for this file.
            Readable.from(
              (async function* () {
                running++;
                most = Math.max(most, running);
                await new Promise((resolve) => setTimeout(resolve, 5));
                running--;
                yield Buffer.from('x');
              })(),
            ),
          ),
        ),
      );
    } finally {
      await repo.close();
    }
    return most;
  }

  it('applies when neither the option nor ARTIFACTS_MAX_CONCURRENCY sets one, and yields to both', async () => {
    const saved = process.env.ARTIFACTS_MAX_CONCURRENCY;
    try {
      delete process.env.ARTIFACTS_MAX_CONCURRENCY;
      expect(await widest()).toBe(48);
      expect(contexts.at(-1)).toBe(48);
      expect(await widest({ maxConcurrency: 5 })).toBe(5);
      expect(contexts.at(-1)).toBe(5);
      process.env.ARTIFACTS_MAX_CONCURRENCY = '7';
      expect(await widest()).toBe(7);
      expect(contexts.at(-1)).toBe(7);
      expect(opens).toEqual([48, 5, 7]);
    } finally {
      if (saved === undefined) delete process.env.ARTIFACTS_MAX_CONCURRENCY;
      else process.env.ARTIFACTS_MAX_CONCURRENCY = saved;
    }
  });
});
