import {
  type MultipartCapability,
  type PresignCapability,
  presignSeconds,
  xmlMultipartCapability,
} from '@artifacts/core';
import { s3ErrorCode } from './errors.js';
import { argHeaders, type UploadExtraArgs } from './extra-args.js';
import { multipartRequests, type S3Object } from './multipart.js';

/** What the presigned side of the driver needs of it. */
export interface PresignTarget {
  /** The object of an artifact key (the repository root joined), its requests under `signal`. */
  object(key: string, signal?: AbortSignal): S3Object;
  /** How messages name the object of a key (`s3://bucket/name`). */
  describe(key: string): string;
  /** The SSE-C headers a client sends with each part. */
  sseC: Record<string, string>;
  uploadArgs: UploadExtraArgs;
  /** Runs a call, its failure mapped by the driver (what failed, of which key). */
  run<T>(action: string, key: string, call: () => Promise<T>): Promise<T>;
}

/**
 * The proxy's direct transfers: presigned GET/PUT URLs (our own SigV4 query signing), and core's
 * XML multipart uploads whose parts a client PUTs through presigned UploadPart URLs, with the SSE-C
 * headers it must send (signed into each URL).
 */
export function presignedTransfers(t: PresignTarget): {
  multipart: MultipartCapability;
  presign: PresignCapability;
} {
  const sign = (key: string, method: 'GET' | 'PUT', expiresIn: number, more = {}) => {
    const { requests, Bucket, Key } = t.object(key);
    return requests.presign({ method, Bucket, Key, ...more }, expiresIn);
  };
  const url = (key: string, method: 'GET' | 'PUT', seconds: number | undefined) => {
    const expiresIn = presignSeconds(seconds);
    return t.run('presigning', key, () => sign(key, method, expiresIn));
  };
  const { sseC } = t;
  return {
    multipart: xmlMultipartCapability({
      send: (key, signal) => multipartRequests(t.object(key, signal)),
      describe: t.describe,
      // No checksum algorithm: the parts arrive as plain PUTs through presigned URLs, without one.
      createHeaders: argHeaders(t.uploadArgs),
      partUrl: (key, uploadId, partNumber, expiresIn) =>
        sign(key, 'PUT', expiresIn, { query: { partNumber: String(partNumber), uploadId }, headers: sseC }),
      partHeaders: sseC,
      gone: (error) => s3ErrorCode(error) === 'NoSuchUpload',
      run: t.run,
    }),
    presign: {
      getUrl: (key, options) => url(key, 'GET', options?.expiresInSeconds),
      // No content type signed, as the SDK's presigner: the uploader sends its own.
      putUrl: (key, options) => url(key, 'PUT', options?.expiresInSeconds),
    },
  };
}
