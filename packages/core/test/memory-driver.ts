import { Readable } from 'node:stream';
import type {
  DriverCapabilities,
  DriverEntry,
  DriverReadResult,
  DriverWriteResult,
  StorageDriver,
} from '../src/driver.js';
import { ArtifactsError } from '../src/errors.js';

/**
 * A minimal in-memory object store for core's own unit tests: it exercises the repository's logic
 * (walks, pools, timeouts, checksum checks, hostile listings). Backends are proven against real
 * servers by the conformance suite, never with this.
 */
export class MemoryDriver implements StorageDriver {
  readonly objects = new Map<string, Buffer>();
  capabilities: DriverCapabilities = {
    rangeRead: false,
    directories: false,
    checksums: [],
    multipartUpload: false,
    presign: false,
    serverSideCopy: false,
  };
  secrets: string[] = [];
  /** Hooks to reach failure branches. */
  hooks: {
    beforeWrite?: (key: string) => Promise<void> | void;
    writeResult?: (key: string, data: Buffer) => DriverWriteResult | undefined;
    readResult?: (key: string, data: Buffer) => Partial<DriverReadResult>;
    extraEntries?: DriverEntry[];
  } = {};
  closed = false;

  async write(
    key: string,
    body: Readable,
    options: { signal?: AbortSignal },
  ): Promise<DriverWriteResult | undefined> {
    await this.hooks.beforeWrite?.(key);
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      options.signal?.throwIfAborted();
      chunks.push(chunk as Buffer);
    }
    const data = Buffer.concat(chunks);
    this.objects.set(key, data);
    return this.hooks.writeResult?.(key, data);
  }

  async read(key: string): Promise<DriverReadResult> {
    const data = this.objects.get(key);
    if (!data) throw ArtifactsError.notFound(`object ${key}`);
    return { stream: Readable.from([data]), size: data.length, ...this.hooks.readResult?.(key, data) };
  }

  async stat(key: string) {
    const data = this.objects.get(key);
    if (data) return { key, isDir: false, size: data.length };
    for (const k of this.objects.keys())
      if (key === '' || k.startsWith(`${key}/`)) return { key, isDir: true };
    return undefined;
  }

  async *list(prefix: string, options: { recursive: boolean }): AsyncIterable<DriverEntry> {
    const base = prefix === '' ? '' : `${prefix}/`;
    const dirs = new Set<string>();
    for (const [k, v] of this.objects) {
      if (!k.startsWith(base)) continue;
      const rest = k.slice(base.length);
      if (options.recursive || !rest.includes('/')) yield { key: k, isDir: false, size: v.length };
      else dirs.add(base + rest.slice(0, rest.indexOf('/')));
    }
    for (const d of dirs) yield { key: d, isDir: true };
    yield* this.hooks.extraEntries ?? [];
  }

  async delete(key: string): Promise<void> {
    for (const k of [...this.objects.keys()])
      if (key === '' || k === key || k.startsWith(`${key}/`)) this.objects.delete(k);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
