import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type HttpAnswer, type HttpPool, readBodyText } from '@artifacts/core';
import { XMLParser } from 'fast-xml-parser';
import type { SseC } from './extra-args.js';
import { type SigningCredentials, SigV4 } from './sigv4.js';

/** Where our requests get their identity and region: given, or the SDK's resolved providers. */
export interface LeanIdentity {
  credentials(): SigningCredentials | Promise<SigningCredentials>;
  region(): string | Promise<string>;
}

/**
 * One S3 request sent by us rather than the SDK: GetObject, HeadObject, ListObjectsV2, PutObject, and
 * a multipart upload's create, parts, complete and abort.
 */
export interface LeanRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  Bucket: string;
  Key: string;
  query?: Record<string, string>;
  headers: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal | undefined;
}

/** S3's encoding of a path segment or query value (RFC 3986 unreserved characters kept). */
export function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const SSE_C = 'x-amz-server-side-encryption-customer-';

/** The SSE-C headers, as the SDK derives them: the key (base64 of 32 bytes, else its UTF-8) and its MD5. */
export function sseCHeaders(sseC: SseC): Record<string, string> {
  const key = sseC.SSECustomerKey;
  if (!key) return sseC.SSECustomerAlgorithm ? { [`${SSE_C}algorithm`]: sseC.SSECustomerAlgorithm } : {};
  const decoded = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(key)
    ? Buffer.from(key, 'base64')
    : undefined;
  const bytes = decoded?.length === 32 ? decoded : Buffer.from(key, 'utf8');
  return {
    ...(sseC.SSECustomerAlgorithm ? { [`${SSE_C}algorithm`]: sseC.SSECustomerAlgorithm } : {}),
    [`${SSE_C}key`]: bytes.toString('base64'),
    [`${SSE_C}key-md5`]: createHash('md5').update(bytes).digest('base64'),
  };
}

const xml = new XMLParser({ parseTagValue: false });

/**
 * S3's hot requests — GetObject and PutObject/UploadPart — signed with SigV4 (sigv4.ts: the signing
 * key derived once a day) with the given credentials and region, or the S3Client's resolved ones,
 * sent over core's keep-alive pool: no middleware stack, no body wrappers, one header object. A
 * failure is thrown shaped like the SDK's (`Code`, `$metadata.httpStatusCode`), so the driver's one
 * error mapping (core's `storeErrors`) names it. Path-style addressing on a configured endpoint.
 */
export class LeanS3 {
  readonly #identity: LeanIdentity;
  readonly #pool: HttpPool;
  readonly #endpoint: URL;
  readonly #anonymous: boolean;
  readonly #stallMs: number;
  readonly #fixed: Record<string, string>;
  #signer: SigV4 | Promise<SigV4> | undefined;

  constructor(
    identity: LeanIdentity,
    pool: HttpPool,
    options: {
      endpoint: string;
      anonymous: boolean;
      stallMs: number;
      expectedBucketOwner?: string | undefined;
    },
  ) {
    this.#identity = identity;
    this.#pool = pool;
    this.#endpoint = new URL(options.endpoint);
    this.#anonymous = options.anonymous;
    this.#stallMs = options.stallMs;
    this.#fixed = {
      host: this.#endpoint.host,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      ...(options.expectedBucketOwner ? { 'x-amz-expected-bucket-owner': options.expectedBucketOwner } : {}),
    };
  }

  /** Sends one request; resolves with an answer below 300, throws the SDK-shaped S3 error otherwise. */
  async send(request: LeanRequest): Promise<HttpAnswer> {
    const base = this.#endpoint.pathname.replace(/\/$/, '');
    const bucket = `${base}/${uriEscape(request.Bucket)}`;
    // A bucket request (a listing) has no key: `/bucket`, as the SDK sends it.
    const path = request.Key === '' ? bucket : `${bucket}/${request.Key.split('/').map(uriEscape).join('/')}`;
    const query = Object.entries(request.query ?? {}).map(
      ([name, value]) => [uriEscape(name), uriEscape(value)] as const,
    );
    const search = query.map(([name, value]) => `${name}=${value}`).join('&');
    let headers: Record<string, string> = { ...this.#fixed, ...request.headers };
    if (!this.#anonymous) {
      const [signer, credentials] = await Promise.all([this.#sign(), this.#identity.credentials()]);
      headers = signer.sign({ method: request.method, path, query, headers }, credentials);
    }
    const url = `${this.#endpoint.origin}${path}${search ? `?${search}` : ''}`;
    const answer = await this.#pool.request({
      method: request.method,
      url,
      headers,
      body: request.body,
      signal: request.signal,
      stallMs: this.#stallMs,
      stallMessage: (seconds) =>
        `S3 request to ${this.#endpoint.origin}: nothing received for ${seconds} s (socketTimeoutMs)`,
    });
    if (answer.statusCode < 300) return answer;
    throw await s3Failure(answer);
  }

  #sign(): SigV4 | Promise<SigV4> {
    this.#signer ??= (async () => {
      this.#signer = new SigV4(await this.#identity.region());
      return this.#signer;
    })();
    return this.#signer;
  }
}

/** An error answer as the SDK would throw it: S3's `<Error><Code>…` (or the status alone) and request id. */
export async function s3Failure(answer: HttpAnswer): Promise<Error> {
  const text = await readBodyText(answer.body, 65_536);
  answer.body.destroy();
  let parsed: { Code?: unknown; Message?: unknown; RequestId?: unknown } = {};
  try {
    parsed = (xml.parse(text) as { Error?: typeof parsed }).Error ?? {};
  } catch {
    // Not XML (a proxy's page): the status speaks.
  }
  const status = answer.statusCode;
  const code = typeof parsed.Code === 'string' ? parsed.Code : undefined;
  const requestId =
    typeof parsed.RequestId === 'string' ? parsed.RequestId : (answer.headers['x-amz-request-id'] as string);
  const message = typeof parsed.Message === 'string' ? parsed.Message : '';
  return Object.assign(new Error(message || code || `HTTP ${status}`), {
    name: code ?? (status === 404 ? 'NotFound' : 'UnknownError'),
    ...(code ? { Code: code } : {}),
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, ...(requestId ? { requestId } : {}) },
  });
}

/** The checksum members of an answer's headers, named as the SDK names them (for `pickChecksum`). */
export function checksumFields(headers: HttpAnswer['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [header, field] of [
    ['x-amz-checksum-crc32', 'ChecksumCRC32'],
    ['x-amz-checksum-crc32c', 'ChecksumCRC32C'],
    ['x-amz-checksum-sha256', 'ChecksumSHA256'],
    ['x-amz-checksum-type', 'ChecksumType'],
    ['etag', 'ETag'],
  ] as const) {
    const value = headers[header];
    if (typeof value === 'string') out[field] = value;
  }
  return out;
}
