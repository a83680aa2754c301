import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ArtifactsError } from '../errors.js';
import { pollUntilDone } from './poll.js';

interface Answer {
  done: boolean;
  bytes: string;
}

/** A store whose operation answers `answers` in turn, each after `delayMs`. */
function store(answers: Answer[], delayMs = 0) {
  let asked = 0;
  return {
    get asked() {
      return asked;
    },
    next: async () => {
      await sleep(delayMs);
      return answers[Math.min(asked++, answers.length - 1)]!;
    },
  };
}

const plan = (s: ReturnType<typeof store>, stallMs: number | undefined, intervalMs = 0) => ({
  first: { done: false, bytes: '0' },
  next: s.next,
  done: (a: Answer) => a.done,
  progress: (a: Answer) => a.bytes,
  stallMs,
  intervalMs,
  stalled: (bytes: string | undefined, ms: number) => `no progress for ${ms} ms at ${bytes} bytes`,
});

describe('pollUntilDone', () => {
  it('an operation longer than the bound that keeps moving is asked about until done', async () => {
    const moving = Array.from({ length: 8 }, (_, i) => ({ done: false, bytes: String((i + 1) * 10) }));
    const s = store([...moving, { done: true, bytes: '100' }], 60);
    const started = Date.now();
    const last = await pollUntilDone(plan(s, 200));
    // Nine answers 60 ms apart: more than twice the bound in all, never a stall of it.
    expect(Date.now() - started).toBeGreaterThan(400);
    expect(last).toEqual({ done: true, bytes: '100' });
    expect(s.asked).toBe(9);
  });

  it('no progress for the bound is a timeout naming the last progress; the requests stop', async () => {
    const s = store([{ done: false, bytes: '42' }], 20);
    const started = Date.now();
    const error = await pollUntilDone(plan(s, 300)).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect((error as Error).message).toBe('no progress for 300 ms at 42 bytes');
    // Bounded by the stall, measured from the last change (the first answer moved 0 → 42).
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(Date.now() - started).toBeLessThan(2000);
    const asked = s.asked;
    await sleep(100);
    expect(s.asked).toBe(asked);
  });

  it('no bound (undefined, 0 or -1): a stalled operation is asked about until it says done', async () => {
    for (const stallMs of [undefined, 0, -1]) {
      const stuck = Array.from({ length: 5 }, () => ({ done: false, bytes: '0' }));
      const s = store([...stuck, { done: true, bytes: '0' }], 30);
      await expect(pollUntilDone(plan(s, stallMs))).resolves.toEqual({ done: true, bytes: '0' });
      expect(s.asked).toBe(6);
    }
  });

  it('waits intervalMs between answers, and a cancellation ends the wait', async () => {
    const s = store([
      { done: false, bytes: '1' },
      { done: true, bytes: '2' },
    ]);
    const started = Date.now();
    await pollUntilDone(plan(s, undefined, 150));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const controller = new AbortController();
    const waiting = pollUntilDone({
      ...plan(store([{ done: false, bytes: '1' }]), undefined, 10_000),
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('a first answer that says done asks nothing more', async () => {
    const s = store([{ done: true, bytes: '1' }]);
    await pollUntilDone({ ...plan(s, 100), first: { done: true, bytes: '5' } });
    expect(s.asked).toBe(0);
  });
});
