import {
  copyInParts,
  encodePath,
  headerString,
  statFromHeaders,
  type XmlPart,
  xmlUpload,
} from '@artifacts/core';
import { argHeaders, sseCHeaders, type UploadExtraArgs } from './extra-args.js';
import { headObject } from './get.js';
import { multipartRequests, S3_PART_LIMITS, type S3Object } from './multipart.js';

/** Upload arguments that also apply to a copy's destination (metadata and type are the source's). */
const COPY_ARGS = [
  'ACL',
  'ServerSideEncryption',
  'SSEKMSKeyId',
  'SSEKMSEncryptionContext',
  'BucketKeyEnabled',
  'StorageClass',
  'ExpectedBucketOwner',
  'RequestPayer',
];

export interface ServerCopy {
  from: { Bucket: string; Key: string };
  /** The destination, its requests and headers (its SSE-C key is the source's too: one scope). */
  to: S3Object;
  /** Objects above this are copied in parts. */
  cutoffBytes: number;
  /** Preferred part size; raised as needed to stay within `maxParts`. */
  partSizeBytes: number;
  concurrency: number;
  /** The upload arguments (the source's SSE-C headers, and those that apply to the destination). */
  uploadArgs: UploadExtraArgs;
}

/**
 * Copies an object within S3 without its bytes passing through this process: one CopyObject up to
 * the cutoff, else a multipart upload of UploadPartCopy ranges, pinned to the source's ETag so a
 * concurrent overwrite fails the copy instead of mixing two versions, and aborted on any failure
 * (nothing partial is ever visible at the destination). Throws the requests' (unmapped) errors.
 */
export async function serverCopy(copy: ServerCopy): Promise<void> {
  const { from, to } = copy;
  const { requests, Bucket, Key, sseC, payer, signal } = to;
  const answer = await headObject(requests, { ...from, sseC }, signal);
  const head = statFromHeaders(from.Key, answer);
  const size = head.size ?? 0;
  const source = {
    'x-amz-copy-source': `${from.Bucket}/${encodePath(from.Key)}`,
    ...(head.etag ? { 'x-amz-copy-source-if-match': head.etag } : {}),
    ...sseCHeaders(copy.uploadArgs, 'x-amz-copy-source-'),
    ...sseC,
  };
  const args = argHeaders(copy.uploadArgs, COPY_ARGS);
  if (size <= copy.cutoffBytes) {
    await requests.xml({ method: 'PUT', Bucket, Key, headers: { ...source, ...args }, signal });
    return;
  }
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(answer.headers))
    if (name.startsWith('x-amz-meta-') && value !== undefined) metadata[name] = headerString(value)!;
  const upload = xmlUpload((signal) => multipartRequests({ ...to, signal }), `s3://${Bucket}/${Key}`);
  const headers = { ...(head.contentType ? { 'content-type': head.contentType } : {}), ...metadata, ...args };
  await copyInParts<XmlPart>(
    {
      create: () => upload.create(headers, signal),
      copyPart: async ({ partNumber, start, end }) => {
        const answer = await requests.xml({
          method: 'PUT',
          Bucket,
          Key,
          query: { partNumber: String(partNumber), uploadId: upload.id },
          headers: { ...source, ...payer, 'x-amz-copy-source-range': `bytes=${start}-${end}` },
          signal,
        });
        return { PartNumber: partNumber, ETag: String(answer.CopyPartResult?.ETag ?? '') };
      },
      complete: async (parts) => {
        await upload.complete(parts, {}, signal);
      },
      // Not under the copy's signal: an aborted copy is cleaned up too.
      abort: () => upload.abort(),
    },
    { size, partSize: copy.partSizeBytes, limits: S3_PART_LIMITS, concurrency: copy.concurrency },
  );
}
