import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ArtifactsError,
  type CopySource,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteTree,
  forEachLimited,
  type MultipartCapability,
  mappedCalls,
  type ObjectListRequest,
  ObjectNames,
  ObjectTree,
  type OpenContext,
  type OperationOptions,
  objectStoreCapabilities,
  type PresignCapability,
  parseContentRange,
  parseHttpDate,
  type RangeSource,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import type { Bucket, File, FileMetadata, Storage } from '@google-cloud/storage';
import { checksumOf, header, openRange, parseGoogHash, statusOf } from './client.js';
import { mapGcsError, type Subject } from './errors.js';
import type { GcsConfig } from './settings.js';
import { gcsMultipart, gcsPresign } from './signing.js';

export class GcsDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: GcsConfig;
  readonly #storage: Storage;
  readonly #bucket: Bucket;
  readonly #names: ObjectNames;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  readonly #tree: ObjectTree;

  constructor(
    config: GcsConfig,
    storage: Storage,
    options: {
      anonymous: boolean;
      secrets: readonly string[];
      context?: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
    },
  ) {
    this.#config = config;
    this.#context = options.context ?? {};
    this.#storage = storage;
    this.#bucket = storage.bucket(config.bucket);
    this.#names = new ObjectNames(config.root);
    this.#tree = new ObjectTree(this.#names, (request) => this.#listPage(request));
    this.secrets = options.secrets;
    // Signing needs an identity: a service-account key, or credentials allowed to call signBlob.
    const canSign = !options.anonymous;
    this.capabilities = objectStoreCapabilities(['crc32c'], canSign);
    if (canSign) {
      const target = {
        storage,
        bucket: this.#bucket,
        bucketName: config.bucket,
        xmlBase: config.endpoint ?? 'https://storage.googleapis.com',
        timeoutMs: config.timeoutMs,
        name: (key: string) => this.#names.name(key),
        run: <T>(what: string, key: string, fn: () => Promise<T>) => this.#run(what, key, fn),
      };
      this.presign = gcsPresign(target);
      this.multipart = gcsMultipart(target);
    }
  }

  #subject(what: string, key?: string): Subject {
    return {
      what,
      bucket: this.#config.bucket,
      ...(key === undefined ? {} : { object: this.#names.name(key) }),
    };
  }

  /** A 404 on an object call may mean the bucket is missing: say which. */
  readonly #run = mappedCalls(async (error, what, key) => {
    if (statusOf(error) === 404 && key !== undefined) {
      const exists = await this.#bucket.exists().then(
        ([found]: [boolean]) => found,
        () => true,
      );
      if (!exists) return mapGcsError(error, this.#subject(what), this.secrets);
    }
    return mapGcsError(error, this.#subject(what, key), this.secrets);
  });

  /**
   * Small bodies of known size: one simple upload request. Anything else: a resumable session, whose
   * object appears only when the last chunk is acknowledged. Core's timeout layer bounds each stall;
   * its signal ends the pipeline (and the request) when it fires.
   */
  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const file = this.#bucket.file(this.#names.name(key));
    const resumable = options.size === undefined || options.size > this.#config.resumableThreshold;
    const contentType = options.contentType ?? 'application/octet-stream';
    return this.#run('upload', key, async () => {
      const sink = file.createWriteStream({
        resumable,
        ...(resumable && this.#config.uploadChunkSize ? { chunkSize: this.#config.uploadChunkSize } : {}),
        contentType,
        metadata: { contentType },
        // Core hashes the bytes it streams and compares them with the CRC32C the service reports.
        validation: false,
      });
      // A simple upload's request (teeny-request over node-fetch) ignores its `timeout`: a server that
      // took the (small) body and never answers would hold it forever. Bound that wait by core's timeout.
      const ms = this.#config.timeoutMs;
      let answer: NodeJS.Timeout | undefined;
      if (!resumable && ms !== undefined && ms > 0) {
        body.once('end', () => {
          const error = new ArtifactsError('timeout', `upload of ${file.name}: no answer within ${ms} ms`);
          answer = setTimeout(() => sink.destroy(error), ms);
        });
      }
      try {
        await pipeline(body, sink, ...(options.signal ? [{ signal: options.signal }] : []));
      } finally {
        clearTimeout(answer);
      }
      const checksum = checksumOf(
        (file.metadata ?? {}) as FileMetadata & { crc32c?: string; md5Hash?: string },
      );
      return checksum ? { checksum } : undefined;
    });
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) => this.#rangeSource(key),
    plan: (key) => ({
      partSize: this.#config.downloadChunkSize,
      concurrency: this.#config.downloadConcurrency,
      // Core's attempts per range and core's timeout (the library's own retries are off unless asked).
      context: this.#context,
      what: `reading gs://${this.#config.bucket}/${this.#names.name(key)}`,
    }),
    guard: (key, read) => this.#run('download', key, read),
  });
  readonly read = this.#reads.read;
  /** A download: parallel ranged GETs written at their offsets into `localPath` (core's temporary file). */
  readonly readToFile = this.#reads.readToFile;

  /**
   * One ranged GET for the engine, pinned to the generation the first answer named: an object
   * replaced mid-read is gone at that generation (404) and fails, never mixes. GCS's `x-goog-hash`
   * is the whole object's, even on a ranged answer.
   */
  #rangeSource(key: string): RangeSource {
    const name = this.#names.name(key);
    return {
      readRange: (request) =>
        this.#run('download', key, async () => {
          const range = { ...request, generation: request.pin };
          const { stream, headers } = await openRange(this.#storage, this.#config, name, range).catch(
            (error: unknown) => {
              // A range of an empty object is unsatisfiable: read it whole instead.
              if (statusOf(error) !== 416 || request.start !== 0) throw error;
              return openRange(this.#storage, this.#config, name, { ...range, end: undefined });
            },
          );
          const length = Number(header(headers, 'content-length') ?? Number.NaN);
          const served = parseContentRange(header(headers, 'content-range'));
          const total = served?.total ?? (Number.isFinite(length) ? length : 0);
          const checksum = request.whole
            ? checksumOf(parseGoogHash(header(headers, 'x-goog-hash')))
            : undefined;
          return {
            stream,
            served: served ?? { start: 0, end: total - 1 },
            totalSize: total,
            pin: header(headers, 'x-goog-generation'),
            lastModified: parseHttpDate(header(headers, 'last-modified')),
            ...(checksum ? { checksum } : {}),
            contentType: header(headers, 'content-type'),
          };
        }),
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key, isDir: true };
    void options;
    return this.#run('stat', key, async () => {
      try {
        const [meta] = await this.#bucket.file(this.#names.name(key)).getMetadata();
        const checksum = checksumOf(meta as { crc32c?: string; md5Hash?: string });
        return {
          key,
          isDir: false,
          size: Number(meta.size ?? 0),
          ...(meta.updated ? { lastModified: new Date(meta.updated) } : {}),
          // The version a read pins to (its generation), not GCS's etag: one validator for both.
          ...(meta.generation ? { etag: String(meta.generation) } : {}),
          ...(meta.contentType ? { contentType: meta.contentType } : {}),
          ...(checksum ? { checksum } : {}),
        };
      } catch (error) {
        if ((error as { code?: unknown }).code !== 404) throw error;
      }
      return (await this.#tree.hasChildren(key, 'stat')) ? { key, isDir: true } : undefined;
    });
  }

  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return this.#tree.list(prefix, options);
  }

  /** One page of a listing (core's `ObjectTree`); a zero-length `dir/` the console creates is a folder. */
  async #listPage({ what, prefix, recursive, token, limit }: ObjectListRequest) {
    return this.#run(what, undefined, async () => {
      const [files, next, response] = (await this.#bucket.getFiles({
        ...(prefix ? { prefix } : {}),
        ...(recursive ? {} : { delimiter: '/' }),
        maxResults: limit ?? this.#config.listPageSize,
        autoPaginate: false,
        ...(token ? { pageToken: token } : {}),
      })) as unknown as [
        File[],
        { pageToken?: string } | null | undefined,
        { prefixes?: string[] } | undefined,
      ];
      const objects = files.map((file) => ({ name: file.name, size: Number(file.metadata.size ?? 0) }));
      return { page: { objects, prefixes: response?.prefixes ?? [] }, next: next?.pageToken };
    });
  }

  /** Core lists the tree and hands over batches (`deleteTree`): never a sibling sharing the prefix. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  /** One request per object (GCS has no batch delete in this client), `deleteConcurrency` at once. */
  async deleteMany(keys: readonly string[], _options: OperationOptions): Promise<void> {
    await this.#run('delete', keys[0], () =>
      forEachLimited(keys, this.#config.deleteConcurrency, async (key) => {
        await this.#bucket.file(this.#names.name(key)).delete({ ignoreNotFound: true });
      }),
    );
  }

  /** Buckets behind one endpoint, reached with one identity, copy between them. */
  locate(key: string): CopySource {
    const { endpoint, credentials, keyFilename } = this.#config;
    const identity =
      credentials?.client_email ?? keyFilename ?? process.env.GOOGLE_APPLICATION_CREDENTIALS ?? 'default';
    return {
      scope: `gcs ${endpoint ?? 'https://storage.googleapis.com'} ${identity}`,
      address: `${this.#config.bucket}/${this.#names.name(key)}`,
    };
  }

  /** A rewrite: the SDK's `copy` repeats it with each rewrite token until the store says done. */
  async copy(source: CopySource, toKey: string, _options: OperationOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = this.#storage.bucket(source.address.slice(0, slash)).file(source.address.slice(slash + 1));
    await this.#run('copy', toKey, async () => {
      try {
        await from.copy(this.#bucket.file(this.#names.name(toKey)));
      } catch (error) {
        if (statusOf(error) === 404)
          throw ArtifactsError.notFound(`gs://${source.address}`, { cause: error });
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    // The SDK's HTTP agents hold no resources that need an explicit close.
  }
}
