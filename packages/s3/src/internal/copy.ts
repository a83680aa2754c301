import { ArtifactsError } from '@artifacts/core';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import type { UploadExtraArgs } from './extra-args.js';

/** S3's multipart limits, which every part plan stays within. */
export const COPY_LIMITS = {
  maxParts: 10_000,
  minPartBytes: 5 * 1024 * 1024,
  maxPartBytes: 5 * 1024 * 1024 * 1024,
  /** The largest object one CopyObject may copy. */
  maxSingleCopyBytes: 5 * 1024 * 1024 * 1024,
} as const;

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
] as const;

export interface ServerCopy {
  client: S3Client;
  from: { Bucket: string; Key: string };
  to: { Bucket: string; Key: string };
  /** Objects above this are copied in parts. */
  cutoffBytes: number;
  /** Preferred part size; raised as needed to stay within `maxParts`. */
  partSizeBytes: number;
  concurrency: number;
  uploadArgs: UploadExtraArgs;
  /** SSE-C key, for both the source and the destination (one scope, one key). */
  sseC: { SSECustomerAlgorithm?: string; SSECustomerKey?: string; SSECustomerKeyMD5?: string };
  signal?: AbortSignal;
}

/** The part size for a multipart copy of `size` bytes: at least `preferred`, within S3's limits. */
export function copyPartSize(size: number, preferred: number): number {
  const needed = Math.ceil(size / COPY_LIMITS.maxParts);
  const part = Math.max(preferred, needed, COPY_LIMITS.minPartBytes);
  if (part > COPY_LIMITS.maxPartBytes)
    throw ArtifactsError.invalidArgument(`an object of ${size} bytes is larger than S3 can copy in parts`);
  return part;
}

/**
 * Copies an object within S3 without its bytes passing through this process: one CopyObject up to
 * the cutoff, else a multipart upload of UploadPartCopy ranges, pinned to the source's ETag so a
 * concurrent overwrite fails the copy instead of mixing two versions, and aborted on any failure
 * (nothing partial is ever visible at the destination).
 */
export async function serverCopy(copy: ServerCopy): Promise<void> {
  const { client, from, to, signal } = copy;
  const send = { ...(signal ? { abortSignal: signal } : {}) };
  const CopySource = copySource(from.Bucket, from.Key);
  const sourceSseC = {
    ...(copy.sseC.SSECustomerAlgorithm
      ? { CopySourceSSECustomerAlgorithm: copy.sseC.SSECustomerAlgorithm }
      : {}),
    ...(copy.sseC.SSECustomerKey ? { CopySourceSSECustomerKey: copy.sseC.SSECustomerKey } : {}),
    ...(copy.sseC.SSECustomerKeyMD5 ? { CopySourceSSECustomerKeyMD5: copy.sseC.SSECustomerKeyMD5 } : {}),
  };
  const args: Record<string, unknown> = {};
  for (const name of COPY_ARGS) if (copy.uploadArgs[name] !== undefined) args[name] = copy.uploadArgs[name];
  const head = await client.send(new HeadObjectCommand({ ...from, ...copy.sseC }), send);
  const size = head.ContentLength ?? 0;
  const pin = head.ETag ? { CopySourceIfMatch: head.ETag } : {};
  if (size <= copy.cutoffBytes) {
    await client.send(
      new CopyObjectCommand({ ...to, CopySource, ...pin, ...sourceSseC, ...copy.sseC, ...args }),
      send,
    );
    return;
  }
  const created = await client.send(
    new CreateMultipartUploadCommand({
      ...to,
      ...(head.ContentType ? { ContentType: head.ContentType } : {}),
      ...(head.Metadata ? { Metadata: head.Metadata } : {}),
      ...copy.sseC,
      ...args,
    }),
    send,
  );
  const UploadId = created.UploadId!;
  const partSize = copyPartSize(size, copy.partSizeBytes);
  const count = Math.ceil(size / partSize);
  const etags: string[] = new Array(count);
  try {
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < count && !failed) {
        const index = next++;
        const start = index * partSize;
        const end = Math.min(size, start + partSize) - 1;
        const part = await client
          .send(
            new UploadPartCopyCommand({
              ...to,
              UploadId,
              PartNumber: index + 1,
              CopySource,
              CopySourceRange: `bytes=${start}-${end}`,
              ...pin,
              ...sourceSseC,
              ...copy.sseC,
            }),
            send,
          )
          .catch((error: unknown) => {
            failed = true;
            throw error;
          });
        etags[index] = part.CopyPartResult?.ETag ?? '';
      }
    };
    // Every worker stops before the abort, so no part lands after it.
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(copy.concurrency, count) }, worker),
    );
    const rejected = settled.find((result) => result.status === 'rejected');
    if (rejected) throw rejected.reason;
    await client.send(
      new CompleteMultipartUploadCommand({
        ...to,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        ...copy.sseC,
      }),
      send,
    );
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ ...to, UploadId })).catch(() => undefined);
    throw error;
  }
}

/** `bucket/key` with the key percent-encoded as the x-amz-copy-source header needs (slashes kept). */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
