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
import { argHeaders, type UploadExtraArgs } from './extra-args.js';
import { abortMultipart, completeMultipart, createMultipart, type S3Object } from './multipart.js';

/** What the presigned side of the driver needs of it. */
export interface PresignTarget {
  /** The object of an artifact key (the repository root joined), its requests under `signal`. */
  object(key: string, signal?: AbortSignal): S3Object;
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
  const { run } = t;
  const url = async (key: string, method: 'GET' | 'PUT', seconds: number | undefined, more = {}) => {
    const expiresIn = presignSeconds(seconds);
    const { requests, Bucket, Key } = t.object(key);
    return run('presigning', key, () => requests.presign({ method, Bucket, Key, ...more }, expiresIn));
  };
  const abort: MultipartCapability['abort'] = async (key, uploadId, options = {}) => {
    if (!uploadId) throw needsId();
    await run('aborting the multipart upload of', key, async () => {
      try {
        await abortMultipart(t.object(key, options.signal), uploadId);
      } catch (error) {
        // Aborting an upload that is already gone leaves the state the caller asked for.
        if (s3ErrorCode(error) !== 'NoSuchUpload') throw error;
      }
    });
  };
  return {
    multipart: {
      async create(key, options) {
        presignSeconds(options.expiresInSeconds);
        const target = t.object(key, options.signal);
        const { sseC } = target;
        // No checksum algorithm: the parts arrive as plain PUTs through presigned URLs, without one.
        const headers = { 'content-type': guessContentType(key), ...argHeaders(t.uploadArgs) };
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
        await run('completing the multipart upload of', key, () =>
          completeMultipart(t.object(key, options.signal), uploadId, sorted),
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
