import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ArtifactsError,
  answerHeader,
  type CopySource,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteEach,
  deleteTree,
  httpStatusOf,
  type MultipartCapability,
  mappedCalls,
  type ObjectListRequest,
  ObjectNames,
  ObjectTree,
  type OpenContext,
  type OperationOptions,
  objectStoreCapabilities,
  type PresignCapability,
  type RangeSource,
  rangedReader,
  type StorageDriver,
  type StoreHttp,
  splitAddress,
  storeRange,
} from '@artifacts/core';
import type { FileMetadata } from '@google-cloud/storage';
import { mapGcsError, type Subject } from './errors.js';
import { checksumOf, type GcsClient, GOOGLE_ENDPOINT, objectPath, parseGoogHash } from './lean.js';
import type { GcsConfig } from './settings.js';
import { gcsMultipart, gcsPresign } from './signing.js';
import { type ObjectMeta, resumableUpload, simpleUpload } from './upload.js';

/**
 * The GCS driver: our own JSON API requests (core's `StoreHttp`) plugged into core's engines —
 * ranged reads, listings (`ObjectTree`), prefix deletes — plus simple and resumable uploads,
 * rewrites for server-side copy, and the client library for signing and chunked uploads.
 */
export class GcsDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: GcsConfig;
  readonly #client: GcsClient;
  readonly #http: StoreHttp;
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
    this.#http = client.http;
    this.#names = new ObjectNames(config.root);
    this.#tree = new ObjectTree(this.#names, (request) => this.#listPage(request));
    this.secrets = client.secrets;
    // Signing needs an identity: a service-account key, or credentials allowed to call signBlob.
    const storage = client.anonymous ? undefined : client.loaded;
    this.capabilities = objectStoreCapabilities(['crc32c'], storage !== undefined);
    if (storage) {
      const target = {
        bucket: storage.bucket(config.bucket),
        http: this.#http,
        name: (key: string) => this.#names.name(key),
        run: <T>(what: string, key: string, fn: () => Promise<T>) => this.#run(what, key, fn),
      };
      this.presign = gcsPresign(target);
      this.multipart = gcsMultipart(target);
    }
  }

  #subject(what: string, key?: string): Subject {
    const object = key === undefined ? {} : { object: this.#names.name(key) };
    return { what, bucket: this.#config.bucket, ...object };
  }

  /** The JSON API path of an object of this bucket. */
  #path(key: string): string {
    return objectPath(this.#config.bucket, this.#names.name(key));
  }

  /** Whether the bucket exists (true when that cannot be told). */
  async #bucketExists(): Promise<boolean> {
    try {
      await this.#http.drain({
        method: 'GET',
        path: `/storage/v1/b/${encodeURIComponent(this.#config.bucket)}`,
      });
      return true;
    } catch (error) {
      return httpStatusOf(error) !== 404;
    }
  }

  /** A 404 on an object call may mean the bucket is missing: say which. */
  readonly #run = mappedCalls(async (error, what, key) => {
    if (httpStatusOf(error) === 404 && key !== undefined && !(await this.#bucketExists())) {
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
    const { size, signal } = options;
    const resumable = size === undefined || size > this.#config.resumableThreshold;
    const contentType = options.contentType ?? 'application/octet-stream';
    const name = this.#names.name(key);
    return this.#run('upload', key, async () => {
      let meta: ObjectMeta;
      if (resumable && this.#config.uploadChunkSize) {
        const file = (await this.#client.storage()).bucket(this.#config.bucket).file(name);
        const sink = file.createWriteStream({
          chunkSize: this.#config.uploadChunkSize,
          contentType,
          metadata: { contentType },
          // Core hashes the bytes it streams and compares them with the CRC32C the service reports.
          validation: false,
        });
        await pipeline(body, sink, ...(signal ? [{ signal }] : []));
        meta = (file.metadata ?? {}) as FileMetadata & ObjectMeta;
      } else {
        const target = { bucket: this.#config.bucket, name, contentType, size, signal };
        meta =
          resumable || size === undefined
            ? await resumableUpload(this.#http, target, body)
            : await simpleUpload(this.#http, { ...target, size }, body);
      }
      const checksum = checksumOf(meta);
      return checksum ? { checksum } : undefined;
    });
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) => this.#rangeSource(key),
    plan: (key) => ({
      partSize: this.#config.downloadChunkSize,
      concurrency: this.#config.downloadConcurrency,
      context: this.#context,
      what: `reading gs://${this.#config.bucket}/${this.#names.name(key)}`,
    }),
    guard: (key, read) => this.#run('download', key, read),
  });
  readonly read = this.#reads.read;
  /** A download: parallel ranged GETs written at their offsets into `localPath` (core's temporary file). */
  readonly readToFile = this.#reads.readToFile;

  /**
   * One ranged media GET for the engine, pinned to the generation the first answer named: an object
   * replaced mid-read is gone at that generation (404) and fails, never mixes. GCS's `x-goog-hash`
   * is the whole object's, even on a ranged answer. The engine bounds the wait and each stall (a
   * part it has not read yet may rest longer than the store's stall bound).
   */
  #rangeSource(key: string): RangeSource {
    return {
      readRange: (request) =>
        this.#run('download', key, async () => {
          const { answer, response } = await storeRange(
            request,
            (range) =>
              this.#http.send({
                method: 'GET',
                path: this.#path(key),
                query: [
                  ['alt', 'media'],
                  ['generation', request.pin],
                ],
                headers: range ? { range } : {},
                signal: request.signal,
                stallMs: 0,
              }),
            { pinHeader: 'x-goog-generation' },
          );
          const checksum = request.whole
            ? checksumOf(parseGoogHash(answerHeader(answer, 'x-goog-hash')))
            : undefined;
          return { ...response, ...(checksum ? { checksum } : {}) };
        }),
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key, isDir: true };
    return this.#run('stat', key, async () => {
      try {
        const meta = await this.#http.json<ObjectMeta>({
          method: 'GET',
          path: this.#path(key),
          signal: options.signal,
        });
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
        if (httpStatusOf(error) !== 404) throw error;
      }
      return (await this.#tree.hasChildren(key, 'stat', options.signal)) ? { key, isDir: true } : undefined;
    });
  }

  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return this.#tree.list(prefix, options);
  }

  /** One page of a listing (core's `ObjectTree`); a zero-length `dir/` the console creates is a folder. */
  async #listPage({ what, prefix, recursive, token, limit, signal }: ObjectListRequest) {
    return this.#run(what, undefined, async () => {
      const page = await this.#http.json<{
        items?: Array<{ name: string; size?: string }>;
        prefixes?: string[];
        nextPageToken?: string;
      }>({
        method: 'GET',
        path: objectPath(this.#config.bucket),
        query: [
          ['prefix', prefix || undefined],
          ['delimiter', recursive ? undefined : '/'],
          ['maxResults', String(limit ?? this.#config.listPageSize)],
          ['pageToken', token],
        ],
        signal,
      });
      const objects = (page.items ?? []).map((item) => ({ name: item.name, size: Number(item.size ?? 0) }));
      return { page: { objects, prefixes: page.prefixes ?? [] }, next: page.nextPageToken || undefined };
    });
  }

  /** Core lists the tree and hands over batches (`deleteTree`): never a sibling sharing the prefix. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  /** One request per object (GCS's JSON API has no batch delete of ours), `deleteConcurrency` at once. */
  async deleteMany(keys: readonly string[], options: OperationOptions): Promise<void> {
    await this.#run('delete', keys[0], () =>
      deleteEach(
        keys,
        this.#config.deleteConcurrency,
        (key) => this.#http.drain({ method: 'DELETE', path: this.#path(key), signal: options.signal }),
        (error) => httpStatusOf(error) === 404,
      ),
    );
  }

  /** Buckets behind one endpoint, reached with one identity, copy between them. */
  locate(key: string): CopySource {
    const { endpoint, credentials, keyFilename } = this.#config;
    const identity =
      credentials?.client_email ?? keyFilename ?? process.env.GOOGLE_APPLICATION_CREDENTIALS ?? 'default';
    return {
      scope: `gcs ${endpoint ?? GOOGLE_ENDPOINT} ${identity}`,
      address: `${this.#config.bucket}/${this.#names.name(key)}`,
    };
  }

  /** A rewrite (`objects.rewrite`), repeated with each rewrite token until the store says done. */
  async copy(source: CopySource, toKey: string, options: OperationOptions): Promise<void> {
    const { bucket, name } = splitAddress(source.address);
    const from = objectPath(bucket, name);
    const path = `${from}/rewriteTo${this.#path(toKey).slice('/storage/v1'.length)}`;
    await this.#run('copy', toKey, async () => {
      let token: string | undefined;
      do {
        let answer: { done?: boolean; rewriteToken?: string };
        try {
          answer = await this.#http.json({
            method: 'POST',
            path,
            query: [['rewriteToken', token]],
            headers: { 'content-type': 'application/json', 'content-length': '2' },
            body: Buffer.from('{}'),
            signal: options.signal,
          });
        } catch (error) {
          if (httpStatusOf(error) === 404)
            throw ArtifactsError.notFound(`gs://${source.address}`, { cause: error });
          throw error;
        }
        token = answer.done ? undefined : answer.rewriteToken;
      } while (token);
    });
  }

  async close(): Promise<void> {
    // Our keep-alive sockets; the library's HTTP agents hold nothing that needs an explicit close.
    this.#http.destroy();
  }
}
