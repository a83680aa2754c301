/** A bounded concurrency limiter: at most `limit` tasks run at once, the rest wait in order. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Runs `task` for every item through the limiter and waits for all, never rejecting early. */
export async function settleAll<I, T>(
  items: Iterable<I>,
  limiter: Limiter,
  task: (item: I) => Promise<T>,
): Promise<Array<PromiseSettledResult<T>>> {
  return Promise.allSettled([...items].map((item) => limiter.run(() => task(item))));
}
