import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  ArtifactsError,
  encodeRfc3986,
  type FailedAnswer,
  type HttpAnswer,
  HttpPool,
  headerString,
  readBodyText,
  refreshing,
  SigV4,
  StoreHttpError,
  storeRequest,
} from '@artifacts/core';
import { XMLParser } from 'fast-xml-parser';
import { type Identity, identityOf, regionOf } from './client.js';
import type { ResolvedS3Config } from './settings.js';

/** One S3 request: an object's (`Key`) or its bucket's (`Key` ''). */
export interface S3Request {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  Bucket: string;
  Key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  /** The bytes a stream `body` sends, for the payload's SHA-256 over plain http. */
  payload?: Buffer | undefined;
  signal?: AbortSignal | undefined;
}

/** The SHA-256 of an empty payload. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const xml = new XMLParser({
  parseTagValue: false,
  // MinIO (Go's encoder) writes `"` as `&#34;`: numeric references are decoded too (ETags, messages).
  htmlEntities: true,
  isArray: (_name, path) =>
    path === 'ListBucketResult.Contents' ||
    path === 'ListBucketResult.CommonPrefixes' ||
    path === 'DeleteResult.Error',
});

/**
 * Every S3 request of the driver: addressed (path style, or virtual-hosted `bucket.host`), signed by
 * core's `SigV4` (an `UNSIGNED-PAYLOAD` body over https, the body's SHA-256 over http), sent over
 * core's keep-alive pool — no SDK, no middleware. A bucket in another region than the one signed for (S3's `x-amz-bucket-region` on a
 * 301/400) is remembered and the request sent again there, as the SDK's `followRegionRedirects` does.
 * A failure is thrown as core's `StoreHttpError` (status, S3 code) for errors.ts.
 */
export class S3Requests {
  readonly #pool: HttpPool;
  readonly #config: ResolvedS3Config;
  /** None: unsigned requests (public buckets). */
  readonly #identity: Identity | undefined;
  readonly #fixed: Record<string, string>;
  /** Buckets S3 redirected to another region. */
  readonly #regions = new Map<string, string>();
  readonly #signers = new Map<string, SigV4>();
  #region: string | undefined;
  /**
   * The signing region (the bucket's, unless S3 says the bucket lives elsewhere): configured, or
   * found by the first request (the shared config files are read only then; a failed search is
   * tried again).
   */
  readonly #findRegion = refreshing(
    async () => (this.#region = await regionOf(this.#config)),
    () => undefined,
  );
  #parsed: { href: string; url: URL } | undefined;
  /** Named in messages: the configured endpoint, or `AWS S3`. */
  readonly endpoint: string;

  /** Requests over one keep-alive pool (core's) of `maxSockets`, with the config's TLS and identity. */
  constructor(config: ResolvedS3Config, maxSockets: number) {
    this.#config = config;
    this.#pool = new HttpPool({
      connections: maxSockets,
      tls: config.tls,
      connectMs: config.connectTimeoutMs,
      connectSetting: 'connectTimeoutMs',
    });
    this.#identity = config.anonymous ? undefined : identityOf(config);
    this.endpoint = config.endpointUrl ?? 'AWS S3';
    const owner = config.expectedBucketOwner;
    this.#fixed = {
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      ...(owner ? { 'x-amz-expected-bucket-owner': owner } : {}),
    };
  }

  /** Sends one request; resolves with an answer below 300, throws a `StoreHttpError` otherwise. */
  async send(request: S3Request, again = false): Promise<HttpAnswer> {
    const { region, url, path, query, host } = await this.#address(request);
    let headers: Record<string, string> = { host, ...this.#fixed, ...request.headers };
    const identity = this.#identity;
    if (identity) {
      // Over plain http nothing but the signature protects the body: sign its SHA-256, as the SDK
      // does for bodies it holds (we hold every one: a part's buffer). TLS protects it over https.
      if (url.startsWith('http:')) headers['x-amz-content-sha256'] = payloadHash(request);
      headers = this.#signer(region).sign({ method: request.method, path, query, headers }, await identity());
    }
    const exchange = { method: request.method, url, headers, body: request.body, signal: request.signal };
    try {
      return await storeRequest(
        this.#pool,
        {
          ...exchange,
          stallMs: this.#config.socketTimeoutMs,
          stallMessage: (seconds) =>
            `S3 request to ${new URL(url).origin}: nothing received for ${seconds} s (socketTimeoutMs)`,
        },
        (answer) => s3Failure(answer, url.split('?')[0]!),
      );
    } catch (error) {
      const moved = (error as { bucketRegion?: string }).bucketRegion;
      if (again || moved === undefined || moved === region) throw error;
      this.#regions.set(request.Bucket, moved);
      // A stream body is spent: core's retry sends it again, to the right region this time.
      if (request.body instanceof Readable)
        throw new ArtifactsError('unavailable', `bucket ${request.Bucket} is in ${moved}: sending again`, {
          temporary: true,
        });
      return this.send(request, true);
    }
  }

  /** Sends one request whose answer is an XML document, parsed; an `<Error>` (a 200 can be one) throws. */
  async xml(request: S3Request): Promise<Record<string, Record<string, unknown> | undefined>> {
    const answer = await this.send(request);
    const doc = xml.parse(await readBodyText(answer.body)) as Record<string, Record<string, unknown>>;
    if (doc.Error) throw s3Error(500, doc.Error, request.Bucket);
    return doc;
  }

  /** A presigned URL of the request, valid `expiresIn` seconds; its headers are signed (sent as given). */
  async presign(request: S3Request, expiresIn: number): Promise<string> {
    const { region, url, path, query, host } = await this.#address(request);
    if (!this.#identity) return url;
    const headers = { host, ...request.headers };
    const credentials = await this.#identity();
    const signed = this.#signer(region).presign(
      { method: request.method, path, query, headers },
      credentials,
      expiresIn,
    );
    return `${url.split('?')[0]}?${signed}`;
  }

  /** Where a request goes: the bucket's region (S3's redirect, else the configured one), its URL. */
  async #address(request: S3Request) {
    const region = this.#regions.get(request.Bucket) ?? this.#region ?? (await this.#findRegion());
    const base = this.#base(region);
    const prefix = base.pathname.replace(/\/$/, '');
    const key = request.Key === '' ? '' : `/${request.Key.split('/').map(encodeRfc3986).join('/')}`;
    // Virtual-hosted unless asked otherwise or the name cannot be a host (dots break https).
    const virtual = !this.#config.forcePathStyle && !request.Bucket.includes('.');
    const host = virtual ? `${request.Bucket}.${base.host}` : base.host;
    const path = virtual ? `${prefix}${key || '/'}` : `${prefix}/${encodeRfc3986(request.Bucket)}${key}`;
    const query = Object.entries(request.query ?? {}).map(
      ([n, v]) => [encodeRfc3986(n), encodeRfc3986(v)] as const,
    );
    const search = query.map(([n, v]) => `${n}=${v}`).join('&');
    return {
      region,
      url: `${base.protocol}//${host}${path}${search ? `?${search}` : ''}`,
      path,
      query,
      host,
    };
  }

  /** The endpoint (parsed once), else AWS's in the region. */
  #base(region: string): URL {
    const endpoint = this.#config.endpointUrl ?? `https://s3.${region}.amazonaws.com`;
    if (this.#parsed?.href !== endpoint) this.#parsed = { href: endpoint, url: new URL(endpoint) };
    return this.#parsed.url;
  }

  #signer(region: string): SigV4 {
    let signer = this.#signers.get(region);
    if (!signer) {
      signer = new SigV4(region);
      this.#signers.set(region, signer);
    }
    return signer;
  }

  destroy(): void {
    this.#pool.destroy();
  }
}

/** The hex SHA-256 of a request's body; a stream without its bytes stays `UNSIGNED-PAYLOAD`. */
function payloadHash(request: S3Request): string {
  const bytes = request.payload ?? request.body;
  if (bytes === undefined) return EMPTY_SHA256;
  return bytes instanceof Readable ? 'UNSIGNED-PAYLOAD' : createHash('sha256').update(bytes).digest('hex');
}

/**
 * An error answer as core's `StoreHttpError`: S3's `<Error><Code>…` (or the status alone), with the
 * request id; a 301/400 naming the bucket's region (`x-amz-bucket-region`) carries it for `send`.
 */
export function s3Failure(answer: FailedAnswer, url: string): Error {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = (xml.parse(answer.text) as { Error?: typeof parsed }).Error ?? {};
  } catch {
    // Not XML (a proxy's page): the status speaks.
  }
  const header = (name: string) => headerString(answer.headers[name]) || undefined;
  const error = s3Error(answer.status, parsed, url, header('x-amz-request-id'), header('retry-after'));
  const region = header('x-amz-bucket-region');
  if (region && (answer.status === 301 || answer.status === 400))
    Object.assign(error, { bucketRegion: region });
  return error;
}

/** S3's `<Error>` as core's `StoreHttpError`, with its request id and the wait asked (`Retry-After`). */
function s3Error(
  status: number,
  error: Record<string, unknown>,
  url: string,
  requestId?: string,
  retryAfter?: string,
): Error {
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const id = text(error.RequestId) ?? requestId;
  const detail = { code: text(error.Code), message: text(error.Message) };
  const failure = new StoreHttpError(status, detail, url, retryAfter);
  return id ? Object.assign(failure, { requestId: id }) : failure;
}
