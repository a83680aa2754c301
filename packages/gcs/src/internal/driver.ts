import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ArtifactsError,
  type Checksum,
  type CompletedPart,
  type CopySource,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteTree,
  forEachLimited,
  guessContentType,
  type MultipartCapability,
  type MultipartUpload,
  type OpenContext,
  type OperationOptions,
  type PresignCapability,
  type RangeSource,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import type { Bucket, File, FileMetadata, Storage } from '@google-cloud/storage';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import type { GcsConfig } from './config.js';
import { mapGcsError, type Subject } from './errors.js';

/** Signed URLs default to one hour, as MLflow's do; V4 signing allows at most 7 days. */
const DEFAULT_EXPIRY_SECONDS = 3600;
const MAX_EXPIRY_SECONDS = 7 * 24 * 3600;

type HeaderBag = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: HeaderBag | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Parses `x-goog-hash: crc32c=…,md5=…`. */
export function parseGoogHash(value: string | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  for (const part of (value ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    const digest = part.slice(eq + 1).trim();
    if (name === 'crc32c') out.crc32c = digest;
    else if (name === 'md5') out.md5 = digest;
  }
  return out;
}

/** The checksum GCS reports for an object: CRC32C (every object has one), else MD5. */
export function checksumOf(meta: { crc32c?: string; md5Hash?: string; md5?: string }): Checksum | undefined {
  if (meta.crc32c) return { algorithm: 'crc32c', value: meta.crc32c };
  const md5 = meta.md5Hash ?? meta.md5;
  return md5 ? { algorithm: 'md5', value: md5 } : undefined;
}

function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown } } | null;
  for (const value of [e?.response?.status, e?.status, e?.code]) if (typeof value === 'number') return value;
  return undefined;
}

function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = /\/(\d+)\s*$/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

/** Percent-encodes an object name for a path-style XML API URL, keeping its slashes. */
export function encodeObjectPath(name: string): string {
  return name
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

/**
 * A V4 signed URL for one object, by the client library's signer (path style on the client's
 * endpoint). Extra `queryParams` (an XML-API part's partNumber and uploadId) are signed with it.
 */
export async function signObjectUrl(
  file: File,
  action: 'read' | 'write',
  expiresInSeconds: number,
  contentType?: string,
  queryParams?: Record<string, string>,
): Promise<string> {
  const [url] = await file.getSignedUrl({
    version: 'v4',
    action,
    expires: Date.now() + expiresInSeconds * 1000,
    ...(contentType ? { contentType } : {}),
    ...(queryParams ? { queryParams } : {}),
  });
  return url;
}

export class GcsDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: GcsConfig;
  readonly #storage: Storage;
  readonly #bucket: Bucket;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  /** Base URL of the XML API (path style): the same host as the JSON API. */
  readonly #xmlBase: string;

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
    this.#xmlBase = config.endpoint ?? 'https://storage.googleapis.com';
    this.secrets = options.secrets;
    // Signing needs an identity: a service-account key, or credentials allowed to call signBlob.
    const canSign = !options.anonymous;
    this.capabilities = {
      rangeRead: true,
      directories: false,
      checksums: ['crc32c'],
      multipartUpload: canSign,
      presign: canSign,
      serverSideCopy: true,
    };
    if (canSign) {
      this.presign = {
        getUrl: (key, o) => this.#signedUrl(key, 'read', o?.expiresInSeconds),
        putUrl: (key, o) => this.#signedUrl(key, 'write', o?.expiresInSeconds, o?.contentType),
      };
      this.multipart = {
        create: (key, o) => this.#createMultipart(key, o),
        complete: (key, uploadId, parts, o) => this.#completeMultipart(key, uploadId, parts, o),
        abort: (key, uploadId, o) => this.#abortMultipart(key, uploadId, o),
      };
    }
  }

  #name(key: string): string {
    const root = this.#config.root;
    if (key === '') return root;
    return root === '' ? key : `${root}/${key}`;
  }

  #dirPrefix(key: string): string {
    const name = this.#name(key);
    return name === '' ? '' : `${name}/`;
  }

  #relative(name: string): string {
    const root = this.#config.root;
    return root === '' ? name : name.slice(root.length + 1);
  }

  #subject(what: string, key?: string): Subject {
    return { what, bucket: this.#config.bucket, ...(key === undefined ? {} : { object: this.#name(key) }) };
  }

  async #run<T>(what: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      // A 404 on an object call may mean the bucket is missing: say which.
      if (statusOf(error) === 404 && key !== undefined) {
        const exists = await this.#bucket.exists().then(
          ([found]: [boolean]) => found,
          () => true,
        );
        if (!exists) throw mapGcsError(error, this.#subject(what), this.secrets);
      }
      throw mapGcsError(error, this.#subject(what, key), this.secrets);
    }
  }

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const file = this.#bucket.file(this.#name(key));
    // Small bodies of known size: one simple upload request. Anything else: a resumable session, whose
    // object appears only when the last chunk is acknowledged.
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
        ...(this.#config.requestTimeoutMs === undefined ? {} : { timeout: this.#config.requestTimeoutMs }),
      });
      // A simple upload's request (teeny-request over node-fetch 3 in the client library) ignores its
      // `timeout`: a server that took the body and never answers would hold the upload forever. Once
      // the (small) body has been handed over, bound the wait for the answer here.
      const timeoutMs = this.#config.requestTimeoutMs;
      let answerTimer: NodeJS.Timeout | undefined;
      if (!resumable && timeoutMs !== undefined && timeoutMs > 0) {
        body.once('end', () => {
          answerTimer = setTimeout(
            () =>
              sink.destroy(
                new ArtifactsError(
                  'timeout',
                  `upload of ${this.#name(key)}: no answer within ${timeoutMs} ms`,
                  {
                    context: { timeoutMs },
                  },
                ),
              ),
            timeoutMs,
          );
        });
      }
      try {
        await pipeline(body, sink, ...(options.signal ? [{ signal: options.signal }] : []));
      } finally {
        clearTimeout(answerTimer);
      }
      const checksum = checksumOf(
        (file.metadata ?? {}) as FileMetadata & { crc32c?: string; md5Hash?: string },
      );
      return checksum ? { checksum } : undefined;
    });
  }

  /**
   * Opens a ranged GET of the object's media through the auth client (gaxios: credentials, retries)
   * and resolves once the response headers are in. The client library's own read stream is not used:
   * on Node 24 every read through it warns of leaked listeners, and it hides the status and headers
   * this needs (Content-Range, x-goog-hash, x-goog-generation).
   */
  async #openRange(
    name: string,
    start: number,
    end: number | undefined,
    signal?: AbortSignal,
    generation?: string,
  ): Promise<{ stream: Readable; headers: HeaderBag | undefined }> {
    const query = new URLSearchParams({ alt: 'media', ...(generation ? { generation } : {}) });
    const url = `${this.#storage.baseUrl}/b/${encodeURIComponent(this.#config.bucket)}/o/${encodeURIComponent(name)}?${query}`;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    // The timeout bounds the wait for the response, not the body: a large chunk on a slow link must
    // not be cut off (MLflow's Python client times out reads between bytes, not whole transfers).
    const timeoutMs = this.#config.requestTimeoutMs;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new DOMException(`no response within ${timeoutMs} ms`, 'TimeoutError')),
            timeoutMs,
          );
    try {
      const response = await this.#storage.authClient.request<Readable>({
        url,
        method: 'GET',
        responseType: 'stream',
        headers: start === 0 && end === undefined ? {} : { Range: `bytes=${start}-${end ?? ''}` },
        signal: controller.signal,
        retryConfig: { retry: this.#config.maxRetries, httpMethodsToRetry: ['GET'] },
      });
      const stream = response.data;
      // Later aborts (the caller's signal) must still end the body.
      stream.once('close', () => signal?.removeEventListener('abort', onAbort));
      return { stream, headers: response.headers as HeaderBag };
    } catch (error) {
      signal?.removeEventListener('abort', onAbort);
      throw error;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) => this.#rangeSource(key),
    plan: (key) => ({
      partSize: this.#config.downloadChunkSize,
      concurrency: this.#config.downloadConcurrency,
      // Core's attempts per range (the library's own `maxRetries` is 0 unless the user asks); the
      // stall bound when a read names none is this backend's request timeout.
      context: { maxRetries: this.#context.maxRetries, timeoutMs: this.#config.requestTimeoutMs },
      what: `reading gs://${this.#config.bucket}/${this.#name(key)}`,
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
    const name = this.#name(key);
    return {
      readRange: (request) =>
        this.#run('download', key, async () => {
          let opened: { stream: Readable; headers: HeaderBag | undefined };
          try {
            opened = await this.#openRange(name, request.start, request.end, request.signal, request.pin);
          } catch (error) {
            // A range of an empty object is unsatisfiable: read it whole instead.
            if (statusOf(error) === 416 && request.start === 0)
              opened = await this.#openRange(name, 0, undefined, request.signal, request.pin);
            else throw error;
          }
          const { stream, headers } = opened;
          const contentRange = header(headers, 'content-range');
          const length = Number(header(headers, 'content-length') ?? Number.NaN);
          const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
          const total = totalFromContentRange(contentRange) ?? (Number.isFinite(length) ? length : 0);
          const checksum = request.whole
            ? checksumOf(parseGoogHash(header(headers, 'x-goog-hash')))
            : undefined;
          return {
            stream,
            served: range ? { start: Number(range[1]), end: Number(range[2]) } : { start: 0, end: total - 1 },
            totalSize: total,
            pin: header(headers, 'x-goog-generation'),
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
        const [meta] = await this.#bucket.file(this.#name(key)).getMetadata();
        const checksum = checksumOf(meta as { crc32c?: string; md5Hash?: string });
        return {
          key,
          isDir: false,
          size: Number(meta.size ?? 0),
          ...(meta.updated ? { lastModified: new Date(meta.updated) } : {}),
          ...(meta.etag ? { etag: meta.etag } : {}),
          ...(meta.contentType ? { contentType: meta.contentType } : {}),
          ...(checksum ? { checksum } : {}),
        };
      } catch (error) {
        if ((error as { code?: unknown }).code !== 404) throw error;
      }
      const [files] = await this.#bucket.getFiles({
        prefix: this.#dirPrefix(key),
        maxResults: 1,
        autoPaginate: false,
      });
      return files.length > 0 ? { key, isDir: true } : undefined;
    });
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const listPrefix = this.#dirPrefix(prefix);
    let pageToken: string | undefined;
    const seenDirs = new Set<string>();
    const subject = this.#subject('list');
    do {
      const token = pageToken;
      const request = async (): Promise<unknown> => {
        try {
          options.signal?.throwIfAborted();
          return await this.#bucket.getFiles({
            ...(listPrefix ? { prefix: listPrefix } : {}),
            ...(options.recursive ? {} : { delimiter: '/' }),
            maxResults: this.#config.listPageSize,
            autoPaginate: false,
            ...(token ? { pageToken: token } : {}),
          });
        } catch (error) {
          throw mapGcsError(error, subject, this.secrets);
        }
      };
      // core repeats a page request that failed with a temporary error (a reset on page 2)
      const page = await (options.page ? options.page(request) : request());
      const [files, nextQuery, response] = page as unknown as [
        File[],
        { pageToken?: string } | null | undefined,
        { prefixes?: string[] } | undefined,
      ];
      for (const dir of response?.prefixes ?? []) {
        const key = this.#relative(dir).replace(/\/+$/, '');
        // fake-gcs-server repeats every prefix on every page; GCS does not. Yield each once.
        if (key === '' || seenDirs.has(key)) continue;
        seenDirs.add(key);
        yield { key, isDir: true };
      }
      for (const file of files) {
        const key = this.#relative(file.name);
        // A zero-length "folder" placeholder ending in '/' (the console creates them) is not a file.
        if (key === '' || key.endsWith('/')) continue;
        yield { key, isDir: false, size: Number(file.metadata.size ?? 0) };
      }
      pageToken = nextQuery?.pageToken;
    } while (pageToken);
  }

  /** Core lists the tree and hands over batches (`deleteTree`): never a sibling sharing the prefix. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  /** One request per object (GCS has no batch delete in this client), `deleteConcurrency` at once. */
  async deleteMany(keys: readonly string[], _options: OperationOptions): Promise<void> {
    await this.#run('delete', keys[0], () =>
      forEachLimited(keys, this.#config.deleteConcurrency, async (key) => {
        await this.#bucket.file(this.#name(key)).delete({ ignoreNotFound: true });
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
      address: `${this.#config.bucket}/${this.#name(key)}`,
    };
  }

  /** A rewrite: the SDK's `copy` repeats it with each rewrite token until the store says done. */
  async copy(source: CopySource, toKey: string, _options: OperationOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = this.#storage.bucket(source.address.slice(0, slash)).file(source.address.slice(slash + 1));
    await this.#run('copy', toKey, async () => {
      try {
        await from.copy(this.#bucket.file(this.#name(toKey)));
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

  // --- V4 signed URLs and XML-API multipart uploads ---------------------------------------------

  async #signedUrl(
    key: string,
    action: 'read' | 'write',
    expiresInSeconds = DEFAULT_EXPIRY_SECONDS,
    contentType?: string,
    queryParams?: Record<string, string>,
  ): Promise<string> {
    if (
      !Number.isInteger(expiresInSeconds) ||
      expiresInSeconds < 1 ||
      expiresInSeconds > MAX_EXPIRY_SECONDS
    ) {
      throw ArtifactsError.invalidArgument(
        `expiresInSeconds must be an integer between 1 and ${MAX_EXPIRY_SECONDS} (7 days, the V4 signing limit), got ${expiresInSeconds}`,
      );
    }
    return this.#run('signing a URL', key, () =>
      signObjectUrl(this.#bucket.file(this.#name(key)), action, expiresInSeconds, contentType, queryParams),
    );
  }

  #xmlUrl(key: string, query: string): string {
    return `${this.#xmlBase}/${encodeURIComponent(this.#config.bucket)}/${encodeObjectPath(this.#name(key))}?${query}`;
  }

  async #xmlRequest(
    method: 'POST' | 'DELETE',
    url: string,
    options: OperationOptions,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<string> {
    const response = await this.#storage.authClient.request<string>({
      url,
      method,
      headers,
      responseType: 'text',
      ...(body === undefined ? {} : { data: body }),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.#config.requestTimeoutMs === undefined ? {} : { timeout: this.#config.requestTimeoutMs }),
    });
    return typeof response.data === 'string' ? response.data : String(response.data ?? '');
  }

  async #createMultipart(
    key: string,
    options: OperationOptions & { numParts: number; expiresInSeconds?: number },
  ): Promise<MultipartUpload> {
    const xml = await this.#run('starting a multipart upload', key, () =>
      this.#xmlRequest('POST', this.#xmlUrl(key, 'uploads'), options, '', {
        'Content-Type': guessContentType(key),
      }),
    );
    const parsed = new XMLParser().parse(xml) as { InitiateMultipartUploadResult?: { UploadId?: unknown } };
    const uploadId = parsed.InitiateMultipartUploadResult?.UploadId;
    if (typeof uploadId !== 'string' || uploadId === '') {
      throw new ArtifactsError(
        'internal',
        'the XML API answered the multipart upload request without an UploadId',
      );
    }
    const credentials = [];
    for (let partNumber = 1; partNumber <= options.numParts; partNumber++) {
      const url = await this.#signedUrl(key, 'write', options.expiresInSeconds, undefined, {
        partNumber: String(partNumber),
        uploadId,
      });
      credentials.push({ url, partNumber, headers: {} });
    }
    return { uploadId, credentials };
  }

  async #completeMultipart(
    key: string,
    uploadId: string | null,
    parts: CompletedPart[],
    options: OperationOptions = {},
  ): Promise<void> {
    if (!uploadId) throw ArtifactsError.invalidArgument('a GCS multipart upload needs its upload_id');
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    if (new Set(sorted.map((p) => p.partNumber)).size !== sorted.length) {
      throw ArtifactsError.invalidArgument('each part number may appear only once');
    }
    const body = new XMLBuilder({ arrayNodeName: 'Part' }).build(
      sorted.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })),
    ) as string;
    await this.#run('completing a multipart upload', key, () =>
      this.#xmlRequest(
        'POST',
        this.#xmlUrl(key, `uploadId=${encodeURIComponent(uploadId)}`),
        options,
        `<CompleteMultipartUpload>${body}</CompleteMultipartUpload>`,
        { 'Content-Type': 'application/xml' },
      ),
    );
  }

  async #abortMultipart(key: string, uploadId: string | null, options: OperationOptions = {}): Promise<void> {
    if (!uploadId) throw ArtifactsError.invalidArgument('a GCS multipart upload needs its upload_id');
    try {
      await this.#xmlRequest(
        'DELETE',
        this.#xmlUrl(key, `uploadId=${encodeURIComponent(uploadId)}`),
        options,
      );
    } catch (error) {
      // Aborting an upload that is already gone (completed, aborted, expired) achieves the goal.
      const status = (error as { status?: number; response?: { status?: number } }).response?.status;
      if (status === 404) return;
      throw mapGcsError(error, this.#subject('aborting a multipart upload', key), this.secrets);
    }
  }
}
