import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ArtifactsError,
  answerHeader,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteEach,
  httpStatusOf,
  type MultipartCapability,
  missingAs,
  type ObjectAddress,
  type ObjectListRequest,
  ObjectStoreDriver,
  type OpenContext,
  objectStoreCapabilities,
  type PresignCapability,
  pollUntilDone,
  type RangeSource,
  type StoreHttp,
  storeRange,
  unlessMissing,
} from '@artifacts/core';
import type { FileMetadata } from '@google-cloud/storage';
import { mapGcsError, type Subject } from './errors.js';
import { checksumOf, type GcsClient, GOOGLE_ENDPOINT, objectPath, parseGoogHash } from './lean.js';
import type { GcsConfig } from './settings.js';
import { gcsMultipart, gcsPresign } from './signing.js';
import { type ObjectMeta, resumableUpload, simpleUpload } from './upload.js';

/**
 * The GCS driver: our own JSON API requests (core's `StoreHttp`) as the primitives of core's
 * `ObjectStoreDriver` (ranged reads, listings, stat, prefix deletes, rewrites for copy), plus simple
 * and resumable uploads, and the client library for signing and chunked uploads.
 */
export class GcsDriver extends ObjectStoreDriver {
  readonly capabilities: DriverCapabilities;
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: GcsConfig;
  readonly #client: GcsClient;
  readonly #http: StoreHttp;

  constructor(
    config: GcsConfig,
    client: GcsClient,
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    const { endpoint, credentials, keyFilename } = config;
    const identity =
      credentials?.client_email ?? keyFilename ?? process.env.GOOGLE_APPLICATION_CREDENTIALS ?? 'default';
    super({
      bucket: config.bucket,
      root: config.root,
      secrets: client.secrets,
      context,
      reads: { partSize: config.downloadChunkSize, concurrency: config.downloadConcurrency },
      // Buckets behind one endpoint, reached with one identity, copy between them.
      copyScope: `gcs ${endpoint ?? GOOGLE_ENDPOINT} ${identity}`,
      // Our keep-alive sockets; the library's HTTP agents hold nothing that needs an explicit close.
      transport: client.http,
    });
    this.#config = config;
    this.#client = client;
    this.#http = client.http;
    // Signing needs an identity: a service-account key, or credentials allowed to call signBlob —
    // offered unless anonymous by configuration; credentials ADC does not find fail at first use.
    this.capabilities = objectStoreCapabilities(['crc32c'], !client.anonymous);
    if (!client.anonymous) {
      const target = {
        bucketName: config.bucket,
        file: async (key: string) => {
          const storage = await client.credentials();
          if (!storage) {
            throw new ArtifactsError(
              'unauthenticated',
              'no Google credentials found (Application Default Credentials): signed URLs and multipart uploads need a service account key or credentials allowed to sign; set GOOGLE_APPLICATION_CREDENTIALS or pass keyFilename or credentials',
            );
          }
          return storage.bucket(config.bucket).file(this.names.name(key));
        },
        http: this.#http,
        name: (key: string) => this.names.name(key),
        run: <T>(what: string, key: string, fn: () => Promise<T>) => this.run(what, key, fn),
      };
      this.presign = gcsPresign(target);
      this.multipart = gcsMultipart(target);
    }
  }

  #subject(what: string, key?: string): Subject {
    const object = key === undefined ? {} : { object: this.names.name(key) };
    return { what, bucket: this.#config.bucket, ...object };
  }

  /** The JSON API path of an object of this bucket. */
  #path(key: string): string {
    return objectPath(this.#config.bucket, this.names.name(key));
  }

  /** Whether the bucket exists (true when that cannot be told). */
  #bucketExists(): Promise<boolean> {
    const path = `/storage/v1/b/${encodeURIComponent(this.#config.bucket)}`;
    return this.#http.drain({ method: 'GET', path }).then(
      () => true,
      (error: unknown) => httpStatusOf(error) !== 404,
    );
  }

  /** A 404 may mean the bucket is missing: say which. */
  protected async mapError(error: unknown, what: string, key: string | undefined): Promise<unknown> {
    if (httpStatusOf(error) === 404 && key !== undefined && !(await this.#bucketExists())) {
      return mapGcsError(error, this.#subject(what), this.secrets);
    }
    return mapGcsError(error, this.#subject(what, key), this.secrets);
  }

  protected describe(key: string): string {
    return `gs://${this.#config.bucket}/${this.names.name(key)}`;
  }

  /**
   * Small bodies of known size: one simple upload request. Anything else: a resumable session, whose
   * object appears only when the last byte is acknowledged — streamed in one request of ours, or
   * through the library in chunks of `uploadChunkSize` when that is set. Core's timeout layer bounds
   * each stall; its signal ends the request when it fires.
   */
  write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult | undefined> {
    const { size, signal } = options;
    const resumable = size === undefined || size > this.#config.resumableThreshold;
    const contentType = options.contentType ?? 'application/octet-stream';
    const name = this.names.name(key);
    return this.run('upload', key, async () => {
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

  /**
   * One ranged media GET for the engine, pinned to the generation the first answer named: an object
   * replaced mid-read is gone at that generation (404) and fails, never mixes. GCS's `x-goog-hash`
   * is the whole object's, even on a ranged answer. The engine bounds the wait and each stall (a
   * part it has not read yet may rest longer than the store's stall bound).
   */
  protected rangeSource(key: string): RangeSource {
    const path = this.#path(key);
    return {
      readRange: async (request) => {
        const query: [string, string | undefined][] = [
          ['alt', 'media'],
          ['generation', request.pin],
        ];
        const get = (range: string | undefined) =>
          this.#http.send({
            method: 'GET',
            path,
            query,
            headers: range ? { range } : {},
            signal: request.signal,
            stallMs: 0,
          });
        const { answer, response } = await storeRange(request, get, { pinHeader: 'x-goog-generation' });
        const checksum = request.whole
          ? checksumOf(parseGoogHash(answerHeader(answer, 'x-goog-hash')))
          : undefined;
        return { ...response, ...(checksum ? { checksum } : {}) };
      },
    };
  }

  /** The object's metadata (JSON API); a 404 is no object. */
  protected async statObject(key: string, signal: AbortSignal | undefined): Promise<DriverStat | undefined> {
    const meta = await unlessMissing(
      this.#http.json<ObjectMeta>({ method: 'GET', path: this.#path(key), signal }),
    );
    if (!meta) return undefined;
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
  }

  /** One page of a listing; a zero-length `dir/` the console creates is a folder. */
  protected async listPage({ prefix, recursive, token, limit, signal }: ObjectListRequest) {
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
  }

  /** One request per object (GCS's JSON API has no batch delete of ours), `deleteConcurrency` at once. */
  protected deleteObjects(keys: readonly string[], signal: AbortSignal | undefined): Promise<void> {
    const remove = (key: string) => this.#http.drain({ method: 'DELETE', path: this.#path(key), signal });
    return deleteEach(keys, this.#config.deleteConcurrency, remove, (error) => httpStatusOf(error) === 404);
  }

  /**
   * A rewrite (`objects.rewrite`), continued at once with each rewrite token (each call copies a
   * bounded amount before it answers) until the store says done, and given up (`timeout`) when the
   * bytes it reports rewritten stay the same for `timeoutMs` (the repository's; `-1`, `0` or unset:
   * none). An unfinished rewrite leaves no object behind.
   */
  protected async copyObject(
    from: ObjectAddress,
    to: ObjectAddress,
    options: DriverCopyOptions,
  ): Promise<void> {
    const uri = `gs://${from.bucket}/${from.name}`;
    const source = objectPath(from.bucket, from.name);
    const path = `${source}/rewriteTo${objectPath(to.bucket, to.name).slice('/storage/v1'.length)}`;
    const rewrite = (token?: string) =>
      this.#http
        .json<{ done?: boolean; rewriteToken?: string; totalBytesRewritten?: string }>({
          method: 'POST',
          path,
          query: [['rewriteToken', token]],
          headers: { 'content-type': 'application/json' },
          body: Buffer.from('{}'),
          signal: options.signal,
        })
        .catch(missingAs(uri));
    await pollUntilDone({
      first: await rewrite(),
      next: (answer) => rewrite(answer.rewriteToken),
      done: (answer) => answer.done === true || !answer.rewriteToken,
      progress: (answer) => answer.totalBytesRewritten,
      stallMs: options.timeoutMs ?? this.context.timeoutMs,
      signal: options.signal,
      stalled: (bytes, ms) =>
        `copying ${JSON.stringify(uri)}: the store's rewrite made no progress for ${ms} ms (at ${bytes ?? 'an unreported number of'} bytes)`,
    });
  }
}
