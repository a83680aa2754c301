import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  type Checksum,
  type CopySource,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteTree,
  listPages,
  type MultipartCapability,
  mappedCalls,
  ObjectNames,
  type OpenContext,
  type OperationOptions,
  type PresignCapability,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import { serverCopy } from './copy.js';
import { deleteObjectsError, isMissing, mapS3Error } from './errors.js';
import { argHeaders, sseCHeaders } from './extra-args.js';
import { headObject, rangedGet } from './get.js';
import { deleteObjects, listObjects } from './list.js';
import { presignedTransfers } from './presign.js';
import type { S3Requests } from './requests.js';
import type { ResolvedS3Config } from './settings.js';
import { uploadObject } from './upload.js';

/** A StorageDriver on one bucket and key prefix: S3's REST requests of requests.ts. */
export class S3Driver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart: MultipartCapability;
  readonly presign: PresignCapability;
  readonly #bucket: string;
  readonly #names: ObjectNames;
  readonly #config: ResolvedS3Config;
  readonly #requests: S3Requests;
  /** SSE-C headers, sent with every request on an object. */
  readonly #sseC: Record<string, string>;
  readonly #algorithm: 'CRC32' | 'CRC32C' | 'SHA256' | undefined;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  /** A call, its failure mapped (what failed, of which key). */
  readonly #run = mappedCalls((error, action, key) => this.#error(error, key, action));
  #closed = false;

  constructor(
    bucket: string,
    root: string,
    config: ResolvedS3Config,
    requests: S3Requests,
    secrets: string[],
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    this.#context = context;
    this.#bucket = bucket;
    this.#names = new ObjectNames(root);
    this.#config = config;
    this.#requests = requests;
    this.#sseC = sseCHeaders(config.uploadExtraArgs);
    this.secrets = secrets;
    const algorithm = config.uploadExtraArgs.ChecksumAlgorithm ?? config.checksumAlgorithm;
    this.#algorithm = algorithm === 'NONE' ? undefined : (algorithm as 'CRC32' | 'CRC32C' | 'SHA256');
    this.capabilities = {
      rangeRead: true,
      directories: false,
      checksums: this.#algorithm ? [this.#algorithm.toLowerCase() as Checksum['algorithm']] : [],
      // Each part's CRC, sent as its header, also gives the whole object's (upload.ts).
      hashesWrites: this.#algorithm === 'CRC32' || this.#algorithm === 'CRC32C',
      multipartUpload: true,
      presign: true,
      serverSideCopy: true,
    };
    ({ multipart: this.multipart, presign: this.presign } = presignedTransfers({
      requests,
      bucket,
      full: (key) => this.#names.name(key),
      uploadArgs: config.uploadExtraArgs,
      run: this.#run,
    }));
  }

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const args = this.#config.uploadExtraArgs;
    return this.#run('uploading', key, () =>
      uploadObject(
        {
          requests: this.#requests,
          Bucket: this.#bucket,
          Key: this.#names.name(key),
          headers: argHeaders(args),
          sseC: this.#sseC,
          requestPayer: args.RequestPayer,
          algorithm: this.#algorithm,
          partSize: this.#config.partSizeBytes,
          concurrency: this.#config.uploadQueueSize,
          context: this.#context,
          error: (error, action = 'uploading') => this.#error(error, key, action),
        },
        body,
        options,
      ),
    );
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) =>
      rangedGet({
        requests: this.#requests,
        Bucket: this.#bucket,
        Key: this.#names.name(key),
        key,
        sseC: this.#sseC,
        checksums: this.#algorithm !== undefined,
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
        what: `reading s3://${this.#bucket}/${this.#names.name(key)}`,
      };
    },
    guard: (key, read) => this.#run('reading', key, read),
  });
  readonly read = this.#reads.read;
  /** A download: parallel ranged GETs written at their offsets into `localPath` (core's temporary file). */
  readonly readToFile = this.#reads.readToFile;

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const Key = this.#names.name(key);
    // The bucket's root is no object (a HEAD of '' would be the bucket's).
    if (Key !== '') {
      try {
        const head = await headObject(
          this.#requests,
          { Bucket: this.#bucket, Key, sseC: this.#sseC },
          options.signal,
        );
        const { size, lastModified, etag, contentType } = head;
        return {
          key,
          isDir: false,
          ...(size === undefined ? {} : { size }),
          ...(lastModified ? { lastModified } : {}),
          ...(etag ? { etag } : {}),
          ...(contentType ? { contentType } : {}),
        };
      } catch (error) {
        if (!isMissing(error)) throw this.#error(error, key, 'reading');
      }
    }
    const page = await this.#list(key, this.#names.dirPrefix(key), false, undefined, 1, options.signal);
    return page.Contents.length > 0 ? { key, isDir: true } : undefined;
  }

  /**
   * Direct children (or everything below, `recursive`) of `prefix`. Names no artifact path can have
   * (`a//b`) and folder markers (`dir/`) are never files; `markers` (core's `deleteTree`) yields
   * both as markers, so that a delete leaves nothing behind.
   */
  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const listPrefix = this.#names.dirPrefix(prefix);
    const pages = listPages(async (token) => {
      const page = await this.#list(prefix, listPrefix, !options.recursive, token, undefined, options.signal);
      return { page, next: page.NextContinuationToken };
    }, options);
    for await (const page of pages) {
      for (const name of page.CommonPrefixes) {
        const key = this.#names.relative(name).slice(0, -1);
        if (key !== '' && !key.split('/').includes('')) yield { key, isDir: true };
      }
      for (const object of page.Contents) {
        const key = this.#names.relative(object.Key);
        if (key === '') continue;
        if (!key.endsWith('/') && !key.split('/').includes(''))
          yield { key, isDir: false, size: object.Size };
        else if (options.markers) yield { key, isDir: false, size: 0, marker: true };
      }
    }
  }

  /** The exact key and everything under `key/` (never `keyfoo`): core's `deleteTree` over DeleteObjects. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  async deleteMany(keys: readonly string[], options: OperationOptions): Promise<void> {
    const names = keys.map((key) => this.#names.name(key));
    const errors = await this.#run('deleting', undefined, () =>
      deleteObjects(this.#requests, this.#bucket, names, options.signal),
    );
    const failed = deleteObjectsError(errors, keys.length, this.#target(undefined, 'deleting'));
    if (failed) throw failed;
  }

  /** Buckets behind one endpoint, reached with one identity (and one SSE-C key), copy between them. */
  locate(key: string): CopySource {
    const credentials = this.#config.credentials;
    const identity =
      (credentials && 'accessKeyId' in credentials ? credentials.accessKeyId : undefined) ??
      (this.#config.profile ? `profile ${this.#config.profile}` : process.env.AWS_ACCESS_KEY_ID) ??
      'default';
    const sseKey = this.#config.uploadExtraArgs.SSECustomerKey;
    const sseC = sseKey ? createHash('sha256').update(sseKey).digest('hex') : '';
    return {
      scope: `s3 ${this.#requests.endpoint} ${identity} ${sseC}`,
      address: `${this.#bucket}/${this.#names.name(key)}`,
    };
  }

  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = { Bucket: source.address.slice(0, slash), Key: source.address.slice(slash + 1) };
    try {
      await serverCopy({
        requests: this.#requests,
        from,
        to: { Bucket: this.#bucket, Key: this.#names.name(toKey) },
        cutoffBytes: this.#config.copyCutoffBytes,
        partSizeBytes: this.#config.partSizeBytes,
        concurrency: this.#config.uploadQueueSize,
        uploadArgs: this.#config.uploadExtraArgs,
        signal: options.signal,
      });
    } catch (error) {
      if (isMissing(error))
        throw ArtifactsError.notFound(`s3://${from.Bucket}/${from.Key}`, { cause: error });
      throw mapS3Error(error, { ...this.#target(undefined, 'copying'), bucket: from.Bucket, key: from.Key });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#requests.destroy();
  }

  #target(key: string | undefined, action: string) {
    return {
      bucket: this.#bucket,
      ...(key === undefined ? {} : { key: this.#names.name(key) }),
      action,
      endpoint: this.#requests.endpoint,
    };
  }

  #error(error: unknown, key: string | undefined, action: string): unknown {
    return mapS3Error(error, this.#target(key, action));
  }

  /** One ListObjectsV2 page under `listPrefix`, its errors mapped as the listing of `key`. */
  #list(
    key: string,
    listPrefix: string,
    delimited: boolean,
    token: string | undefined,
    maxKeys: number | undefined,
    signal: AbortSignal | undefined,
  ) {
    return this.#run('listing', key, () =>
      listObjects(
        this.#requests,
        {
          Bucket: this.#bucket,
          Prefix: listPrefix,
          ...(delimited ? { Delimiter: '/' } : {}),
          ...(token ? { ContinuationToken: token } : {}),
          ...(maxKeys ? { MaxKeys: maxKeys } : {}),
        },
        signal,
      ),
    );
  }
}
