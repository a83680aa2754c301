import type { Readable } from 'node:stream';
import {
  type Checksum,
  chunkedUpload,
  type DriverWriteOptions,
  type DriverWriteResult,
  discardBody,
  engineOptions,
  headerString,
  type OpenContext,
  type PartRequest,
  type SentBody,
  type XmlPart,
  xmlUpload,
} from '@artifacts/core';
import { multipartRequests, S3_PART_LIMITS, type S3Object } from './multipart.js';

/** One upload: where it goes, with which headers, and the driver's error mapping. */
export interface S3Upload extends S3Object {
  /** The upload arguments' headers (`argHeaders`), the content type among them when given. */
  headers: Record<string, string>;
  algorithm: 'CRC32' | 'CRC32C' | 'SHA256' | undefined;
  partSize: number;
  concurrency: number;
  context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  /** Runs one call, its failure mapped by the driver (`action`: what failed). */
  run<T>(action: string, call: () => Promise<T>): Promise<T>;
}

/**
 * A write through core's chunked-upload engine: one PutObject for a body that fits in a part, else a
 * multipart upload (parts retried alone, aborted on failure), with S3's whole-object CRC asked for so
 * core can compare it with the bytes it sent. Each part's checksum goes as a header, computed once
 * from the part's buffer by the engine (its CRC, which also gives the whole body's, or its SHA-256).
 */
export async function uploadObject(
  u: S3Upload,
  body: Readable,
  options: DriverWriteOptions,
): Promise<DriverWriteResult | undefined> {
  const { Bucket, Key, algorithm, requests } = u;
  // A whole-object CRC for multipart uploads too (S3 combines the parts' CRCs); SHA-256 only
  // exists per part (composite).
  const fullObject = algorithm === 'CRC32' || algorithm === 'CRC32C';
  const object = { ...(options.contentType ? { 'content-type': options.contentType } : {}), ...u.headers };
  const partHeaders = (part: PartRequest): Record<string, string> => ({
    'content-length': String(part.data.length),
    ...u.sseC,
    ...u.payer,
    ...(algorithm ? { [`x-amz-checksum-${algorithm.toLowerCase()}`]: (part.crc ?? part.digest)! } : {}),
  });
  const mapped = u.run;
  // Under a stall timeout, bodies go out as streams of the part's buffer (progress the timeout
  // sees); without one, the buffer itself (cheaper: docs/benchmarks/s3.md): `payload()`.
  const put = (part: PartRequest, headers: Record<string, string>, query?: Record<string, string>) =>
    mapped('upload', async () => {
      const answer = await requests.send({
        method: 'PUT',
        Bucket,
        Key,
        ...(query ? { query } : {}),
        headers,
        body: part.payload(),
        payload: part.data,
        signal: part.signal,
      });
      await discardBody(answer.body);
      return answer.headers;
    });
  const upload = xmlUpload((signal) => multipartRequests({ ...u, signal }), `s3://${Bucket}/${Key}`);
  const whole: Record<string, string> = fullObject ? { 'x-amz-checksum-type': 'FULL_OBJECT' } : {};
  let sent: SentBody | undefined;
  const result = await chunkedUpload<XmlPart, Record<string, unknown>>(
    body,
    {
      putWhole: (part) => put(part, { ...object, ...partHeaders(part) }),
      create: (_plan, { signal }) =>
        mapped('starting a multipart upload', () =>
          upload.create(
            { ...object, ...whole, ...(algorithm ? { 'x-amz-checksum-algorithm': algorithm } : {}) },
            signal,
          ),
        ),
      uploadPart: async (part) => {
        const query = { partNumber: String(part.partNumber), uploadId: upload.id };
        const headers = await put(part, partHeaders(part), query);
        const done: XmlPart = { PartNumber: part.partNumber, ETag: headerString(headers.etag) };
        for (const name of ['CRC32', 'CRC32C', 'SHA256'] as const) {
          const value = headerString(headers[`x-amz-checksum-${name.toLowerCase()}`]);
          if (value) done[`Checksum${name}`] = value;
        }
        return done;
      },
      complete: (parts, { signal }) =>
        mapped('completing a multipart upload', () => upload.complete(parts, whole, signal)),
      abort: ({ signal }) => mapped('upload', () => upload.abort(signal)),
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
      // SHA-256 exists per part only (composite): each part's, hashed once by the engine.
      partDigest: algorithm === 'SHA256' ? 'sha256' : undefined,
      onSent: (body) => {
        sent = body;
      },
    },
  );
  const checksum = pickChecksum(result);
  return checksum || sent ? { ...(checksum ? { checksum } : {}), ...(sent ? { sent } : {}) } : undefined;
}

/**
 * The whole-object checksum S3 reports, in an answer's headers (`x-amz-checksum-crc32`) or
 * CompleteMultipartUpload's members (`ChecksumCRC32`), if any: composite checksums (`…-N`) are not.
 */
export function pickChecksum(fields: Record<string, unknown>): Checksum | undefined {
  if ((fields.ChecksumType ?? fields['x-amz-checksum-type']) === 'COMPOSITE') return undefined;
  for (const algorithm of ['crc32', 'crc32c', 'sha256'] as const) {
    const value = fields[`x-amz-checksum-${algorithm}`] ?? fields[`Checksum${algorithm.toUpperCase()}`];
    if (typeof value === 'string' && value !== '' && !/-\d+$/.test(value)) return { algorithm, value };
  }
  return undefined;
}
