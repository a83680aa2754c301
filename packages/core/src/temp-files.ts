import { unlinkSync } from 'node:fs';
import { isTempName } from './temp-name.js';

// On globalThis under a Symbol.for key, like the registry: the ESM and CJS copies of core (and the
// backends that import either) share one set, so a process exiting on a signal finds them all.
const KEY = Symbol.for('@artifacts/core/temp-files');

function tracked(): Set<string> {
  const holder = globalThis as unknown as Record<symbol, Set<string> | undefined>;
  let set = holder[KEY];
  if (!set) {
    set = new Set();
    holder[KEY] = set;
  }
  return set;
}

/**
 * Records a local temporary file a transfer is writing (a download's `.part`, a local store's
 * `.artifacts-tmp`) until the returned function is called, so that `removeTempFilesSync` can delete it
 * when the process ends before the transfer does.
 */
export function trackTempFile(path: string): () => void {
  tracked().add(path);
  return () => {
    tracked().delete(path);
  };
}

/**
 * Deletes every tracked temporary file now, synchronously: for a process about to exit on a signal,
 * whose transfers may be stuck in an uncancellable kernel copy. A transfer whose file vanished fails
 * its rename, so nothing partial appears at the final name. Returns the paths removed.
 */
export function removeTempFilesSync(): string[] {
  const removed: string[] = [];
  for (const path of tracked()) {
    try {
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Already renamed into place or removed by the transfer itself.
    }
  }
  tracked().clear();
  return removed;
}

// `.<name>.artifacts-<pid>-<random>.part` (a download in progress, core) and
// `.<name>.<16 hex>.artifacts-tmp` (a write in progress, the local backend); `isTempName` knows the
// shared scheme of the other file protocols.
const TEMP_NAME = /^\..+\.(?:artifacts-\d+-[0-9a-z]+\.part|[0-9a-f]{16}\.artifacts-tmp)$/;

/**
 * Whether a file name is one of @artifacts' temporary names: what a transfer killed outright
 * (`kill -9`) leaves behind. Such files are never uploaded or listed.
 */
export function isTempFileName(name: string): boolean {
  return TEMP_NAME.test(name) || isTempName(name);
}
