import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
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
