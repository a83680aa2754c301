import { createHash } from 'node:crypto';
import { escapeXml, type ListPage, type ObjectListing, type ObjectListRequest } from '@artifacts/core';
import type { S3Requests } from './requests.js';

/** `encoding-type=url` names: percent-encoded, a space as `+`. */
const decodeName = (value: unknown) => decodeURIComponent(String(value).replace(/\+/g, ' '));

/** ListObjectsV2, names asked URL-encoded (so any key survives the XML): one page for core's `ObjectTree`. */
export async function listObjects(
  requests: S3Requests,
  Bucket: string,
  { prefix, recursive, token, limit, signal }: ObjectListRequest,
): Promise<ListPage<ObjectListing>> {
  const answer = await requests.xml({
    method: 'GET',
    Bucket,
    Key: '',
    query: {
      'list-type': '2',
      'encoding-type': 'url',
      prefix,
      ...(recursive ? {} : { delimiter: '/' }),
      ...(token ? { 'continuation-token': token } : {}),
      ...(limit ? { 'max-keys': String(limit) } : {}),
    },
    signal,
  });
  const result = answer.ListBucketResult;
  if (!result) throw new Error('S3 answered a listing without a ListBucketResult');
  const contents = (result.Contents ?? []) as Array<{ Key?: unknown; Size?: unknown }>;
  const prefixes = (result.CommonPrefixes ?? []) as Array<{ Prefix?: unknown }>;
  const next = result.NextContinuationToken;
  return {
    page: {
      objects: contents.map((c) => ({ name: decodeName(c.Key), size: Number(c.Size ?? 0) })),
      prefixes: prefixes.map((p) => decodeName(p.Prefix)),
    },
    next: result.IsTruncated === 'true' && typeof next === 'string' ? next : undefined,
  };
}

/** DeleteObjects (quiet): the keys' failures S3 reports, if any. */
export async function deleteObjects(
  requests: S3Requests,
  Bucket: string,
  keys: readonly string[],
  signal: AbortSignal | undefined,
): Promise<Array<{ Key?: string; Code?: string; Message?: string }>> {
  const objects = keys.map((key) => `<Object><Key>${escapeXml(key)}</Key></Object>`).join('');
  const body = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>${objects}</Delete>`,
  );
  const answer = await requests.xml({
    method: 'POST',
    Bucket,
    Key: '',
    query: { delete: '' },
    headers: {
      'content-type': 'application/xml',
      'content-length': String(body.length),
      // S3 requires the body's MD5 (or a checksum) on DeleteObjects.
      'content-md5': createHash('md5').update(body).digest('base64'),
    },
    body,
    signal,
  });
  return (answer.DeleteResult?.Error ?? []) as Array<{ Key?: string; Code?: string; Message?: string }>;
}
