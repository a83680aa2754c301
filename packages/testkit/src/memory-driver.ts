import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type BackendPlugin,
  type CopySource,
  type DriverCapabilities,
  type DriverEntry,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  type OperationOptions,
  type StorageDriver,
} from '@artifacts/core';

/**
 * An object store in memory: the reference driver the conformance suite runs on in the testkit's
 * own tests, and a store for unit tests of code above the driver (with `withFaults` around it to
 * reach failure paths). Keys are flat, as in an object store; directories are implied by keys.
 */
let instances = 0;

export class MemoryDriver implements StorageDriver {
  readonly objects = new Map<string, Buffer>();
  /** One store per driver: only its own objects can be copied server-side. */
  readonly #scope = `memory:${++instances}`;
  readonly capabilities: DriverCapabilities = {
    rangeRead: true,
    directories: false,
    checksums: [],
    multipartUpload: false,
    presign: false,
    serverSideCopy: true,
  };

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      options.signal?.throwIfAborted();
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    }
    options.signal?.throwIfAborted();
    // Only a body that arrived whole becomes visible.
    this.objects.set(key, Buffer.concat(chunks));
    return undefined;
  }

  async read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    options.signal?.throwIfAborted();
    const data = this.objects.get(key);
    if (!data) throw ArtifactsError.notFound(`object ${JSON.stringify(key)}`);
    const start = Math.min(options.range?.start ?? 0, data.length);
    const end = Math.min(options.range?.end ?? data.length - 1, data.length - 1);
    const slice = data.subarray(start, end + 1);
    const chunks: Buffer[] = [];
    for (let at = 0; at < slice.length; at += 64 * 1024) chunks.push(slice.subarray(at, at + 64 * 1024));
    return { stream: Readable.from(chunks), size: slice.length, totalSize: data.length };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    options.signal?.throwIfAborted();
    const data = this.objects.get(key);
    if (data) return { key, isDir: false, size: data.length };
    for (const k of this.objects.keys())
      if (key === '' || k.startsWith(`${key}/`)) return { key, isDir: true };
    return undefined;
  }

  async *list(
    prefix: string,
    options: { recursive: boolean; signal?: AbortSignal },
  ): AsyncIterable<DriverEntry> {
    const base = prefix === '' ? '' : `${prefix}/`;
    const dirs = new Set<string>();
    for (const [k, v] of [...this.objects]) {
      options.signal?.throwIfAborted();
      if (!k.startsWith(base)) continue;
      const rest = k.slice(base.length);
      if (options.recursive || !rest.includes('/')) yield { key: k, isDir: false, size: v.length };
      else dirs.add(base + rest.slice(0, rest.indexOf('/')));
    }
    for (const d of dirs) yield { key: d, isDir: true };
  }

  async delete(key: string): Promise<void> {
    for (const k of [...this.objects.keys()])
      if (key === '' || k === key || k.startsWith(`${key}/`)) this.objects.delete(k);
  }

  locate(key: string): CopySource {
    return { scope: this.#scope, address: key };
  }

  async copy(source: CopySource, toKey: string): Promise<void> {
    const data = this.objects.get(source.address);
    if (!data) throw ArtifactsError.notFound(`object ${JSON.stringify(source.address)}`);
    this.objects.set(toKey, data);
  }

  async close(): Promise<void> {}
}

/**
 * A plugin serving `scheme://…` URIs from in-memory stores: the same URI opens the same store for the
 * life of the process. Register it with `registerBackend` to run code (or the conformance suite)
 * against memory through `openRepository` and all of core's layers.
 */
export function memoryBackend(scheme = 'memory'): BackendPlugin & { stores: Map<string, MemoryDriver> } {
  const stores = new Map<string, MemoryDriver>();
  return {
    name: '@artifacts/testkit (memory)',
    schemes: [scheme],
    stores,
    open(location) {
      const name = location.uri;
      let store = stores.get(name);
      if (!store) {
        store = new MemoryDriver();
        stores.set(name, store);
      }
      return store;
    },
  };
}
