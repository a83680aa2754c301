import {
  abortXmlMultipart,
  choosePartSize,
  completeXmlMultipart,
  createXmlMultipart,
  encodePath,
  forEachLimited,
  headerString,
  statFromHeaders,
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
  const uploadId = await createXmlMultipart(
    multipartRequests(to),
    { ...(head.contentType ? { 'content-type': head.contentType } : {}), ...metadata, ...args },
    `s3://${Bucket}/${Key}`,
  );
  const partSize = choosePartSize(copy.partSizeBytes, size, S3_PART_LIMITS);
  const count = Math.ceil(size / partSize);
  const etags: string[] = new Array(count);
  try {
    // Once a part fails no other starts, and every part settles before the abort: none lands after it.
    await forEachLimited(
      Array.from({ length: count }, (_, index) => index),
      copy.concurrency,
      async (index) => {
        const start = index * partSize;
        const end = Math.min(size, start + partSize) - 1;
        const answer = await requests.xml({
          method: 'PUT',
          Bucket,
          Key,
          query: { partNumber: String(index + 1), uploadId },
          headers: { ...source, ...payer, 'x-amz-copy-source-range': `bytes=${start}-${end}` },
          signal,
        });
        etags[index] = String(answer.CopyPartResult?.ETag ?? '');
      },
      { stopAfterFailure: true },
    );
    const parts = etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
    await completeXmlMultipart(multipartRequests(to), uploadId, parts);
  } catch (error) {
    // Not under the copy's signal: an aborted copy is cleaned up too.
    await abortXmlMultipart(multipartRequests({ ...to, signal: undefined }), uploadId).catch(() => undefined);
    throw error;
  }
}
