import { createHash } from 'node:crypto';
import {
  ArtifactsError,
  type CompletedPart,
  guessContentType,
  type MultipartCapability,
  type MultipartUpload,
  type OperationOptions,
  type PresignCapability,
  presignSeconds,
} from '@artifacts/core';
import { type BuiltClient, command, type LazyCommand } from './client.js';
import { s3ErrorCode } from './errors.js';
import type { SseC, UploadExtraArgs } from './extra-args.js';

/** S3's limit for SigV4 presigned URLs: 7 days. */

/** What the presigned side of the driver needs of it. */
export interface PresignTarget {
  built: BuiltClient;
  bucket: string;
  /** The object key of an artifact key (the repository root joined). */
  full(key: string): string;
  sseC: SseC;
  uploadArgs: UploadExtraArgs;
  /** The driver's error mapping. */
  error(error: unknown, key: string, action: string): unknown;
  /** The driver's send: the command, its errors mapped. */
  send<T>(command: LazyCommand, key: string, action: string, signal?: AbortSignal): Promise<T>;
}

/**
 * The proxy's direct transfers: presigned GET/PUT URLs, and multipart uploads whose parts a client
 * PUTs through presigned UploadPart URLs (with the SSE-C headers it must send).
 */
export function presignedTransfers(t: PresignTarget): {
  multipart: MultipartCapability;
  presign: PresignCapability;
} {
  const send = t.send;

  async function createMultipart(
    key: string,
    options: OperationOptions & { numParts: number; expiresInSeconds?: number },
  ): Promise<MultipartUpload> {
    const Key = t.full(key);
    const expiresIn = presignSeconds(options.expiresInSeconds);
    // No ChecksumAlgorithm: the parts arrive as plain PUTs through presigned URLs, without one.
    const { ChecksumAlgorithm: _checksum, ...args } = t.uploadArgs;
    const created = await send<{ UploadId?: string }>(
      command('CreateMultipartUpload', {
        Bucket: t.bucket,
        Key,
        ContentType: guessContentType(key),
        ...args,
        ...t.sseC,
      }),
      key,
      'starting a multipart upload of',
      options.signal,
    );
    const uploadId = created.UploadId;
    if (!uploadId)
      throw new ArtifactsError('internal', `S3 returned no UploadId for s3://${t.bucket}/${Key}`);
    try {
      const headers = sseCustomerHeaders(t.sseC);
      const credentials = [];
      for (let partNumber = 1; partNumber <= options.numParts; partNumber++) {
        const url = await t.built.presign(
          command('UploadPart', {
            Bucket: t.bucket,
            Key,
            UploadId: uploadId,
            PartNumber: partNumber,
            ...t.sseC,
          }),
          expiresIn,
        );
        credentials.push({ url, partNumber, headers: { ...headers } });
      }
      return { uploadId, credentials };
    } catch (error) {
      await abortMultipart(key, uploadId, {}).catch(() => undefined);
      throw t.error(error, key, 'presigning the parts of');
    }
  }

  async function completeMultipart(
    key: string,
    uploadId: string | null,
    parts: CompletedPart[],
    options: OperationOptions = {},
  ): Promise<void> {
    if (!uploadId) throw ArtifactsError.invalidArgument('an S3 multipart upload needs its upload_id');
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    await send(
      command('CompleteMultipartUpload', {
        Bucket: t.bucket,
        Key: t.full(key),
        UploadId: uploadId,
        MultipartUpload: {
          Parts: sorted.map((part) => ({
            PartNumber: part.partNumber,
            ETag: part.etag.startsWith('"') ? part.etag : `"${part.etag}"`,
          })),
        },
        ...t.sseC,
      }),
      key,
      'completing the multipart upload of',
      options.signal,
    );
  }

  async function abortMultipart(
    key: string,
    uploadId: string | null,
    options: OperationOptions = {},
  ): Promise<void> {
    if (!uploadId) throw ArtifactsError.invalidArgument('an S3 multipart upload needs its upload_id');
    try {
      await t.built.client.send(
        command('AbortMultipartUpload', { Bucket: t.bucket, Key: t.full(key), UploadId: uploadId }),
        options.signal ? { abortSignal: options.signal } : {},
      );
    } catch (error) {
      // Aborting an upload that is already gone leaves the state the caller asked for.
      if (s3ErrorCode(error) === 'NoSuchUpload') return;
      throw t.error(error, key, 'aborting the multipart upload of');
    }
  }

  async function presign(
    command: LazyCommand<'GetObject' | 'PutObject'>,
    key: string,
    options: (OperationOptions & { expiresInSeconds?: number }) | undefined,
  ): Promise<string> {
    try {
      return await t.built.presign(command, presignSeconds(options?.expiresInSeconds));
    } catch (error) {
      throw t.error(error, key, 'presigning');
    }
  }

  return {
    multipart: { create: createMultipart, complete: completeMultipart, abort: abortMultipart },
    presign: {
      getUrl: (key, options) =>
        presign(command('GetObject', { Bucket: t.bucket, Key: t.full(key) }), key, options),
      putUrl: (key, options) =>
        presign(
          command('PutObject', {
            Bucket: t.bucket,
            Key: t.full(key),
            ...(options?.contentType ? { ContentType: options.contentType } : {}),
          }),
          key,
          options,
        ),
    },
  };
}

/**
 * The SSE-C headers a client must send with each presigned part PUT, computed as the SDK does:
 * a key that is base64 of 32 bytes is used as is, any other string is taken as raw bytes.
 */
export function sseCustomerHeaders(sse: SseC): Record<string, string> {
  if (!sse.SSECustomerKey) return {};
  const raw = sse.SSECustomerKey;
  const decoded = Buffer.from(raw, 'base64');
  const bytes =
    /^[A-Za-z0-9+/]+={0,2}$/.test(raw) && decoded.length === 32 ? decoded : Buffer.from(raw, 'utf8');
  return {
    'x-amz-server-side-encryption-customer-algorithm': sse.SSECustomerAlgorithm ?? 'AES256',
    'x-amz-server-side-encryption-customer-key': bytes.toString('base64'),
    'x-amz-server-side-encryption-customer-key-md5':
      sse.SSECustomerKeyMD5 ?? createHash('md5').update(bytes).digest('base64'),
  };
}
