import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  type Checksum,
  type CopySource,
  DELETE_BATCH,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  type MultipartCapability,
  type OpenContext,
  type OperationOptions,
  type PresignCapability,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import { type BuiltClient, command, type LazyCommand } from './client.js';
import { serverCopy } from './copy.js';
import { deleteObjectsError, httpStatus, isMissing, mapS3Error, type S3Target } from './errors.js';
import { type SseC, splitSseC, type UploadExtraArgs } from './extra-args.js';
import { headObject, probeRead, rangedGet } from './get.js';
import { type ListPage, listObjects } from './list.js';
import { presignedTransfers } from './presign.js';
import type { ResolvedS3Config } from './settings.js';
import { uploadObject } from './upload.js';

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
    ({ uploadArgs: this.#uploadArgs, sseC: this.#sseC } = splitSseC(config.uploadExtraArgs));
    this.secrets = secrets;
    const algorithm = this.#checksumAlgorithm();
    this.capabilities = {
      rangeRead: true,
      directories: false,
      checksums: algorithm ? [algorithm.toLowerCase() as Checksum['algorithm']] : [],
      // Each part's CRC, sent as its header, also gives the whole object's (upload.ts).
      hashesWrites: algorithm === 'CRC32' || algorithm === 'CRC32C',
      multipartUpload: true,
      presign: true,
      serverSideCopy: true,
    };
    ({ multipart: this.multipart, presign: this.presign } = presignedTransfers({
      built,
      bucket,
      full: (key) => this.#full(key),
      sseC: this.#sseC,
      uploadArgs: this.#uploadArgs,
      error: (error, key, action) => this.#error(error, key, action),
      send: (command, key, action, signal) => this.#send(command, key, action, signal),
    }));
  }

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    try {
      return await uploadObject(
        {
          Bucket: this.#bucket,
          Key: this.#full(key),
          uploadArgs: this.#uploadArgs,
          sseC: this.#sseC,
          algorithm: this.#checksumAlgorithm(),
          partSize: this.#config.partSizeBytes,
          concurrency: this.#config.uploadQueueSize,
          context: this.#context,
          lean: this.#built.lean,
          send: (command, signal, action = 'uploading') => this.#send(command, key, action, signal),
          error: (error, action = 'uploading') => this.#error(error, key, action),
        },
        body,
        options,
      );
    } catch (error) {
      throw this.#error(error, key, 'uploading');
    }
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) =>
      rangedGet({
        built: this.#built,
        Bucket: this.#bucket,
        Key: this.#full(key),
        key,
        sseC: this.#sseC,
        checksums: this.#checksumAlgorithm() !== undefined,
        stat: (signal) => this.stat(key, { signal }),
        error: (error) => this.#error(error, key, 'reading'),
      }),
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

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const Key = this.#full(key);
    try {
      const head = await headObject(
        this.#built,
        { Bucket: this.#bucket, Key, ...this.#sseC },
        options.signal,
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
        // A bodiless 403: probeRead's GET says whether the key or the credentials were refused.
        const refused = await probeRead(
          this.#built.client,
          { Bucket: this.#bucket, Key, ...this.#sseC },
          options.signal,
        );
        if (refused) throw this.#error(refused, key, 'reading');
        throw this.#error(error, key, 'reading');
      }
      if (!isMissing(error)) throw this.#error(error, key, 'reading');
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
    await serverCopy({
      client: this.#built.client,
      endpoint: this.#built.endpoint,
      from: { Bucket: source.address.slice(0, slash), Key: source.address.slice(slash + 1) },
      to: { Bucket: this.#bucket, Key: this.#full(toKey) },
      cutoffBytes: this.#config.copyCutoffBytes,
      partSizeBytes: this.#config.partSizeBytes,
      concurrency: this.#config.uploadQueueSize,
      uploadArgs: this.#uploadArgs,
      sseC: this.#sseC,
      signal: options.signal,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#built.destroy();
  }

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
      reached: this.#built.reached(),
    };
  }

  #error(error: unknown, key: string | undefined, action: string): unknown {
    return mapS3Error(error, this.#target(key, action));
  }

  async #send<T>(
    command: LazyCommand,
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

  async #list(
    prefix: string,
    delimiter: string | undefined,
    token: string | undefined,
    maxKeys: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ListPage> {
    const relative = prefix.slice(this.#root === '' ? 0 : this.#root.length + 1).replace(/\/$/, '');
    try {
      return await listObjects(
        this.#built,
        {
          Bucket: this.#bucket,
          Prefix: prefix,
          ...(delimiter ? { Delimiter: delimiter } : {}),
          ...(token ? { ContinuationToken: token } : {}),
          ...(maxKeys ? { MaxKeys: maxKeys } : {}),
        },
        signal,
      );
    } catch (error) {
      throw this.#error(error, relative, 'listing');
    }
  }

  async #deleteBatch(keys: string[], key: string, signal: AbortSignal | undefined): Promise<void> {
    const out = await this.#send<{ Errors?: Array<{ Key?: string; Code?: string; Message?: string }> }>(
      command('DeleteObjects', {
        Bucket: this.#bucket,
        Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
      }),
      key,
      'deleting',
      signal,
    );
    const failed = deleteObjectsError(out.Errors ?? [], keys.length, this.#target(undefined, 'deleting'));
    if (failed) throw failed;
  }
}
