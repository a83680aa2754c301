import type { OperationOptions, StorageDriver } from './driver.js';
import { Limiter } from './internal/pool.js';

/** Keys handed to one `deleteMany` call (S3's DeleteObjects takes at most 1000). */
export const DELETE_BATCH = 1000;

/**
 * Removes the exact `key` and everything under `key/` — never a sibling that merely shares the
 * prefix (`plots` removes `plots` and `plots/…`, never `plots2`); '' removes the whole root. With a
 * driver's `deleteMany`, core lists the tree and deletes it in batches as it lists (each batch one
 * call through the layers: retried, limited and timed on its own); without one, the driver's own
 * `delete` does it. Deleting nothing is not an error.
 */
export async function deleteTree(
  driver: StorageDriver,
  key: string,
  options: OperationOptions,
): Promise<void> {
  if (!driver.deleteMany) {
    await driver.delete(key, options);
    return;
  }
  const under = key === '' ? '' : `${key}/`;
  let batch: string[] = key === '' ? [] : [key];
  for await (const entry of driver.list(key, { ...options, recursive: true })) {
    // A listing that strays outside `key/` (a store's prefix match) never deletes a sibling.
    if (entry.isDir || !entry.key.startsWith(under)) continue;
    batch.push(entry.key);
    if (batch.length === DELETE_BATCH) {
      await driver.deleteMany(batch, options);
      batch = [];
    }
  }
  if (batch.length > 0) await driver.deleteMany(batch, options);
}

/**
 * Runs `task` for every item with at most `limit` in flight; once all have settled, rejects with
 * the first failure (for stores that delete one object per request).
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const limiter = new Limiter(Math.max(1, limit));
  const results = await Promise.allSettled(items.map((item) => limiter.run(() => task(item))));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}
