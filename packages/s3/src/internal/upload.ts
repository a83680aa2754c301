import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';

/** S3 multipart uploads take at most this many parts. */
export const MAX_PARTS = 10_000;

export interface StreamUploadOptions {
  client: S3Client;
  /** Bucket, Key, ContentType, extra args, SSE-C, ChecksumAlgorithm… (no Body). */
  params: Omit<PutObjectCommandInput, 'Body'>;
  body: Readable;
  partSize: number;
  /** Parts in flight at once. */
  queueSize: number;
  /** Ask for a whole-object checksum on multipart uploads (CRC algorithms only). */
  fullObjectChecksum: boolean;
  signal?: AbortSignal;
}

export type UploadResult = Record<string, unknown>;

/**
 * Streams a body to S3: one PutObject when it fits in a part, else a multipart upload with
 * `queueSize` parts in flight. Parts are copied into `queueSize + 1` buffers allocated once and
 * reused, so an upload of any size holds a flat `(queueSize + 1) × partSize` and makes no garbage
 * per part (lib-storage's chunker concatenates every part anew, which left ~100 MiB of garbage
 * behind a large upload and broke the memory bound). Any failure, and the caller's signal, aborts
 * the requests in flight and then the multipart upload, before this returns: nothing is left.
 */
export async function streamUpload(options: StreamUploadOptions): Promise<UploadResult> {
  const { client, params, body, partSize, queueSize, signal } = options;
  const send = <T>(command: unknown): Promise<T> =>
    client.send(command as never, signal ? { abortSignal: signal } : {}) as Promise<T>;

  // Small bodies: gather chunks until a part's worth; a body that ends first is one PutObject.
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < partSize) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headLength += next.value.length;
  }
  if (ended) {
    const data = head.length === 1 ? head[0]! : Buffer.concat(head, headLength);
    return send<UploadResult>(new PutObjectCommand({ ...params, Body: data, ContentLength: data.length }));
  }

  const created = await send<{ UploadId?: string }>(
    new CreateMultipartUploadCommand({
      ...params,
      ...(options.fullObjectChecksum ? { ChecksumType: 'FULL_OBJECT' } : {}),
    }),
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new Error(`S3 returned no UploadId for ${params.Key}`);

  const free: Buffer[] = [];
  const takeBuffer = (): Buffer => free.pop() ?? Buffer.allocUnsafe(partSize);
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let partNumber = 0;

  const dispatch = (buffer: Buffer, length: number) => {
    const number = ++partNumber;
    if (number > MAX_PARTS) {
      throw new Error(
        `the body needs more than ${MAX_PARTS} parts of ${partSize} bytes; raise partSizeBytes (ARTIFACTS_S3_PART_SIZE)`,
      );
    }
    const promise = send<Record<string, string | undefined>>(
      new UploadPartCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        PartNumber: number,
        Body: buffer.subarray(0, length),
        ContentLength: length,
        ...(params.ChecksumAlgorithm ? { ChecksumAlgorithm: params.ChecksumAlgorithm } : {}),
        ...(params.SSECustomerAlgorithm ? { SSECustomerAlgorithm: params.SSECustomerAlgorithm } : {}),
        ...(params.SSECustomerKey ? { SSECustomerKey: params.SSECustomerKey } : {}),
        ...(params.SSECustomerKeyMD5 ? { SSECustomerKeyMD5: params.SSECustomerKeyMD5 } : {}),
        ...(params.RequestPayer ? { RequestPayer: params.RequestPayer } : {}),
      }),
    ).then(
      (out) => {
        parts.push({
          PartNumber: number,
          ETag: out.ETag,
          ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
          ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
          ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
        });
        free.push(buffer);
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = promise.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  try {
    let buffer = takeBuffer();
    let filled = 0;
    const append = async (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length) {
        const n = chunk.copy(buffer, filled, offset, Math.min(chunk.length, offset + partSize - filled));
        filled += n;
        offset += n;
        if (filled === partSize) {
          dispatch(buffer, filled);
          // Backpressure: the body is read no faster than the parts leave.
          while (inFlight.size >= queueSize && failure === undefined) await Promise.race(inFlight);
          if (failure !== undefined) throw failure;
          buffer = takeBuffer();
          filled = 0;
        }
      }
    };
    for (const chunk of head) await append(chunk);
    head.length = 0;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      await append(next.value);
      if (failure !== undefined) throw failure;
    }
    if (filled > 0) dispatch(buffer, filled);
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    signal?.throwIfAborted();
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    return await send<UploadResult>(
      new CompleteMultipartUploadCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts },
        ...(options.fullObjectChecksum ? { ChecksumType: 'FULL_OBJECT' } : {}),
        ...(params.SSECustomerAlgorithm ? { SSECustomerAlgorithm: params.SSECustomerAlgorithm } : {}),
        ...(params.SSECustomerKey ? { SSECustomerKey: params.SSECustomerKey } : {}),
        ...(params.SSECustomerKeyMD5 ? { SSECustomerKeyMD5: params.SSECustomerKeyMD5 } : {}),
      }),
    );
  } catch (error) {
    // Let the parts in flight settle (the signal, if any, cuts them short), then drop the upload.
    await Promise.allSettled(inFlight);
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }))
      .catch(() => undefined);
    iterator.return?.(undefined)?.catch(() => undefined);
    throw error;
  }
}
