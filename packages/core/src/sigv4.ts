import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';
import { encodeRfc3986 } from './store-http.js';

/** Credentials a request is signed with (the SDK's `AwsCredentialIdentity` shape). */
export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** What one signature covers: the path and query already URI-encoded as they are sent. */
export interface SignedRequest {
  method: string;
  /** The encoded path, as sent (`/bucket/a%20b`). */
  path: string;
  /** The encoded query pairs, as sent. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Lower-case names; every one is signed. `host` must be among them. */
  headers: Record<string, string>;
  /**
   * The payload's hex SHA-256 when it is not sent as `x-amz-content-sha256` (other AWS services);
   * else that header's value, else `UNSIGNED-PAYLOAD`.
   */
  payload?: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/** The SHA-256 of an empty payload. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * A body's `x-amz-content-sha256`: the hex SHA-256 of its bytes (of nothing without a body); a stream
 * stays `UNSIGNED-PAYLOAD` (its bytes are not at hand to hash before it is sent).
 */
export function payloadSha256(body: Uint8Array | NodeJS.ReadableStream | undefined): string {
  if (body === undefined) return EMPTY_SHA256;
  return body instanceof Uint8Array ? hash('sha256', body, 'hex') : 'UNSIGNED-PAYLOAD';
}

/**
 * One `SigV4` per region, made on first use: a store whose buckets live in several regions (S3's
 * redirects) signs each request for its bucket's, each region's signing key derived once a day.
 */
export function sigV4ByRegion(service = 's3'): (region: string) => SigV4 {
  const signers = new Map<string, SigV4>();
  return (region) => {
    let signer = signers.get(region);
    if (!signer) {
      signer = new SigV4(region, service);
      signers.set(region, signer);
    }
    return signer;
  };
}

/**
 * AWS Signature Version 4 (S3's, and any AWS service's): header-signed requests, and presigned URLs
 * (query-signed). The signing key — four HMACs of the secret — depends only on the day, the region
 * and the service, so it is derived once per day and kept as a KeyObject: each signature then costs
 * one SHA-256 and one HMAC.
 */
export class SigV4 {
  readonly #region: string;
  readonly #service: string;
  #key: { id: string; key: KeyObject } | undefined;

  constructor(region: string, service = 's3') {
    this.#region = region;
    this.#service = service;
  }

  /** Adds `x-amz-date`, `x-amz-security-token` (with a session token) and `authorization` to `headers`. */
  sign(request: SignedRequest, credentials: SigningCredentials, now = new Date()): Record<string, string> {
    const date = amzDate(now);
    const headers: Record<string, string> = { ...request.headers, 'x-amz-date': date };
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const payload = request.payload ?? headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD';
    const { scope, signed, signature } = this.#signature({ ...request, headers }, credentials, date, payload);
    headers.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
    return headers;
  }

  /**
   * The query of a presigned URL valid `expiresIn` seconds: the request's own query with the
   * signature's members. Every header given is signed, so its user must send it as given.
   */
  presign(
    request: SignedRequest,
    credentials: SigningCredentials,
    expiresIn: number,
    now = new Date(),
  ): string {
    const date = amzDate(now);
    const scope = this.#scope(date);
    const query: Array<readonly [string, string]> = [
      ...request.query,
      ['X-Amz-Algorithm', ALGORITHM],
      ['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD'],
      ['X-Amz-Credential', encodeRfc3986(`${credentials.accessKeyId}/${scope}`)],
      ['X-Amz-Date', date],
      ['X-Amz-Expires', String(expiresIn)],
      ['X-Amz-SignedHeaders', encodeRfc3986(Object.keys(request.headers).sort().join(';'))],
    ];
    if (credentials.sessionToken)
      query.push(['X-Amz-Security-Token', encodeRfc3986(credentials.sessionToken)]);
    const { signature } = this.#signature({ ...request, query }, credentials, date, 'UNSIGNED-PAYLOAD');
    return `${canonicalQuery(query)}&X-Amz-Signature=${signature}`;
  }

  #scope(date: string): string {
    return `${date.slice(0, 8)}/${this.#region}/${this.#service}/aws4_request`;
  }

  #signature(
    request: SignedRequest,
    credentials: SigningCredentials,
    date: string,
    payload: string,
  ): { scope: string; signed: string; signature: string } {
    const names = Object.keys(request.headers).sort();
    const signed = names.join(';');
    let headers = '';
    for (const name of names) {
      const value = request.headers[name] ?? '';
      // Most values (dates, hashes, lengths) have no white space to trim or fold: kept as they are.
      headers += `${name}:${WHITE_SPACE.test(value) ? value.trim().replace(/\s+/g, ' ') : value}\n`;
    }
    const canonical = `${request.method}\n${request.path}\n${canonicalQuery(request.query)}\n${headers}\n${signed}\n${payload}`;
    const scope = this.#scope(date);
    const toSign = `${ALGORITHM}\n${date}\n${scope}\n${hash('sha256', canonical, 'hex')}`;
    const key = this.#signingKey(credentials, date.slice(0, 8));
    return { scope, signed, signature: createHmac('sha256', key).update(toSign).digest('hex') };
  }

  /** The day's signing key, derived again only when the day or the credentials change. */
  #signingKey(credentials: SigningCredentials, day: string): KeyObject {
    const id = `${day}\n${credentials.accessKeyId}\n${credentials.secretAccessKey}`;
    if (this.#key?.id !== id) {
      let key: Buffer = Buffer.from(`AWS4${credentials.secretAccessKey}`, 'utf8');
      for (const part of [day, this.#region, this.#service, 'aws4_request'])
        key = createHmac('sha256', key).update(part).digest();
      this.#key = { id, key: createSecretKey(key) };
    }
    return this.#key.key;
  }
}

const WHITE_SPACE = /\s/;

/** `YYYYMMDD'T'HHMMSS'Z'`, the last one kept: every request of a second has the same. */
let lastDate = { second: Number.NaN, text: '' };
function amzDate(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== lastDate.second) lastDate = { second, text: now.toISOString().replace(/[-:]|\.\d{3}/g, '') };
  return lastDate.text;
}

function canonicalQuery(query: ReadonlyArray<readonly [string, string]>): string {
  if (query.length === 0) return '';
  return [...query]
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}
