import type { Readable } from 'node:stream';
import type { DriverEntry, DriverListOptions, DriverWriteOptions, StorageDriver } from '../driver.js';
import { Limiter } from '../internal/pool.js';
import { wrapDriver } from './wrap.js';

/**
 * The concurrency-limit layer: at most `limit` driver calls in flight at once, the rest wait in
 * order. A call holds its slot until its promise settles (a `write` until the store confirmed it,
 * a `read` until the stream is open; the stream itself then flows outside the limit). Placed inside
 * the retry layer, so a call waiting out a backoff holds no slot.
 */
export function withLimit(driver: StorageDriver, limit: number): StorageDriver {
  const limiter = new Limiter(limit);
  return wrapDriver(driver, {
    stat: (key, o) => limiter.run(() => driver.stat(key, o)),
    read: (key, o) => limiter.run(() => driver.read(key, o)),
    delete: (key, o) => limiter.run(() => driver.delete(key, o)),
    deleteMany: driver.deleteMany && ((keys, o) => limiter.run(() => driver.deleteMany!(keys, o))),
    write: (key: string, body: Readable, o: DriverWriteOptions) =>
      limiter.run(() => driver.write(key, body, o)),
    // A listing is one logical call over many pages: limiting each page could starve it behind
    // transfers it is feeding.
    list: (prefix: string, o: DriverListOptions): AsyncIterable<DriverEntry> => driver.list(prefix, o),
    mkdir: driver.mkdir && ((key, o) => limiter.run(() => driver.mkdir!(key, o))),
    copy: driver.copy && ((from, to, o) => limiter.run(() => driver.copy!(from, to, o))),
    writeFromFile:
      driver.writeFromFile && ((key, path, o) => limiter.run(() => driver.writeFromFile!(key, path, o))),
    readToFile: driver.readToFile && ((key, path, o) => limiter.run(() => driver.readToFile!(key, path, o))),
  });
}
