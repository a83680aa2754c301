import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  type Checksum,
  type ChecksumAlgorithm,
  chunkedUpload,
  createHasher,
  type DriverWriteOptions,
  type DriverWriteResult,
  discardBody,
  engineOptions,
  type OpenContext,
  type PartLimits,
  type PartRequest,
  readBodyText,
  type SentBody,
} from '@artifacts/core';
import { XMLParser } from 'fast-xml-parser';
import { command, type LazyCommand } from './client.js';
import type { SseC, UploadExtraArgs } from './extra-args.js';
import { checksumFields, type LeanRequest, type LeanS3, sseCHeaders } from './lean.js';

/** S3's multipart limits: 10,000 parts of 5 MiB (but the last) to 5 GiB. */
export const S3_PART_LIMITS: PartLimits = {
  maxParts: 10_000,
  minPartSize: 5 * 1024 * 1024,
  maxPartSize: 5 * 1024 ** 3,
};

interface CompletedS3Part {
  PartNumber: number;
  ETag: string | undefined;
  ChecksumCRC32?: string;
  ChecksumCRC32C?: string;
  ChecksumSHA256?: string;
}

/** One upload: where it goes, with what, and the driver's send (its error mapping). */
export interface S3Upload {
  Bucket: string;
  Key: string;
  uploadArgs: UploadExtraArgs;
  sseC: SseC;
  algorithm: 'CRC32' | 'CRC32C' | 'SHA256' | undefined;
  partSize: number;
  concurrency: number;
  context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  /** Our own PUT requests (else the SDK's). */
  lean: LeanS3 | undefined;
  send<T>(command: LazyCommand, signal: AbortSignal, action?: string): Promise<T>;
  /** The driver's error mapping (for our own requests); `action` as `send`'s, default 'uploading'. */
  error(error: unknown, action?: string): unknown;
}

/**
 * A write through core's chunked-upload engine: one PutObject for a body that fits in a part, else a
 * multipart upload (parts retried alone, aborted on failure), with S3's whole-object CRC asked for so
 * core can compare it with the bytes it sent.
 */
export async function uploadObject(
  u: S3Upload,
  body: Readable,
  options: DriverWriteOptions,
): Promise<DriverWriteResult | undefined> {
  const { Bucket, Key, algorithm, send } = u;
  // A whole-object CRC for multipart uploads too (S3 combines the parts' CRCs), so core can
  // compare it with the bytes it sent; SHA-256 only exists per part (composite).
  const fullObject = algorithm === 'CRC32' || algorithm === 'CRC32C';
  const params = {
    Bucket,
    Key,
    ...(options.contentType ? { ContentType: options.contentType } : {}),
    ...u.uploadArgs,
    ...u.sseC,
    ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
  };
  const perPart = {
    ...(algorithm ? { ChecksumAlgorithm: algorithm } : {}),
    ...u.sseC,
    ...(u.uploadArgs.RequestPayer ? { RequestPayer: u.uploadArgs.RequestPayer } : {}),
  };
  // Our own PutObject (and multipart create, complete and abort) takes the arguments it has headers
  // for; any other goes through the SDK.
  const leanPut = Object.keys(u.uploadArgs).every((name) => LEAN_PUT_ARGS.has(name)) ? u.lean : undefined;
  const contentType = u.uploadArgs.ContentType ?? options.contentType;
  const leanHeaders = (part: PartRequest): Record<string, string> => ({
    'content-length': String(part.data.length),
    ...sseCHeaders(u.sseC),
    ...(u.uploadArgs.RequestPayer ? { 'x-amz-request-payer': u.uploadArgs.RequestPayer } : {}),
    ...(algorithm
      ? {
          [`x-amz-checksum-${algorithm.toLowerCase()}`]: partChecksum(algorithm, part)[
            `Checksum${algorithm}`
          ] as string,
        }
      : {}),
  });
  // Headers of our own CreateMultipartUpload and CompleteMultipartUpload.
  const multipartHeaders: Record<string, string> = {
    ...sseCHeaders(u.sseC),
    ...(u.uploadArgs.RequestPayer ? { 'x-amz-request-payer': u.uploadArgs.RequestPayer } : {}),
    ...(fullObject ? { 'x-amz-checksum-type': 'FULL_OBJECT' } : {}),
  };
  let UploadId: string | undefined;
  let sent: SentBody | undefined;
  const result = await chunkedUpload<CompletedS3Part, Record<string, unknown>>(
    body,
    {
      // Under a stall timeout, bodies go out as streams of the part's buffer: the SDK takes a
      // chunk as the socket drains, which is the progress the timeout sees (and it does not
      // retry a stream body, so its retries never stack with the engine's). Without one, the
      // buffer itself (cheaper: measured in docs/benchmarks/s3.md).
      putWhole: (part) =>
        leanPut
          ? leanSend(u, leanPut, {
              method: 'PUT',
              Bucket,
              Key,
              headers: { ...leanHeaders(part), ...(contentType ? { 'content-type': contentType } : {}) },
              body: part.watched ? part.body() : part.data,
              signal: part.signal,
            })
          : send(
              command('PutObject', {
                ...params,
                Body: part.watched ? part.body() : part.data,
                ContentLength: part.data.length,
                ...partChecksum(algorithm, part),
              }),
              part.signal,
            ),
      create: async (_plan, context) => {
        if (leanPut) {
          const answer = await leanXml(u, leanPut, 'starting a multipart upload of', {
            method: 'POST',
            Bucket,
            Key,
            query: { uploads: '' },
            headers: {
              ...(contentType ? { 'content-type': contentType } : {}),
              ...multipartHeaders,
              ...(algorithm ? { 'x-amz-checksum-algorithm': algorithm } : {}),
            },
            signal: context.signal,
          });
          UploadId = text(answer.InitiateMultipartUploadResult?.UploadId);
          if (!UploadId) throw new ArtifactsError('internal', `S3 returned no UploadId for ${Key}`);
          return;
        }
        const created = await send<{ UploadId?: string }>(
          command('CreateMultipartUpload', {
            ...params,
            ...(fullObject ? { ChecksumType: 'FULL_OBJECT' } : {}),
          }),
          context.signal,
          'starting a multipart upload of',
        );
        UploadId = created.UploadId;
        if (!UploadId) throw new ArtifactsError('internal', `S3 returned no UploadId for ${Key}`);
      },
      uploadPart: async (part) => {
        const out = u.lean
          ? await leanSend(u, u.lean, {
              method: 'PUT',
              Bucket,
              Key,
              query: { partNumber: String(part.partNumber), uploadId: UploadId as string },
              headers: leanHeaders(part),
              body: part.watched ? part.body() : part.data,
              signal: part.signal,
            })
          : await send<Record<string, string | undefined>>(
              command('UploadPart', {
                Bucket,
                Key,
                UploadId,
                PartNumber: part.partNumber,
                Body: part.watched ? part.body() : part.data,
                ContentLength: part.data.length,
                ...perPart,
                ...partChecksum(algorithm, part),
              }),
              part.signal,
            );
        return {
          PartNumber: part.partNumber,
          ETag: out.ETag,
          ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
          ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
          ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
        };
      },
      complete: async (parts, context) => {
        if (leanPut) {
          const body = Buffer.from(completeXml(parts));
          const answer = await leanXml(u, leanPut, 'completing the multipart upload of', {
            method: 'POST',
            Bucket,
            Key,
            query: { uploadId: UploadId as string },
            headers: {
              'content-type': 'application/xml',
              'content-length': String(body.length),
              ...multipartHeaders,
            },
            body,
            signal: context.signal,
          });
          const done = answer.CompleteMultipartUploadResult;
          // S3 may answer 200 and still fail, with an <Error> body.
          if (!done) throw u.error(xmlFailure(answer), 'completing the multipart upload of');
          return Object.fromEntries(
            Object.entries(done).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
          );
        }
        return send(
          command('CompleteMultipartUpload', {
            Bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: parts },
            ...(fullObject ? { ChecksumType: 'FULL_OBJECT' } : {}),
            ...u.sseC,
          }),
          context.signal,
          'completing the multipart upload of',
        );
      },
      abort: async (context) => {
        // The create failed: nothing to abort.
        if (UploadId === undefined) return;
        if (leanPut) {
          await leanSend(u, leanPut, {
            method: 'DELETE',
            Bucket,
            Key,
            query: { uploadId: UploadId as string },
            headers: u.uploadArgs.RequestPayer ? { 'x-amz-request-payer': u.uploadArgs.RequestPayer } : {},
            signal: context.signal,
          });
          return;
        }
        await send(command('AbortMultipartUpload', { Bucket, Key, UploadId }), context.signal);
      },
    },
    {
      partSize: u.partSize,
      concurrency: u.concurrency,
      limits: S3_PART_LIMITS,
      size: options.size,
      ...engineOptions(u.context, options),
      what: `uploading s3://${Bucket}/${Key}`,
      // The CRC each part's header carries is its only hash: the whole body's comes from them.
      crc: algorithm === 'CRC32' ? 'crc32' : algorithm === 'CRC32C' ? 'crc32c' : undefined,
      onSent: (body) => {
        sent = body;
      },
    },
  );
  const checksum = pickChecksum(result);
  return checksum || sent ? { ...(checksum ? { checksum } : {}), ...(sent ? { sent } : {}) } : undefined;
}

/** PutObject arguments our own request sends as headers (the rest need the SDK's serializer). */
const LEAN_PUT_ARGS = new Set(['ChecksumAlgorithm', 'ContentType', 'ExpectedBucketOwner', 'RequestPayer']);

const xml = new XMLParser({ parseTagValue: false });

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

const escapeXml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** CompleteMultipartUpload's body: each part's number, ETag and checksum, in order. */
function completeXml(parts: CompletedS3Part[]): string {
  const members = ['ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumSHA256'] as const;
  const body = parts
    .map((part) => {
      const fields = [`<PartNumber>${part.PartNumber}</PartNumber>`];
      if (part.ETag !== undefined) fields.push(`<ETag>${escapeXml(part.ETag)}</ETag>`);
      for (const member of members) {
        const value = part[member];
        if (value !== undefined) fields.push(`<${member}>${escapeXml(value)}</${member}>`);
      }
      return `<Part>${fields.join('')}</Part>`;
    })
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</CompleteMultipartUpload>`;
}

/** An `<Error>` in a 200 answer (CompleteMultipartUpload), shaped as the SDK throws it: a server fault. */
function xmlFailure(answer: Record<string, Record<string, unknown> | undefined>): Error {
  const failure = answer.Error ?? {};
  const code = text(failure.Code);
  return Object.assign(new Error(text(failure.Message) || code || 'S3 answered without a result'), {
    name: code ?? 'UnknownError',
    ...(code ? { Code: code } : {}),
    $fault: 'server',
    $metadata: {
      httpStatusCode: 500,
      ...(text(failure.RequestId) ? { requestId: text(failure.RequestId) } : {}),
    },
  });
}

/** Our own request whose answer is an XML document, parsed. */
async function leanXml(
  u: S3Upload,
  lean: LeanS3,
  action: string,
  request: LeanRequest,
): Promise<Record<string, Record<string, unknown> | undefined>> {
  try {
    const answer = await lean.send(request);
    return xml.parse(await readBodyText(answer.body)) as Record<string, Record<string, unknown> | undefined>;
  } catch (error) {
    throw u.error(error, action);
  }
}

/** Our own PUT: S3's answer headers as the SDK's output members (ETag, checksums). */
async function leanSend(
  u: S3Upload,
  lean: LeanS3,
  request: LeanRequest,
): Promise<Record<string, string | undefined>> {
  try {
    const answer = await lean.send(request);
    await discardBody(answer.body);
    return checksumFields(answer.headers);
  } catch (error) {
    throw u.error(error);
  }
}

/**
 * A part's checksum as its request member: the SDK then sends it as a header instead of hashing the
 * body itself (as an aws-chunked trailer when the body is a stream, the costlier encoding), and S3
 * still verifies it against the bytes it received.
 */
function partChecksum(algorithm: S3Upload['algorithm'], part: PartRequest): Record<string, string> {
  if (!algorithm) return {};
  // A CRC the engine computed once for the part and the whole body.
  if (part.crc !== undefined) return { [`Checksum${algorithm}`]: part.crc };
  const hasher = createHasher(algorithm.toLowerCase() as ChecksumAlgorithm);
  hasher.update(part.data);
  return { [`Checksum${algorithm}`]: hasher.digest() };
}

/** The whole-object checksum S3 reports, if any: composite multipart checksums (`…-N`) are not. */
export function pickChecksum(output: Record<string, unknown>): Checksum | undefined {
  if (output.ChecksumType === 'COMPOSITE') return undefined;
  const candidates: Array<[string, Checksum['algorithm']]> = [
    ['ChecksumCRC32', 'crc32'],
    ['ChecksumCRC32C', 'crc32c'],
    ['ChecksumSHA256', 'sha256'],
  ];
  for (const [field, algorithm] of candidates) {
    const value = output[field];
    if (typeof value === 'string' && value !== '' && !/-\d+$/.test(value)) return { algorithm, value };
  }
  return undefined;
}
