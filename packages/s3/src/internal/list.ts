import { readBodyText } from '@artifacts/core';
import type { ListObjectsV2CommandInput } from '@aws-sdk/client-s3';
import { XMLParser } from 'fast-xml-parser';
import { type BuiltClient, command } from './client.js';

/** The members of a ListObjectsV2 answer the driver reads. */
export interface ListPage {
  Contents?: Array<{ Key?: string; Size?: number }>;
  CommonPrefixes?: Array<{ Prefix?: string }>;
  IsTruncated?: boolean;
  NextContinuationToken?: string;
  KeyCount?: number;
}

const xml = new XMLParser({
  parseTagValue: false,
  isArray: (name) => name === 'Contents' || name === 'CommonPrefixes',
});

/** `encoding-type=url` names: percent-encoded, a space as `+`. */
function decodeName(value: unknown): string | undefined {
  return typeof value === 'string' ? decodeURIComponent(value.replace(/\+/g, ' ')) : undefined;
}

/**
 * ListObjectsV2: our own GET when the driver has one (names asked URL-encoded, so any key survives
 * the XML), else the SDK's command.
 */
export async function listObjects(
  built: Pick<BuiltClient, 'client' | 'lean'>,
  input: ListObjectsV2CommandInput & { Bucket: string },
  signal: AbortSignal | undefined,
): Promise<ListPage> {
  const { lean, client } = built;
  if (!lean) return client.send(command('ListObjectsV2', input), signal ? { abortSignal: signal } : {});
  const answer = await lean.send({
    method: 'GET',
    Bucket: input.Bucket,
    Key: '',
    query: {
      'list-type': '2',
      'encoding-type': 'url',
      prefix: input.Prefix ?? '',
      ...(input.Delimiter ? { delimiter: input.Delimiter } : {}),
      ...(input.ContinuationToken ? { 'continuation-token': input.ContinuationToken } : {}),
      ...(input.MaxKeys ? { 'max-keys': String(input.MaxKeys) } : {}),
    },
    headers: {},
    signal,
  });
  const result = (
    xml.parse(await readBodyText(answer.body)) as { ListBucketResult?: Record<string, unknown> }
  ).ListBucketResult;
  if (!result) throw new Error('S3 answered a listing without a ListBucketResult');
  const contents = (result.Contents ?? []) as Array<{ Key?: unknown; Size?: unknown }>;
  const prefixes = (result.CommonPrefixes ?? []) as Array<{ Prefix?: unknown }>;
  const token = result.NextContinuationToken;
  return {
    Contents: contents.map((c) => ({
      Key: decodeName(c.Key),
      ...(c.Size === undefined ? {} : { Size: Number(c.Size) }),
    })),
    CommonPrefixes: prefixes.map((p) => ({ Prefix: decodeName(p.Prefix) })),
    IsTruncated: result.IsTruncated === 'true',
    ...(typeof token === 'string' ? { NextContinuationToken: token } : {}),
    KeyCount: Number(result.KeyCount ?? contents.length + prefixes.length),
  };
}
