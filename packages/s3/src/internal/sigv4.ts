import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';

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
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/**
 * AWS Signature Version 4 for S3's header-signed requests with an `UNSIGNED-PAYLOAD` body (S3 checks
 * the body against its CRC header instead). The signing key — four HMACs of the secret — depends only
 * on the day, the region and the service, so it is derived once per day and kept as a KeyObject:
 * each signature then costs one SHA-256 of the canonical request and one HMAC.
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
    const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
    const day = amzDate.slice(0, 8);
    const headers: Record<string, string> = { ...request.headers, 'x-amz-date': amzDate };
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
    const names = Object.keys(headers).sort();
    const signedHeaders = names.join(';');
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += `${name}:${headers[name]?.trim().replace(/\s+/g, ' ')}\n`;
    const query = [...request.query]
      .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
      .map(([name, value]) => `${name}=${value}`)
      .join('&');
    const payload = headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD';
    const canonical = `${request.method}\n${request.path}\n${query}\n${canonicalHeaders}\n${signedHeaders}\n${payload}`;
    const scope = `${day}/${this.#region}/${this.#service}/aws4_request`;
    const toSign = `${ALGORITHM}\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
    const signature = createHmac('sha256', this.#signingKey(credentials, day)).update(toSign).digest('hex');
    headers.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
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
