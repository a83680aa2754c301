import type { PartLimits, XmlMultipartSend } from '@artifacts/core';
import type { S3Requests } from './requests.js';

/** S3's multipart limits: 10,000 parts of 5 MiB (but the last) to 5 GiB. */
export const S3_PART_LIMITS: PartLimits = {
  maxParts: 10_000,
  minPartSize: 5 * 1024 * 1024,
  maxPartSize: 5 * 1024 ** 3,
};

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

/**
 * The object's requests of core's XML multipart protocol (create, complete, abort): the SSE-C
 * headers on create and complete, the request payer on each.
 */
export function multipartRequests(t: S3Object): XmlMultipartSend {
  return (request) =>
    t.requests.xml({
      ...request,
      Bucket: t.Bucket,
      Key: t.Key,
      headers: { ...request.headers, ...(request.method === 'POST' ? t.sseC : {}), ...t.payer },
      signal: t.signal,
    });
}
