import type { FailedFile } from '../errors.js';
import type { Limiter } from '../internal/pool.js';

/**
 * Runs `task` on every item, at most `limiter.limit` at a time and each through `limiter` (the
 * repository's one pool, shared with its other calls), and returns the failures in item order; it
 * never rejects. The batch holds one promise per worker, not one per item: 5,000 files no longer
 * queue 5,000 closures and promises in the limiter before the first byte moves.
 */
export async function runBatch<I>(
  items: readonly I[],
  limiter: Limiter,
  name: (item: I) => string,
  task: (item: I) => Promise<void>,
): Promise<FailedFile[]> {
  const failed: Array<{ index: number; failure: FailedFile }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      const item = items[index]!;
      try {
        await limiter.run(() => task(item));
      } catch (error) {
        failed.push({ index, failure: { path: name(item), error: error as FailedFile['error'] } });
      }
    }
  };
  const workers: Array<Promise<void>> = [];
  for (let i = Math.min(limiter.limit, items.length); i > 0; i--) workers.push(worker());
  await Promise.all(workers);
  return failed.sort((a, b) => a.index - b.index).map((each) => each.failure);
}
