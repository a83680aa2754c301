/** A lock directory for installs two processes may run into the same cache directory at once. */
import { readFileSync } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ServerError } from './logs.js';
import { isAlive } from './proc.js';
import { sleep } from './wait.js';

/**
 * Runs `fn` holding an exclusive lock directory `<path>.lock` (for concurrent installs into the same
 * cache dir by two processes). A lock older than `staleMs` whose owner is gone is broken.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, staleMs = 60 * 60_000): Promise<T> {
  const lock = `${path}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  const start = Date.now();
  while (true) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {}
      const age = Date.now() - ((await stat(lock).catch(() => null))?.mtimeMs ?? Date.now());
      if ((owner && !isAlive(owner)) || age > staleMs) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - start > staleMs) throw new ServerError(`timed out waiting for lock ${lock}`);
      await sleep(500);
    }
  }
  const fh = await open(join(lock, 'pid'), 'w');
  await fh.writeFile(String(process.pid));
  await fh.close();
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
