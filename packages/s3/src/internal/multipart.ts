import { ArtifactsError, discardBody, type PartLimits } from '@artifacts/core';
import type { S3Requests } from './requests.js';

/** S3's multipart limits: 10,000 parts of 5 MiB (but the last) to 5 GiB. */
export const S3_PART_LIMITS: PartLimits = {
  maxParts: 10_000,
  minPartSize: 5 * 1024 * 1024,
  maxPartSize: 5 * 1024 ** 3,
};

/** A part of a multipart upload as CompleteMultipartUpload lists it. */
export interface CompletedS3Part {
  PartNumber: number;
  ETag: string | undefined;
  ChecksumCRC32?: string;
  ChecksumCRC32C?: string;
  ChecksumSHA256?: string;
}

/** One object's requests: where it is, and the headers every request on it carries. */
export interface S3Object {
  requests: S3Requests;
  Bucket: string;
  Key: string;
  /** SSE-C headers (`sseCHeaders`). */
  sseC: Record<string, string>;
  /** The upload arguments' `x-amz-request-payer`, if any. */
  payer: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** CreateMultipartUpload with the object's headers (type, upload arguments, checksum); its UploadId. */
export async function createMultipart(t: S3Object, headers: Record<string, string>): Promise<string> {
  const { Bucket, Key, signal } = t;
  const answer = await t.requests.xml({
    method: 'POST',
    Bucket,
    Key,
    query: { uploads: '' },
    headers: { ...headers, ...t.sseC, ...t.payer },
    signal,
  });
  const id = answer.InitiateMultipartUploadResult?.UploadId;
  if (typeof id !== 'string' || id === '')
    throw new ArtifactsError('internal', `S3 returned no UploadId for s3://${Bucket}/${Key}`);
  return id;
}

/** CompleteMultipartUpload of the parts, in order; the answer's members (its checksum). */
export async function completeMultipart(
  t: S3Object,
  uploadId: string,
  parts: readonly CompletedS3Part[],
  headers: Record<string, string> = {},
): Promise<Record<string, string>> {
  const members = ['ETag', 'ChecksumCRC32', 'ChecksumCRC32C', 'ChecksumSHA256'] as const;
  const xml = parts
    .map((part) => {
      let fields = `<PartNumber>${part.PartNumber}</PartNumber>`;
      for (const member of members) {
        const value = part[member];
        if (value !== undefined) fields += `<${member}>${escapeXml(value)}</${member}>`;
      }
      return `<Part>${fields}</Part>`;
    })
    .join('');
  const body = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${xml}</CompleteMultipartUpload>`,
  );
  const answer = await t.requests.xml({
    method: 'POST',
    Bucket: t.Bucket,
    Key: t.Key,
    query: { uploadId },
    headers: {
      'content-type': 'application/xml',
      'content-length': String(body.length),
      ...headers,
      ...t.sseC,
      ...t.payer,
    },
    body,
    signal: t.signal,
  });
  const done = answer.CompleteMultipartUploadResult ?? {};
  return Object.fromEntries(
    Object.entries(done).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

/** AbortMultipartUpload. */
export async function abortMultipart(t: S3Object, uploadId: string): Promise<void> {
  const answer = await t.requests.send({
    method: 'DELETE',
    Bucket: t.Bucket,
    Key: t.Key,
    query: { uploadId },
    headers: t.payer,
    signal: t.signal,
  });
  await discardBody(answer.body);
}

export const escapeXml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
