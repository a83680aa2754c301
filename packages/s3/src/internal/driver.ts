import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  type Checksum,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  type MultipartCapability,
  type ObjectAddress,
  type ObjectListRequest,
  ObjectStoreDriver,
  type OpenContext,
  objectStoreCapabilities,
  type PresignCapability,
  presignSeconds,
  type RangeSource,
  statFromHeaders,
  storeRange,
  unlessMissing,
  xmlMultipartCapability,
} from '@artifacts/core';
import { staticCredentials } from './client.js';
import { serverCopy } from './copy.js';
import { deleteObjectsError, isMissing, mapS3Error, s3ErrorCode } from './errors.js';
import { argHeaders, sseCHeaders } from './extra-args.js';
import { headObject } from './get.js';
import { deleteObjects, listObjects } from './list.js';
import { multipartRequests, type S3Object } from './multipart.js';
import type { S3Requests } from './requests.js';
import type { ResolvedS3Config } from './settings.js';
import { pickChecksum, uploadObject } from './upload.js';

/** How S3's messages word the calls core's `ObjectStoreDriver` names. */
const ACTIONS: Record<string, string> = {
  upload: 'uploading',
  download: 'reading',
  stat: 'reading',
  list: 'listing',
  delete: 'deleting',
  copy: 'copying',
  'starting a multipart upload': 'starting a multipart upload of',
  'completing a multipart upload': 'completing the multipart upload of',
  'aborting a multipart upload': 'aborting the multipart upload of',
};

/** The identity a copy's scope names: the access key id, a profile, or the default chain. */
function copyIdentity(config: ResolvedS3Config): string {
  const sseKey = config.uploadExtraArgs.SSECustomerKey;
  const identity =
    staticCredentials(config)?.accessKeyId ?? (config.profile ? `profile ${config.profile}` : 'default');
  // One SSE-C key too: an object encrypted with another cannot be read to copy it.
  return `${identity} ${sseKey ? createHash('sha256').update(sseKey).digest('hex') : ''}`;
}

/**
 * A StorageDriver on one bucket and key prefix: S3's REST requests (requests.ts) as the primitives
 * of core's `ObjectStoreDriver` (ranged reads, listings, stat, DeleteObjects batches, server-side
 * copy), uploads through core's chunked-upload engine (upload.ts), presigned URLs and the proxy's
 * multipart uploads (core's `xmlMultipartCapability`).
 */
export class S3Driver extends ObjectStoreDriver {
  readonly capabilities: DriverCapabilities;
  readonly multipart: MultipartCapability;
  readonly presign: PresignCapability;
  readonly #config: ResolvedS3Config;
  readonly #requests: S3Requests;
  /** SSE-C headers, sent with every request on an object. */
  readonly #sseC: Record<string, string>;
  /** The upload arguments' `x-amz-request-payer`, sent with every request of an upload or copy. */
  readonly #payer: Record<string, string>;
  readonly #algorithm: 'CRC32' | 'CRC32C' | 'SHA256' | undefined;

  constructor(
    bucket: string,
    root: string,
    config: ResolvedS3Config,
    requests: S3Requests,
    secrets: string[],
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    const threshold = config.parallelDownloadThresholdBytes;
    super({
      bucket,
      root,
      secrets,
      context,
      reads: {
        partSize: config.downloadChunkSizeBytes,
        concurrency: threshold > 0 ? config.downloadConcurrency : 1,
        parallelThreshold: threshold,
      },
      // Buckets behind one endpoint, reached with one identity (and one SSE-C key), copy between them.
      copyScope: `s3 ${requests.endpoint} ${copyIdentity(config)}`,
      transport: requests,
    });
    this.#config = config;
    this.#requests = requests;
    this.#sseC = sseCHeaders(config.uploadExtraArgs);
    this.#payer = argHeaders(config.uploadExtraArgs, ['RequestPayer']);
    const algorithm = config.uploadExtraArgs.ChecksumAlgorithm ?? config.checksumAlgorithm;
    this.#algorithm = algorithm === 'NONE' ? undefined : (algorithm as 'CRC32' | 'CRC32C' | 'SHA256');
    this.capabilities = {
      ...objectStoreCapabilities(
        this.#algorithm ? [this.#algorithm.toLowerCase() as Checksum['algorithm']] : [],
        true,
      ),
      // Each part's CRC, sent as its header, also gives the whole object's (upload.ts).
      hashesWrites: this.#algorithm === 'CRC32' || this.#algorithm === 'CRC32C',
    };
    // The proxy's direct transfers: presigned GET/PUT URLs, and core's XML multipart uploads whose
    // parts a client PUTs through presigned UploadPart URLs, with the SSE-C headers it must send
    // (signed into each URL).
    const sign = (key: string, method: 'GET' | 'PUT', expiresIn: number, more = {}) =>
      requests.presign({ method, Bucket: bucket, Key: this.names.name(key), ...more }, expiresIn);
    const url = (key: string, method: 'GET' | 'PUT', seconds: number | undefined) => {
      const expiresIn = presignSeconds(seconds);
      return this.run('presigning', key, () => sign(key, method, expiresIn));
    };
    this.multipart = xmlMultipartCapability({
      send: (key, signal) => multipartRequests(this.#object(bucket, this.names.name(key), signal)),
      describe: (key) => this.describe(key),
      // No checksum algorithm: the parts arrive as plain PUTs through presigned URLs, without one.
      createHeaders: argHeaders(config.uploadExtraArgs),
      partUrl: (key, uploadId, partNumber, expiresIn) =>
        sign(key, 'PUT', expiresIn, {
          query: { partNumber: String(partNumber), uploadId },
          headers: this.#sseC,
        }),
      partHeaders: this.#sseC,
      gone: (error) => s3ErrorCode(error) === 'NoSuchUpload',
      run: (action, key, call) => this.run(action, key, call),
    });
    this.presign = {
      getUrl: (key, options) => url(key, 'GET', options?.expiresInSeconds),
      // No content type signed, as the SDK's presigner: the uploader sends its own.
      putUrl: (key, options) => url(key, 'PUT', options?.expiresInSeconds),
    };
  }

  /** An object's requests and the headers each carries. */
  #object(Bucket: string, Key: string, signal?: AbortSignal): S3Object {
    return { requests: this.#requests, Bucket, Key, sseC: this.#sseC, payer: this.#payer, signal };
  }

  #target(key: string | undefined, action: string) {
    return {
      bucket: this.bucket,
      ...(key === undefined ? {} : { key: this.names.name(key) }),
      action: ACTIONS[action] ?? action,
      endpoint: this.#requests.endpoint,
    };
  }

  protected mapError(error: unknown, action: string, key: string | undefined): unknown {
    return mapS3Error(error, this.#target(key, action));
  }

  protected describe(key: string): string {
    return `s3://${this.bucket}/${this.names.name(key)}`;
  }

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const args = this.#config.uploadExtraArgs;
    return this.run('upload', key, () =>
      uploadObject(
        {
          ...this.#object(this.bucket, this.names.name(key)),
          headers: argHeaders(args),
          algorithm: this.#algorithm,
          partSize: this.#config.partSizeBytes,
          concurrency: this.#config.uploadQueueSize,
          context: this.context,
          run: (action, call) => this.run(action, key, call),
        },
        body,
        options,
      ),
    );
  }

  /**
   * One GET for the engine. The first request of a whole-object read is a plain GET (one request
   * for a small object, and the only answer that carries the object's checksum); every other is a
   * ranged GET pinned to the first answer's ETag with If-Match, so an object replaced half-way fails
   * (412) instead of mixing two versions.
   */
  protected rangeSource(key: string): RangeSource {
    const Key = this.names.name(key);
    const whole: Record<string, string> = this.#algorithm ? { 'x-amz-checksum-mode': 'ENABLED' } : {};
    return {
      // A range of an empty object (S3's InvalidRange) is read whole by `storeRange`; one past the end
      // of any other, by core's engine: both read nothing.
      readRange: async (request) => {
        const get = (range: string | undefined) =>
          this.#requests.send({
            method: 'GET',
            Bucket: this.bucket,
            Key,
            headers: {
              ...this.#sseC,
              ...(range ? { range } : whole),
              ...(request.pin ? { 'if-match': request.pin } : {}),
            },
            signal: request.signal,
          });
        const { answer, response } = await storeRange(request, get, { whole: request.whole });
        const checksum = request.whole ? pickChecksum(answer.headers) : undefined;
        return { ...response, ...(checksum ? { checksum } : {}) };
      },
    };
  }

  protected async statObject(key: string, signal: AbortSignal | undefined): Promise<DriverStat | undefined> {
    const target = { Bucket: this.bucket, Key: this.names.name(key), sseC: this.#sseC };
    const answer = await unlessMissing(headObject(this.#requests, target, signal), isMissing);
    return answer && statFromHeaders(key, answer);
  }

  protected listPage(request: ObjectListRequest) {
    return listObjects(this.#requests, this.bucket, request);
  }

  /** DeleteObjects (core hands over at most 1000 keys); keys already gone are not a failure. */
  protected async deleteObjects(keys: readonly string[], signal: AbortSignal | undefined): Promise<void> {
    const names = keys.map((key) => this.names.name(key));
    const errors = await deleteObjects(this.#requests, this.bucket, names, signal);
    const failed = deleteObjectsError(errors, keys.length, this.#target(undefined, 'delete'));
    if (failed) throw failed;
  }

  /** CopyObject, or UploadPartCopy above the cutoff (copy.ts); the source's errors name the source. */
  protected async copyObject(
    from: ObjectAddress,
    to: ObjectAddress,
    options: DriverCopyOptions,
  ): Promise<void> {
    const source = { Bucket: from.bucket, Key: from.name };
    try {
      await serverCopy({
        from: source,
        to: this.#object(to.bucket, to.name, options.signal),
        cutoffBytes: this.#config.copyCutoffBytes,
        partSizeBytes: this.#config.partSizeBytes,
        concurrency: this.#config.uploadQueueSize,
        uploadArgs: this.#config.uploadExtraArgs,
      });
    } catch (error) {
      if (isMissing(error))
        throw ArtifactsError.notFound(`s3://${from.bucket}/${from.name}`, { cause: error });
      throw mapS3Error(error, { ...this.#target(undefined, 'copy'), bucket: from.bucket, key: from.name });
    }
  }
}
