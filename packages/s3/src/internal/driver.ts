import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type Checksum,
  type CompletedPart,
  type CopySource,
  chunkedUpload,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  engineOptions,
  guessContentType,
  type MultipartCapability,
  type MultipartUpload,
  type OpenContext,
  type OperationOptions,
  type PartLimits,
  type PresignCapability,
  type RangeSource,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { BuiltClient } from './client.js';
import { serverCopy } from './copy.js';
import { httpStatus, mapS3Error, type S3Target, s3ErrorCode } from './errors.js';
import type { UploadExtraArgs } from './extra-args.js';
import { DEFAULT_PRESIGN_EXPIRY_SECONDS, type ResolvedS3Config } from './settings.js';

/** S3's multipart limits: 10,000 parts of 5 MiB (but the last) to 5 GiB. */
export const S3_PART_LIMITS: PartLimits = {
  maxParts: 10_000,
  minPartSize: 5 * 1024 * 1024,
  maxPartSize: 5 * 1024 ** 3,
};

interface CompletedS3Part {
  PartNumber: number;
  ETag: string | undefined;
  ChecksumCRC32?: string;
  ChecksumCRC32C?: string;
  ChecksumSHA256?: string;
}

/** S3 accepts at most this many keys per DeleteObjects call. */
const DELETE_BATCH = 1000;
/** S3's limit for SigV4 presigned URLs: 7 days. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

type SseC = Partial<Pick<UploadExtraArgs, 'SSECustomerAlgorithm' | 'SSECustomerKey' | 'SSECustomerKeyMD5'>>;

// biome-ignore lint/suspicious/noExplicitAny: the SDK's command classes share no usable common type.
type AnyCommand = any;

/** A StorageDriver on one bucket and key prefix, built on the AWS SDK v3. */
export class S3Driver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart: MultipartCapability;
  readonly presign: PresignCapability;
  readonly #bucket: string;
  /** Key prefix of the repository root: no leading or trailing slash; '' = the bucket's root. */
  readonly #root: string;
  readonly #config: ResolvedS3Config;
  readonly #built: BuiltClient;
  readonly #uploadArgs: UploadExtraArgs;
  readonly #sseC: SseC;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  #closed = false;

  constructor(
    bucket: string,
    root: string,
    config: ResolvedS3Config,
    built: BuiltClient,
    secrets: string[],
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    this.#context = context;
    this.#bucket = bucket;
    this.#root = root;
    this.#config = config;
    this.#built = built;
    const { SSECustomerAlgorithm, SSECustomerKey, SSECustomerKeyMD5, ...uploadArgs } = config.uploadExtraArgs;
    this.#uploadArgs = uploadArgs;
    this.#sseC = {
      ...(SSECustomerAlgorithm ? { SSECustomerAlgorithm } : {}),
      ...(SSECustomerKey ? { SSECustomerKey } : {}),
      ...(SSECustomerKeyMD5 ? { SSECustomerKeyMD5 } : {}),
    };
    this.secrets = secrets;
    const algorithm = this.#checksumAlgorithm();
    this.capabilities = {
      rangeRead: true,
      directories: false,
      checksums: algorithm ? [algorithm.toLowerCase() as Checksum['algorithm']] : [],
      multipartUpload: true,
      presign: true,
      serverSideCopy: true,
    };
    this.multipart = {
      create: (key, options) => this.#createMultipart(key, options),
      complete: (key, uploadId, parts, options) => this.#completeMultipart(key, uploadId, parts, options),
      abort: (key, uploadId, options) => this.#abortMultipart(key, uploadId, options),
    };
    this.presign = {
      getUrl: (key, options) =>
        this.#presign(new GetObjectCommand({ Bucket: this.#bucket, Key: this.#full(key) }), key, options),
      putUrl: (key, options) =>
        this.#presign(
          new PutObjectCommand({
            Bucket: this.#bucket,
            Key: this.#full(key),
            ...(options?.contentType ? { ContentType: options.contentType } : {}),
          }),
          key,
          options,
        ),
    };
  }

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const algorithm = this.#checksumAlgorithm();
    // A whole-object CRC for multipart uploads too (S3 combines the parts' CRCs), so core can
    // compare it with the bytes it sent; SHA-256 only exists per part (composite).
    const fullObject = algorithm === 'CRC32' || algorithm === 'CRC32C';
    const Bucket = this.#bucket;
    const Key = this.#full(key);
    const params = {
      Bucket,
      Key,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
      ...this.#uploadArgs,
      ...this.#sseC,
      ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
    };
    const perPart = {
      ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
      ...this.#sseC,
      ...(this.#uploadArgs.RequestPayer ? { RequestPayer: this.#uploadArgs.RequestPayer } : {}),
    };
    let UploadId: string | undefined;
    const send = async <T>(command: AnyCommand, signal: AbortSignal, action = 'uploading'): Promise<T> => {
      try {
        return (await this.#built.client.send(command, { abortSignal: signal })) as T;
      } catch (error) {
        throw this.#error(error, key, action);
      }
    };
    try {
      const result = await chunkedUpload<CompletedS3Part, Record<string, unknown>>(
        body,
        {
          // Under a stall timeout, bodies go out as streams of the part's buffer: the SDK takes a
          // chunk as the socket drains, which is the progress the timeout sees (and it does not
          // retry a stream body, so its retries never stack with the engine's). Without one, the
          // buffer itself (cheaper: measured in docs/benchmarks/s3.md).
          putWhole: (part) =>
            send(
              new PutObjectCommand({
                ...params,
                Body: part.watched ? part.body() : part.data,
                ContentLength: part.data.length,
              }),
              part.signal,
            ),
          create: async (_plan, context) => {
            const created = await send<{ UploadId?: string }>(
              new CreateMultipartUploadCommand({
                ...params,
                ...(fullObject ? { ChecksumType: 'FULL_OBJECT' } : {}),
              }),
              context.signal,
              'starting a multipart upload of',
            );
            UploadId = created.UploadId;
            if (!UploadId) throw new ArtifactsError('internal', `S3 returned no UploadId for ${Key}`);
          },
          uploadPart: async (part) => {
            const out = await send<Record<string, string | undefined>>(
              new UploadPartCommand({
                Bucket,
                Key,
                UploadId,
                PartNumber: part.partNumber,
                Body: part.watched ? part.body() : part.data,
                ContentLength: part.data.length,
                ...perPart,
              }),
              part.signal,
            );
            return {
              PartNumber: part.partNumber,
              ETag: out.ETag,
              ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
              ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
              ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
            };
          },
          complete: (parts, context) =>
            send(
              new CompleteMultipartUploadCommand({
                Bucket,
                Key,
                UploadId,
                MultipartUpload: { Parts: parts },
                ...(fullObject ? { ChecksumType: 'FULL_OBJECT' } : {}),
                ...this.#sseC,
              }),
              context.signal,
              'completing the multipart upload of',
            ),
          abort: (context) =>
            send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }), context.signal).then(() => {}),
        },
        {
          partSize: this.#config.partSizeBytes,
          concurrency: this.#config.uploadQueueSize,
          limits: S3_PART_LIMITS,
          size: options.size,
          ...engineOptions(this.#context, options),
          what: `uploading s3://${Bucket}/${Key}`,
        },
      );
      const checksum = pickChecksum(result);
      return checksum ? { checksum } : undefined;
    } catch (error) {
      throw this.#error(error, key, 'uploading');
    }
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) => this.#rangeSource(key),
    plan: (key) => {
      const threshold = this.#config.parallelDownloadThresholdBytes;
      return {
        partSize: this.#config.downloadChunkSizeBytes,
        concurrency: threshold > 0 ? this.#config.downloadConcurrency : 1,
        parallelThreshold: threshold,
        context: this.#context,
        what: `reading s3://${this.#bucket}/${this.#full(key)}`,
      };
    },
    guard: async (key, read) => {
      try {
        return await read();
      } catch (error) {
        throw this.#error(error, key, 'reading');
      }
    },
  });
  readonly read = this.#reads.read;
  /** A download: parallel ranged GETs written at their offsets into `localPath` (core's temporary file). */
  readonly readToFile = this.#reads.readToFile;

  /**
   * One GET for the engine. The first request of a whole-object read is a plain GET (one request
   * for a small object, and the only answer that carries the object's checksum); every other is a
   * ranged GET pinned to the first answer's ETag with If-Match, so an object replaced half-way fails
   * (412) instead of mixing two versions.
   */
  #rangeSource(key: string): RangeSource {
    const Key = this.#full(key);
    return {
      readRange: async (request) => {
        const command = new GetObjectCommand({
          Bucket: this.#bucket,
          Key,
          ...this.#sseC,
          ...(request.whole ? {} : { Range: `bytes=${request.start}-${request.end}` }),
          ...(request.pin ? { IfMatch: request.pin } : {}),
        });
        if (request.whole && this.#checksumAlgorithm()) requestChecksumMode(command);
        let output: GetObjectCommandOutput;
        try {
          output = await this.#built.client.send(command, { abortSignal: request.signal });
        } catch (error) {
          if (!request.whole && s3ErrorCode(error) === 'InvalidRange') {
            // Past the end (or any range of an empty object): nothing to read.
            const info = await this.stat(key, { signal: request.signal });
            if (!info || info.isDir)
              throw ArtifactsError.notFound(`s3://${this.#bucket}/${Key}`, { context: { key } });
            return {
              stream: Readable.from([]),
              served: { start: request.start, end: request.start - 1 },
              totalSize: info.size ?? 0,
              ...(info.etag ? { pin: info.etag } : {}),
            };
          }
          throw this.#error(error, key, 'reading');
        }
        const length = output.ContentLength ?? 0;
        const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(output.ContentRange ?? '');
        const served = range
          ? { start: Number(range[1]), end: Number(range[2]) }
          : { start: 0, end: length - 1 };
        const checksum = request.whole
          ? pickChecksum(output as unknown as Record<string, unknown>)
          : undefined;
        return {
          stream: output.Body as Readable,
          served,
          totalSize: range ? Number(range[3]) : length,
          pin: output.ETag,
          ...(request.whole ? { rangesHonoured: true } : {}),
          ...(checksum ? { checksum } : {}),
          contentType: output.ContentType,
        };
      },
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const Key = this.#full(key);
    try {
      const head = await this.#built.client.send(
        new HeadObjectCommand({ Bucket: this.#bucket, Key, ...this.#sseC }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      return {
        key,
        isDir: false,
        ...(head.ContentLength === undefined ? {} : { size: head.ContentLength }),
        ...(head.LastModified ? { lastModified: head.LastModified } : {}),
        ...(head.ETag ? { etag: head.ETag } : {}),
        ...(head.ContentType ? { contentType: head.ContentType } : {}),
      };
    } catch (error) {
      const status = httpStatus(error);
      if (status === 403) {
        // HEAD answers carry no body, so a 403 does not say whether the key was refused or the
        // credentials were; a one-byte GET of the same key does.
        await this.#explainForbiddenHead(Key, options);
        throw this.#error(error, key, 'reading');
      }
      if (status !== 404 && s3ErrorCode(error) !== 'NotFound' && s3ErrorCode(error) !== 'NoSuchKey')
        throw this.#error(error, key, 'reading');
    }
    const page = await this.#list(`${Key}/`, undefined, undefined, 1, options.signal);
    return (page.KeyCount ?? 0) > 0 ? { key, isDir: true } : undefined;
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const base = this.#full(prefix);
    const listPrefix = base === '' ? '' : `${base}/`;
    let token: string | undefined;
    do {
      const request = () =>
        this.#list(listPrefix, options.recursive ? undefined : '/', token, undefined, options.signal);
      // core repeats a page request that failed with a temporary error (a reset on page 2)
      const page = await (options.page ? options.page(request) : request());
      for (const common of page.CommonPrefixes ?? []) {
        const key = this.#relative(common.Prefix);
        if (key !== undefined) yield { key: key.slice(0, -1), isDir: true };
      }
      for (const object of page.Contents ?? []) {
        const key = this.#relative(object.Key);
        // A key ending in '/' is a folder marker made by consoles and tools, not a file.
        if (key === undefined || key.endsWith('/')) continue;
        yield { key, isDir: false, ...(object.Size === undefined ? {} : { size: object.Size }) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    const exact = key === '' ? undefined : this.#full(key);
    const base = this.#full(key);
    // Only the exact key and what is under `key/`: never `keyfoo`.
    const prefix = base === '' ? '' : `${base}/`;
    let batch: string[] = exact ? [exact] : [];
    let token: string | undefined;
    do {
      const page = await this.#list(prefix, undefined, token, undefined, options.signal);
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        batch.push(object.Key);
        if (batch.length === DELETE_BATCH) {
          await this.#deleteBatch(batch, key, options.signal);
          batch = [];
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (batch.length > 0) await this.#deleteBatch(batch, key, options.signal);
  }

  /** Buckets behind one endpoint, reached with one identity (and one SSE-C key), copy between them. */
  locate(key: string): CopySource {
    const credentials = this.#config.credentials;
    const identity =
      (credentials && 'accessKeyId' in credentials ? credentials.accessKeyId : undefined) ??
      (this.#config.profile ? `profile ${this.#config.profile}` : process.env.AWS_ACCESS_KEY_ID) ??
      'default';
    const sseC = this.#sseC.SSECustomerKey
      ? createHash('sha256').update(this.#sseC.SSECustomerKey).digest('hex')
      : '';
    return {
      scope: `s3 ${this.#built.endpoint} ${identity} ${sseC}`,
      address: `${this.#bucket}/${this.#full(key)}`,
    };
  }

  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = { Bucket: source.address.slice(0, slash), Key: source.address.slice(slash + 1) };
    try {
      await serverCopy({
        client: this.#built.client,
        from,
        to: { Bucket: this.#bucket, Key: this.#full(toKey) },
        cutoffBytes: this.#config.copyCutoffBytes,
        partSizeBytes: this.#config.partSizeBytes,
        concurrency: this.#config.uploadQueueSize,
        uploadArgs: this.#uploadArgs,
        sseC: this.#sseC,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      const status = httpStatus(error);
      if (status === 404 || s3ErrorCode(error) === 'NoSuchKey' || s3ErrorCode(error) === 'NotFound')
        throw ArtifactsError.notFound(`s3://${source.address}`, { cause: error });
      throw mapS3Error(error, {
        bucket: from.Bucket,
        key: from.Key,
        action: 'copying',
        endpoint: this.#built.endpoint,
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#built.destroy();
  }

  // --- internals -------------------------------------------------------------------------------

  #checksumAlgorithm(): 'CRC32' | 'CRC32C' | 'SHA256' | undefined {
    const algorithm =
      (this.#uploadArgs.ChecksumAlgorithm as string | undefined) ?? this.#config.checksumAlgorithm;
    return algorithm === 'NONE' ? undefined : (algorithm as 'CRC32' | 'CRC32C' | 'SHA256');
  }

  #full(key: string): string {
    if (key === '') return this.#root;
    return this.#root === '' ? key : `${this.#root}/${key}`;
  }

  /** The key relative to the root, or undefined for names no artifact path can have. */
  #relative(fullKey: string | undefined): string | undefined {
    if (!fullKey) return undefined;
    const rootPrefix = this.#root === '' ? '' : `${this.#root}/`;
    if (!fullKey.startsWith(rootPrefix)) return undefined;
    const key = fullKey.slice(rootPrefix.length);
    const trimmed = key.endsWith('/') ? key.slice(0, -1) : key;
    // Keys like 'a//b' are legal in S3 but cannot be addressed by an artifact path.
    if (trimmed === '' || trimmed.split('/').some((segment) => segment === '')) return undefined;
    return key;
  }

  #target(key: string | undefined, action: string): S3Target {
    return {
      bucket: this.#bucket,
      ...(key === undefined ? {} : { key: this.#full(key) }),
      action,
      endpoint: this.#built.endpoint,
    };
  }

  #error(error: unknown, key: string | undefined, action: string): unknown {
    return mapS3Error(error, this.#target(key, action));
  }

  async #send<T>(
    command: AnyCommand,
    key: string | undefined,
    action: string,
    signal?: AbortSignal,
  ): Promise<T> {
    try {
      return (await this.#built.client.send(command, signal ? { abortSignal: signal } : {})) as T;
    } catch (error) {
      throw this.#error(error, key, action);
    }
  }

  #list(
    prefix: string,
    delimiter: string | undefined,
    token: string | undefined,
    maxKeys: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ListObjectsV2CommandOutput> {
    const relative = prefix.slice(this.#root === '' ? 0 : this.#root.length + 1).replace(/\/$/, '');
    return this.#send<ListObjectsV2CommandOutput>(
      new ListObjectsV2Command({
        Bucket: this.#bucket,
        Prefix: prefix,
        ...(delimiter ? { Delimiter: delimiter } : {}),
        ...(token ? { ContinuationToken: token } : {}),
        ...(maxKeys ? { MaxKeys: maxKeys } : {}),
      }),
      relative,
      'listing',
      signal,
    );
  }

  async #deleteBatch(keys: string[], key: string, signal: AbortSignal | undefined): Promise<void> {
    const out = await this.#send<{ Errors?: Array<{ Key?: string; Code?: string; Message?: string }> }>(
      new DeleteObjectsCommand({
        Bucket: this.#bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
      key,
      'deleting',
      signal,
    );
    const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const first = failed[0]!;
      const error = Object.assign(new Error(first.Message ?? first.Code ?? 'DeleteObjects failed'), {
        name: first.Code ?? 'Error',
        Code: first.Code,
      });
      const mapped = mapS3Error(error, {
        bucket: this.#bucket,
        ...(first.Key ? { key: first.Key } : {}),
        action: `deleting (${failed.length} of ${keys.length} keys failed)`,
        endpoint: this.#built.endpoint,
      });
      throw mapped;
    }
  }

  async #explainForbiddenHead(Key: string, options: OperationOptions): Promise<void> {
    try {
      const probe = await this.#built.client.send(
        new GetObjectCommand({ Bucket: this.#bucket, Key, Range: 'bytes=0-0', ...this.#sseC }),
        options.signal ? { abortSignal: options.signal } : {},
      );
      (probe.Body as Readable | undefined)?.destroy();
    } catch (error) {
      if (httpStatus(error) === 403 || httpStatus(error) === 400 || httpStatus(error) === 401)
        throw this.#error(error, Key.slice(this.#root === '' ? 0 : this.#root.length + 1), 'reading');
    }
  }

  /** A range starting at or past the end of the object: an empty read, as for a local file. */
  async #createMultipart(
    key: string,
    options: OperationOptions & { numParts: number; expiresInSeconds?: number },
  ): Promise<MultipartUpload> {
    const Key = this.#full(key);
    const expiresIn = expiry(options.expiresInSeconds);
    // No ChecksumAlgorithm: the parts arrive as plain PUTs through presigned URLs, without one.
    const { ChecksumAlgorithm: _checksum, ...args } = this.#uploadArgs;
    const created = await this.#send<{ UploadId?: string }>(
      new CreateMultipartUploadCommand({
        Bucket: this.#bucket,
        Key,
        ContentType: guessContentType(key),
        ...args,
        ...this.#sseC,
      }),
      key,
      'starting a multipart upload of',
      options.signal,
    );
    const uploadId = created.UploadId;
    if (!uploadId)
      throw new ArtifactsError('internal', `S3 returned no UploadId for s3://${this.#bucket}/${Key}`);
    try {
      const headers = sseCustomerHeaders(this.#sseC);
      const credentials = [];
      for (let partNumber = 1; partNumber <= options.numParts; partNumber++) {
        const url = await getSignedUrl(
          this.#built.presignClient,
          new UploadPartCommand({
            Bucket: this.#bucket,
            Key,
            UploadId: uploadId,
            PartNumber: partNumber,
            ...this.#sseC,
          }),
          { expiresIn },
        );
        credentials.push({ url, partNumber, headers: { ...headers } });
      }
      return { uploadId, credentials };
    } catch (error) {
      await this.#abortMultipart(key, uploadId, {}).catch(() => undefined);
      throw this.#error(error, key, 'presigning the parts of');
    }
  }

  async #completeMultipart(
    key: string,
    uploadId: string | null,
    parts: CompletedPart[],
    options: OperationOptions = {},
  ): Promise<void> {
    if (!uploadId) throw ArtifactsError.invalidArgument('an S3 multipart upload needs its upload_id');
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    await this.#send(
      new CompleteMultipartUploadCommand({
        Bucket: this.#bucket,
        Key: this.#full(key),
        UploadId: uploadId,
        MultipartUpload: {
          Parts: sorted.map((part) => ({
            PartNumber: part.partNumber,
            ETag: part.etag.startsWith('"') ? part.etag : `"${part.etag}"`,
          })),
        },
        ...this.#sseC,
      }),
      key,
      'completing the multipart upload of',
      options.signal,
    );
  }

  async #abortMultipart(key: string, uploadId: string | null, options: OperationOptions = {}): Promise<void> {
    if (!uploadId) throw ArtifactsError.invalidArgument('an S3 multipart upload needs its upload_id');
    try {
      await this.#built.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: this.#full(key), UploadId: uploadId }),
        options.signal ? { abortSignal: options.signal } : {},
      );
    } catch (error) {
      // Aborting an upload that is already gone leaves the state the caller asked for.
      if (s3ErrorCode(error) === 'NoSuchUpload') return;
      throw this.#error(error, key, 'aborting the multipart upload of');
    }
  }

  async #presign(
    command: AnyCommand,
    key: string,
    options: (OperationOptions & { expiresInSeconds?: number }) | undefined,
  ): Promise<string> {
    try {
      return await getSignedUrl(this.#built.presignClient, command, {
        expiresIn: expiry(options?.expiresInSeconds),
      });
    } catch (error) {
      throw this.#error(error, key, 'presigning');
    }
  }
}

function expiry(seconds: number | undefined): number {
  const value = seconds ?? DEFAULT_PRESIGN_EXPIRY_SECONDS;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PRESIGN_SECONDS) {
    throw ArtifactsError.invalidArgument(
      `presigned URL expiry must be an integer between 1 and ${MAX_PRESIGN_SECONDS} seconds (7 days), got ${value}`,
    );
  }
  return value;
}

/** Asks S3 for the object's stored checksum, without the SDK also verifying it (core does). */
function requestChecksumMode(command: AnyCommand): void {
  command.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>) =>
      async (args: { request?: { headers?: Record<string, string> } }) => {
        if (args.request?.headers) args.request.headers['x-amz-checksum-mode'] = 'ENABLED';
        return next(args);
      },
    { step: 'build', name: 'artifactsChecksumMode' },
  );
}

/** The whole-object checksum S3 reports, if any: composite multipart checksums (`…-N`) are not. */
export function pickChecksum(output: Record<string, unknown>): Checksum | undefined {
  if (output.ChecksumType === 'COMPOSITE') return undefined;
  const candidates: Array<[string, Checksum['algorithm']]> = [
    ['ChecksumCRC32', 'crc32'],
    ['ChecksumCRC32C', 'crc32c'],
    ['ChecksumSHA256', 'sha256'],
  ];
  for (const [field, algorithm] of candidates) {
    const value = output[field];
    if (typeof value === 'string' && value !== '' && !/-\d+$/.test(value)) return { algorithm, value };
  }
  return undefined;
}

/**
 * The SSE-C headers a client must send with each presigned part PUT, computed as the SDK does:
 * a key that is base64 of 32 bytes is used as is, any other string is taken as raw bytes.
 */
export function sseCustomerHeaders(sse: SseC): Record<string, string> {
  if (!sse.SSECustomerKey) return {};
  const raw = sse.SSECustomerKey;
  const decoded = Buffer.from(raw, 'base64');
  const bytes =
    /^[A-Za-z0-9+/]+={0,2}$/.test(raw) && decoded.length === 32 ? decoded : Buffer.from(raw, 'utf8');
  return {
    'x-amz-server-side-encryption-customer-algorithm': sse.SSECustomerAlgorithm ?? 'AES256',
    'x-amz-server-side-encryption-customer-key': bytes.toString('base64'),
    'x-amz-server-side-encryption-customer-key-md5':
      sse.SSECustomerKeyMD5 ?? createHash('md5').update(bytes).digest('base64'),
  };
}
