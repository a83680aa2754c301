import {
  ArtifactsError,
  type CompletedPart,
  guessContentType,
  type MultipartCapability,
  type PresignCapability,
  partCredentials,
  presignSeconds,
  sortedParts,
} from '@artifacts/core';
import { s3ErrorCode } from './errors.js';
import { argHeaders, sseCHeaders, type UploadExtraArgs } from './extra-args.js';
import { abortMultipart, completeMultipart, createMultipart } from './multipart.js';
import type { S3Requests } from './requests.js';

/** What the presigned side of the driver needs of it. */
export interface PresignTarget {
  requests: S3Requests;
  bucket: string;
  /** The object key of an artifact key (the repository root joined). */
  full(key: string): string;
  uploadArgs: UploadExtraArgs;
  /** Runs a call, its failure mapped by the driver (what failed, of which key). */
  run<T>(action: string, key: string, call: () => Promise<T>): Promise<T>;
}

const needsId = () => ArtifactsError.invalidArgument('an S3 multipart upload needs its upload_id');

/**
 * The proxy's direct transfers: presigned GET/PUT URLs (our own SigV4 query signing), and multipart
 * uploads whose parts a client PUTs through presigned UploadPart URLs, with the SSE-C headers it
 * must send (signed into each URL).
 */
export function presignedTransfers(t: PresignTarget): {
  multipart: MultipartCapability;
  presign: PresignCapability;
} {
  const { requests, bucket: Bucket, run } = t;
  const sseC = sseCHeaders(t.uploadArgs);
  const payer = argHeaders(t.uploadArgs, ['RequestPayer']);
  const url = async (key: string, method: 'GET' | 'PUT', seconds: number | undefined, more = {}) => {
    const expiresIn = presignSeconds(seconds);
    return run('presigning', key, () =>
      requests.presign({ method, Bucket, Key: t.full(key), ...more }, expiresIn),
    );
  };
  const abort: MultipartCapability['abort'] = async (key, uploadId, options = {}) => {
    if (!uploadId) throw needsId();
    await run('aborting the multipart upload of', key, async () => {
      try {
        await abortMultipart({ requests, Bucket, Key: t.full(key), signal: options.signal }, uploadId, payer);
      } catch (error) {
        // Aborting an upload that is already gone leaves the state the caller asked for.
        if (s3ErrorCode(error) !== 'NoSuchUpload') throw error;
      }
    });
  };
  return {
    multipart: {
      async create(key, options) {
        const Key = t.full(key);
        presignSeconds(options.expiresInSeconds);
        const target = { requests, Bucket, Key, signal: options.signal };
        // No checksum algorithm: the parts arrive as plain PUTs through presigned URLs, without one.
        const headers = { 'content-type': guessContentType(key), ...argHeaders(t.uploadArgs), ...sseC };
        const uploadId = await run('starting a multipart upload of', key, () =>
          createMultipart(target, headers),
        );
        try {
          const part = (partNumber: number) =>
            url(key, 'PUT', options.expiresInSeconds, {
              query: { partNumber: String(partNumber), uploadId },
              headers: sseC,
            });
          return { uploadId, credentials: await partCredentials(options.numParts, part, sseC) };
        } catch (error) {
          await abort(key, uploadId, {}).catch(() => undefined);
          throw error;
        }
      },
      async complete(key, uploadId, parts: CompletedPart[], options = {}) {
        if (!uploadId) throw needsId();
        const sorted = sortedParts(parts).map((part) => ({
          PartNumber: part.partNumber,
          ETag: part.etag.startsWith('"') ? part.etag : `"${part.etag}"`,
        }));
        const target = { requests, Bucket, Key: t.full(key), signal: options.signal };
        await run('completing the multipart upload of', key, () =>
          completeMultipart(target, uploadId, sorted, { ...sseC, ...payer }),
        );
      },
      abort,
    },
    presign: {
      getUrl: (key, options) => url(key, 'GET', options?.expiresInSeconds),
      // No content type signed, as the SDK's presigner: the uploader sends its own.
      putUrl: (key, options) => url(key, 'PUT', options?.expiresInSeconds),
    },
  };
}
