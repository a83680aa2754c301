import { ArtifactsError, choosePartSize, forEachLimited } from '@artifacts/core';
import { command, type LazyClient } from './client.js';
import { isMissing, mapS3Error } from './errors.js';
import type { UploadExtraArgs } from './extra-args.js';
import { S3_PART_LIMITS } from './upload.js';

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
  client: LazyClient;
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
  /** Named in connection errors. */
  endpoint: string;
}

/**
 * Copies an object within S3 without its bytes passing through this process: one CopyObject up to
 * the cutoff, else a multipart upload of UploadPartCopy ranges, pinned to the source's ETag so a
 * concurrent overwrite fails the copy instead of mixing two versions, and aborted on any failure
 * (nothing partial is ever visible at the destination).
 */
export async function serverCopy(copy: ServerCopy): Promise<void> {
  try {
    await copyObject(copy);
  } catch (error) {
    const { from } = copy;
    if (isMissing(error)) throw ArtifactsError.notFound(`s3://${from.Bucket}/${from.Key}`, { cause: error });
    throw mapS3Error(error, {
      bucket: from.Bucket,
      key: from.Key,
      action: 'copying',
      endpoint: copy.endpoint,
    });
  }
}

async function copyObject(copy: ServerCopy): Promise<void> {
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
  const head = await client.send(command('HeadObject', { ...from, ...copy.sseC }), send);
  const size = head.ContentLength ?? 0;
  const pin = head.ETag ? { CopySourceIfMatch: head.ETag } : {};
  if (size <= copy.cutoffBytes) {
    await client.send(
      command('CopyObject', { ...to, CopySource, ...pin, ...sourceSseC, ...copy.sseC, ...args }),
      send,
    );
    return;
  }
  const created = await client.send(
    command('CreateMultipartUpload', {
      ...to,
      ...(head.ContentType ? { ContentType: head.ContentType } : {}),
      ...(head.Metadata ? { Metadata: head.Metadata } : {}),
      ...copy.sseC,
      ...args,
    }),
    send,
  );
  const UploadId = created.UploadId!;
  const partSize = choosePartSize(copy.partSizeBytes, size, S3_PART_LIMITS);
  const count = Math.ceil(size / partSize);
  const etags: string[] = new Array(count);
  try {
    let failed = false;
    // Once a part fails no other starts, and every part settles before the abort: none lands after it.
    await forEachLimited(
      Array.from({ length: count }, (_, index) => index),
      copy.concurrency,
      async (index) => {
        if (failed) return;
        const start = index * partSize;
        const end = Math.min(size, start + partSize) - 1;
        const part = await client
          .send(
            command('UploadPartCopy', {
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
      },
    );
    await client.send(
      command('CompleteMultipartUpload', {
        ...to,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        ...copy.sseC,
      }),
      send,
    );
  } catch (error) {
    await client.send(command('AbortMultipartUpload', { ...to, UploadId })).catch(() => undefined);
    throw error;
  }
}

/** `bucket/key` with the key percent-encoded as the x-amz-copy-source header needs (slashes kept). */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}
