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
  discardBody,
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
import type { Bucket, File, FileMetadata } from '@google-cloud/storage';
import { checksumOf, type GcsClient, header, openRange, parseGoogHash, statusOf } from './client.js';
import { mapGcsError, type Subject } from './errors.js';
import { LeanGcs } from './lean.js';
import type { GcsConfig } from './settings.js';
import { gcsMultipart, gcsPresign } from './signing.js';
import { type ObjectMeta, resumableUpload, simpleUpload } from './upload.js';

export class GcsDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: GcsConfig;
  readonly #client: GcsClient;
  /** Our own requests for the hot operations (undefined: everything through the library). */
  readonly #lean: LeanGcs | undefined;
  #bucket: Promise<Bucket> | undefined;
  readonly #names: ObjectNames;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  readonly #tree: ObjectTree;

  constructor(
    config: GcsConfig,
    client: GcsClient,
    options: { context?: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> } = {},
  ) {
    this.#config = config;
    this.#context = options.context ?? {};
    this.#client = client;
    this.#lean = client.lean;
    this.#names = new ObjectNames(config.root);
    this.#tree = new ObjectTree(this.#names, (request) => this.#listPage(request));
    this.secrets = client.secrets;
    // Signing needs an identity: a service-account key, or credentials allowed to call signBlob.
    const storage = client.anonymous ? undefined : client.loaded;
    this.capabilities = objectStoreCapabilities(['crc32c'], storage !== undefined);
    if (storage) {
      const target = {
        storage,
        bucket: storage.bucket(config.bucket),
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

  /** The library's handle of the bucket (the library loaded on first use). */
  #libraryBucket(): Promise<Bucket> {
    this.#bucket ??= this.#client.storage().then((storage) => storage.bucket(this.#config.bucket));
    return this.#bucket;
  }

  /** The JSON API path of an object of this bucket. */
  #objectPath(key: string): string {
    return LeanGcs.objectPath(this.#config.bucket, this.#names.name(key));
  }

  /** Whether the bucket exists (true when that cannot be told). */
  async #bucketExists(): Promise<boolean> {
    try {
      if (this.#lean) {
        const path = `/storage/v1/b/${encodeURIComponent(this.#config.bucket)}`;
        await discardBody((await this.#lean.send({ method: 'GET', path })).body);
        return true;
      }
      const [found] = await (await this.#libraryBucket()).exists();
      return found;
    } catch (error) {
      return statusOf(error) !== 404;
    }
  }

  /** A 404 on an object call may mean the bucket is missing: say which. */
  readonly #run = mappedCalls(async (error, what, key) => {
    if (statusOf(error) === 404 && key !== undefined && !(await this.#bucketExists())) {
      return mapGcsError(error, this.#subject(what), this.secrets);
    }
    return mapGcsError(error, this.#subject(what, key), this.secrets);
  });

  /**
   * Small bodies of known size: one simple upload request. Anything else: a resumable session, whose
   * object appears only when the last byte is acknowledged — streamed in one request of ours, or
   * through the library in chunks of `uploadChunkSize` when that is set. Core's timeout layer bounds
   * each stall; its signal ends the request when it fires.
   */
  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const resumable = options.size === undefined || options.size > this.#config.resumableThreshold;
    const contentType = options.contentType ?? 'application/octet-stream';
    const lean = this.#lean;
    if (lean && !(resumable && this.#config.uploadChunkSize)) {
      const target = {
        bucket: this.#config.bucket,
        name: this.#names.name(key),
        contentType,
        size: options.size,
        signal: options.signal,
      };
      return this.#run('upload', key, async () => {
        const meta =
          resumable || options.size === undefined
            ? await resumableUpload(lean, target, body)
            : await simpleUpload(lean, { ...target, size: options.size }, body);
        const checksum = checksumOf(meta);
        return checksum ? { checksum } : undefined;
      });
    }
    return this.#run('upload', key, async () => {
      const file = (await this.#libraryBucket()).file(this.#names.name(key));
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
          const client = this.#client;
          const { stream, headers } = await openRange(client, this.#config, name, range).catch(
            (error: unknown) => {
              // A range of an empty object is unsatisfiable: read it whole instead.
              if (statusOf(error) !== 416 || request.start !== 0) throw error;
              return openRange(client, this.#config, name, { ...range, end: undefined });
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
    return this.#run('stat', key, async () => {
      try {
        const meta = await this.#metadata(key, options.signal);
        const checksum = checksumOf(meta);
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
        if (statusOf(error) !== 404) throw error;
      }
      return (await this.#tree.hasChildren(key, 'stat', options.signal)) ? { key, isDir: true } : undefined;
    });
  }

  /** An object's metadata (JSON API `objects.get`). */
  async #metadata(key: string, signal: AbortSignal | undefined): Promise<ObjectMeta> {
    if (this.#lean)
      return this.#lean.json<ObjectMeta>({ method: 'GET', path: this.#objectPath(key), signal });
    const [meta] = await (await this.#libraryBucket()).file(this.#names.name(key)).getMetadata();
    return meta as ObjectMeta;
  }

  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return this.#tree.list(prefix, options);
  }

  /** One page of a listing (core's `ObjectTree`); a zero-length `dir/` the console creates is a folder. */
  async #listPage({ what, prefix, recursive, token, limit, signal }: ObjectListRequest) {
    return this.#run(what, undefined, async () => {
      const maxResults = limit ?? this.#config.listPageSize;
      if (this.#lean) {
        const page = await this.#lean.json<{
          items?: Array<{ name: string; size?: string }>;
          prefixes?: string[];
          nextPageToken?: string;
        }>({
          method: 'GET',
          path: `/storage/v1/b/${encodeURIComponent(this.#config.bucket)}/o`,
          query: {
            prefix: prefix || undefined,
            delimiter: recursive ? undefined : '/',
            maxResults: String(maxResults),
            pageToken: token,
          },
          signal,
        });
        const objects = (page.items ?? []).map((item) => ({ name: item.name, size: Number(item.size ?? 0) }));
        return { page: { objects, prefixes: page.prefixes ?? [] }, next: page.nextPageToken || undefined };
      }
      const [files, next, response] = (await (
        await this.#libraryBucket()
      ).getFiles({
        ...(prefix ? { prefix } : {}),
        ...(recursive ? {} : { delimiter: '/' }),
        maxResults,
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
  async deleteMany(keys: readonly string[], options: OperationOptions): Promise<void> {
    const lean = this.#lean;
    const bucket = lean ? undefined : await this.#libraryBucket();
    await this.#run('delete', keys[0], () =>
      forEachLimited(keys, this.#config.deleteConcurrency, async (key) => {
        if (!lean) {
          await bucket?.file(this.#names.name(key)).delete({ ignoreNotFound: true });
          return;
        }
        try {
          const path = this.#objectPath(key);
          await discardBody((await lean.send({ method: 'DELETE', path, signal: options.signal })).body);
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
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
    await this.#run('copy', toKey, async () => {
      const storage = await this.#client.storage();
      const from = storage.bucket(source.address.slice(0, slash)).file(source.address.slice(slash + 1));
      try {
        await from.copy((await this.#libraryBucket()).file(this.#names.name(toKey)));
      } catch (error) {
        if (statusOf(error) === 404)
          throw ArtifactsError.notFound(`gs://${source.address}`, { cause: error });
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    // Our keep-alive sockets; the library's HTTP agents hold nothing that needs an explicit close.
    this.#client.close();
  }
}
