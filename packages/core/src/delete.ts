import type { OperationOptions, StorageDriver } from './driver.js';
import { Limiter } from './internal/pool.js';

/** Keys handed to one `deleteMany` call (S3's DeleteObjects takes at most 1000). */
export const DELETE_BATCH = 1000;

/**
 * Removes the exact `key` and everything under `key/` — never a sibling that merely shares the
 * prefix (`plots` removes `plots` and `plots/…`, never `plots2`); '' removes the whole root. With a
 * driver's `deleteMany`, core lists the tree and deletes it in batches as it lists (each batch one
 * call through the layers: retried, limited and timed on its own); without one, the driver's own
 * `delete` does it. Folder-marker objects under `key/` (`DriverEntry.marker`) go after the files,
 * deepest first. Deleting nothing is not an error.
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
  const markers: string[] = [];
  for await (const entry of driver.list(key, { ...options, recursive: true, markers: true })) {
    // A listing that strays outside `key/` (a store's prefix match) never deletes a sibling.
    if (entry.isDir || !entry.key.startsWith(under)) continue;
    if (entry.marker) {
      markers.push(entry.key);
      continue;
    }
    batch.push(entry.key);
    if (batch.length === DELETE_BATCH) {
      await driver.deleteMany(batch, options);
      batch = [];
    }
  }
  if (batch.length > 0) await driver.deleteMany(batch, options);
  // Folder markers last, the deepest first: a store with real directories removes only empty ones.
  const depth = (marker: string) => marker.replace(/\/+$/, '').split('/').length;
  markers.sort((a, b) => depth(b) - depth(a));
  for (let i = 0; i < markers.length; ) {
    let end = i + 1;
    while (end < markers.length && end - i < DELETE_BATCH && depth(markers[end]!) === depth(markers[i]!))
      end++;
    await driver.deleteMany(markers.slice(i, end), options);
    i = end;
  }
}

/**
 * Runs `task` for every item with at most `limit` in flight; once all have settled, rejects with
 * the first failure (for stores that delete one object per request). With `stopAfterFailure`, no
 * item starts once one has failed (those in flight still settle): for parts of one transfer, which
 * is aborted anyway, so that none is sent for nothing or lands after the abort.
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
  options: { stopAfterFailure?: boolean } = {},
): Promise<void> {
  const limiter = new Limiter(Math.max(1, limit));
  let stopped = false;
  const run = async (item: T) => {
    if (stopped) return;
    try {
      await task(item);
    } catch (error) {
      if (options.stopAfterFailure) stopped = true;
      throw error;
    }
  };
  const results = await Promise.allSettled(items.map((item) => limiter.run(() => run(item))));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}
