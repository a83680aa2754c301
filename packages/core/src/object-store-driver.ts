import type { Readable } from 'node:stream';
import { deleteTree } from './delete.js';
import type {
  CopySource,
  DriverCapabilities,
  DriverCopyOptions,
  DriverEntry,
  DriverListOptions,
  DriverReadOptions,
  DriverReadResult,
  DriverStat,
  DriverWriteOptions,
  DriverWriteResult,
  OpenContext,
  OperationOptions,
  ReadToFileOptions,
  StorageDriver,
} from './driver.js';
import type { RangeSource } from './engines/ranged-read.js';
import { type RangedReader, type RangedReadPlan, rangedReader } from './engines/ranged-reader.js';
import { type ListPage, ObjectNames } from './object-store.js';
import { type ObjectListing, type ObjectListRequest, ObjectTree } from './object-tree.js';
import { splitAddress } from './store-driver.js';

/** A copy's source or destination object: its bucket (or container) and its name there. */
export interface ObjectAddress {
  bucket: string;
  name: string;
}

/** What an object-store driver is opened on. */
export interface ObjectStoreInit {
  /** The bucket or container. */
  bucket: string;
  /** The key prefix of the repository root in it ('' = its root; no leading or trailing slash). */
  root: string;
  /** Scrubbed from every message (`StorageDriver.secrets`). */
  secrets: readonly string[];
  /** The repository's timeout and retries, which the ranged reads derive their bounds from. */
  context?: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> | undefined;
  /** A read's part plan: bytes per ranged GET, GETs in flight, and the size below which one answer is not split. */
  reads: Pick<RangedReadPlan, 'partSize' | 'concurrency' | 'parallelThreshold'>;
  /**
   * Equal for two drivers reaching the same store with the same identity, never a secret
   * (`CopySource.scope`): the endpoint or account plus the credential's public id.
   */
  copyScope: string;
  /** The connections `close` lets go of (core's `StoreHttp`, or a store's own request sender). */
  transport: { destroy(): void };
}

/**
 * The part of a driver every object store repeats, written once (object_store's `GetClient` and
 * `ListClient`, OpenDAL's `oio`): from a store's primitives — its ranged GET (`rangeSource`), one
 * listing page (`listPage`), a stat of one object (`statObject`), a batch delete (`deleteObjects`)
 * and its copy (`copyObject`) — it builds `read` and `readToFile` (core's ranged-read engine, pinned
 * to the first answer's version), `list` and a directory's `stat` (`ObjectTree`), `delete` (core's
 * `deleteTree`: never a sibling sharing the prefix), `deleteMany`, `locate`/`copy` and `close`,
 * every call's failure mapped by the store's `mapError`. A store adds `write` and its optional
 * capabilities (multipart, presign).
 */
export abstract class ObjectStoreDriver implements StorageDriver {
  abstract readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  /** Keys under the repository root ↔ object names. */
  protected readonly names: ObjectNames;
  /** The bucket or container. */
  protected readonly bucket: string;
  /** The repository's timeout and retries. */
  protected readonly context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  readonly #init: ObjectStoreInit;
  readonly #tree: ObjectTree;
  readonly #reads: RangedReader;
  #closed = false;

  constructor(init: ObjectStoreInit) {
    this.#init = init;
    this.bucket = init.bucket;
    this.secrets = init.secrets;
    this.context = init.context ?? {};
    this.names = new ObjectNames(init.root);
    this.#tree = new ObjectTree(this.names, (request) =>
      this.run(request.what, request.key, () => this.listPage(request)),
    );
    this.#reads = rangedReader({
      source: (key) => {
        const source = this.rangeSource(key);
        return { readRange: (request) => this.run('download', key, () => source.readRange(request)) };
      },
      plan: (key) => ({ ...init.reads, context: this.context, what: `reading ${this.describe(key)}` }),
      guard: (key, read) => this.run('download', key, read),
    });
  }

  // The store's primitives.

  /**
   * The store's error for a failure of `what` on `key` (undefined: the bucket or a batch). This
   * class names its calls `download`, `stat`, `list`, `delete` and `copy`; it hands over every
   * failure, `ArtifactsError`s included (pass them on).
   */
  protected abstract mapError(
    error: unknown,
    what: string,
    key: string | undefined,
  ): unknown | Promise<unknown>;

  /** How messages name `key`'s object (`s3://bucket/name`). */
  protected abstract describe(key: string): string;

  /** One ranged GET of `key` for the ranged-read engine (its failures mapped as `download`). */
  protected abstract rangeSource(key: string): RangeSource;

  /** One listing page (errors mapped by `mapError` with the request's `what`). */
  protected abstract listPage(request: ObjectListRequest): Promise<ListPage<ObjectListing>>;

  /**
   * The object named by `key` ('' never asked), or undefined when there is none — then `stat` asks
   * whether anything lies under `key/` (a directory).
   */
  protected abstract statObject(
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<DriverStat | undefined>;

  /** Deletes these objects (keys); an object already gone counts as deleted. */
  protected abstract deleteObjects(keys: readonly string[], signal: AbortSignal | undefined): Promise<void>;

  /** Copies the object `from` (of a store in the same copy scope) to `to` of this bucket. */
  protected abstract copyObject(
    from: ObjectAddress,
    to: ObjectAddress,
    options: DriverCopyOptions,
  ): Promise<void>;

  abstract write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined>;

  // What this class builds from them.

  /** `call`, its failure replaced by the store's error (what failed, of which key). */
  protected async run<T>(what: string, key: string | undefined, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw await this.mapError(error, what, key);
    }
  }

  /** Whether anything (a file or a folder marker) lies under `key/`. */
  protected hasChildren(key: string, signal: AbortSignal | undefined): Promise<boolean> {
    return this.#tree.hasChildren(key, 'stat', signal);
  }

  /** A streamed read through core's ranged-read engine (parallel ranges, pinned, retried per range). */
  read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    return this.#reads.read(key, options);
  }

  /** A download: ranged GETs written at their offsets into `localPath` (core's temporary file). */
  readToFile(key: string, localPath: string, options: ReadToFileOptions): Promise<void> {
    return this.#reads.readToFile(key, localPath, options);
  }

  /** The object `key`; else a directory when anything lies under `key/`; else undefined. */
  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key, isDir: true };
    return this.run('stat', key, async () => {
      const object = await this.statObject(key, options.signal);
      if (object) return object;
      return (await this.hasChildren(key, options.signal)) ? { key, isDir: true } : undefined;
    });
  }

  /** Direct children (or, `recursive`, everything below) of `key`, one page request at a time. */
  list(key: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return this.#tree.list(key, options);
  }

  /** The exact key and everything under `key/`, never `keyfoo`: core lists and hands over batches. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  async deleteMany(keys: readonly string[], options: OperationOptions): Promise<void> {
    await this.run('delete', keys.length === 1 ? keys[0] : undefined, () =>
      this.deleteObjects(keys, options.signal),
    );
  }

  locate(key: string): CopySource {
    return { scope: this.#init.copyScope, address: `${this.bucket}/${this.names.name(key)}` };
  }

  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const to = { bucket: this.bucket, name: this.names.name(toKey) };
    await this.run('copy', toKey, () => this.copyObject(splitAddress(source.address), to, options));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#init.transport.destroy();
  }
}
