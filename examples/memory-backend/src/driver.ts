import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type DriverCapabilities,
  type DriverEntry,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  type OperationOptions,
  type StorageDriver,
} from '@artifacts/core';

/** Every store the process holds, by name: `mem://<store>/…` URIs opened twice see the same bytes. */
const stores = new Map<string, Map<string, Buffer>>();

/**
 * An in-memory object store. Keys reaching it are already validated and normalized by core ('' is
 * the root; no leading or trailing slash, no `..`); it only maps them under its root prefix.
 */
export class MemoryDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities = {
    rangeRead: true, // read() honours options.range itself
    directories: false, // directories exist only as key prefixes, as in S3
    checksums: [],
    multipartUpload: false,
    presign: false,
    serverSideCopy: false,
  };
  readonly #objects: Map<string, Buffer>;
  readonly #root: string;

  constructor(store: string, root: string) {
    let objects = stores.get(store);
    if (!objects) {
      objects = new Map();
      stores.set(store, objects);
    }
    this.#objects = objects;
    this.#root = root;
  }

  #full(key: string): string {
    return this.#root === '' ? key : key === '' ? this.#root : `${this.#root}/${key}`;
  }

  #relative(full: string): string {
    return this.#root === '' ? full : full.slice(this.#root.length + 1);
  }

  /** All or nothing: the bytes become visible only once the whole stream has been read. */
  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      options.signal?.throwIfAborted();
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
    options.signal?.throwIfAborted();
    this.#objects.set(this.#full(key), Buffer.concat(chunks));
    return undefined;
  }

  async read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    const data = this.#objects.get(this.#full(key));
    // A missing key, and a "directory" (a prefix), are not_found.
    if (!data) throw ArtifactsError.notFound(key);
    if (!options.range) return { stream: Readable.from([data]), size: data.length, totalSize: data.length };
    // `end` is inclusive, and one beyond the end is clamped to the last byte, as HTTP ranges are.
    const end = Math.min(options.range.end ?? data.length - 1, data.length - 1);
    const slice = data.subarray(options.range.start, end + 1);
    return { stream: Readable.from([slice]), size: slice.length, totalSize: data.length };
  }

  async stat(key: string, _options: OperationOptions): Promise<DriverStat | undefined> {
    const full = this.#full(key);
    const data = this.#objects.get(full);
    if (data) return { key, isDir: false, size: data.length };
    const prefix = full === '' ? '' : `${full}/`;
    for (const k of this.#objects.keys()) if (k.startsWith(prefix)) return { key, isDir: true };
    return undefined;
  }

  async *list(prefix: string, options: { recursive: boolean }): AsyncIterable<DriverEntry> {
    const full = this.#full(prefix);
    const base = full === '' ? '' : `${full}/`;
    const directories = new Set<string>();
    for (const [k, data] of this.#objects) {
      if (!k.startsWith(base)) continue;
      const rest = k.slice(base.length);
      const slash = rest.indexOf('/');
      if (options.recursive || slash === -1)
        yield { key: this.#relative(k), isDir: false, size: data.length };
      else directories.add(this.#relative(base + rest.slice(0, slash)));
    }
    for (const key of directories) yield { key, isDir: true };
  }

  /** `key` and everything under `key/`, never a sibling that only shares the prefix (`foo` vs `foobar`). */
  async delete(key: string): Promise<void> {
    const full = this.#full(key);
    for (const k of [...this.#objects.keys()]) {
      if (full === '' || k === full || k.startsWith(`${full}/`)) this.#objects.delete(k);
    }
  }

  async close(): Promise<void> {}
}
