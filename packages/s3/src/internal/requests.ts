import { Readable } from 'node:stream';
import {
  ArtifactsError,
  answerHeader,
  credentialWaitMs,
  encodePath,
  encodeRfc3986,
  type HttpAnswer,
  lazily,
  type OutgoingRequest,
  payloadSha256,
  readBodyText,
  StoreHttp,
  StoreHttpError,
  sigV4ByRegion,
  xmlErrorDetail,
  xmlErrorDetailOr,
  xmlReader,
} from '@artifacts/core';
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

// Values as text, numeric references decoded (MinIO writes `"` as `&#34;` in ETags and messages).
const xml = xmlReader({
  arrays: ['ListBucketResult.Contents', 'ListBucketResult.CommonPrefixes', 'DeleteResult.Error'],
});

/**
 * Every S3 request of the driver: addressed (path style, or virtual-hosted `bucket.host`), signed by
 * core's `SigV4` (an `UNSIGNED-PAYLOAD` body over https, the body's SHA-256 over http), sent by core's
 * `StoreHttp` over its keep-alive pool — no SDK, no middleware. A bucket in another region than the
 * one signed for (S3's `x-amz-bucket-region` on a 301/400) is remembered and the request sent again
 * there, as the SDK's `followRegionRedirects` does. A failure is thrown as core's `StoreHttpError`
 * (status, S3 code, request id) for errors.ts.
 */
export class S3Requests {
  readonly #http: StoreHttp;
  readonly #config: ResolvedS3Config;
  /** None: unsigned requests (public buckets). */
  readonly #identity: Identity | undefined;
  readonly #fixed: Record<string, string>;
  /** Buckets S3 redirected to another region. */
  readonly #regions = new Map<string, string>();
  readonly #signer = sigV4ByRegion();
  #region: string | undefined;
  /**
   * The signing region (the bucket's, unless S3 says the bucket lives elsewhere): configured, or
   * found by the first request (the shared config files are read only then; a failed search is
   * tried again).
   */
  readonly #findRegion = lazily(async () => (this.#region = await regionOf(this.#config)));
  /** Named in messages: the configured endpoint, or `AWS S3`. */
  readonly endpoint: string;

  /**
   * Requests over one keep-alive pool (core's) of `maxSockets`, with the config's TLS and identity
   * (each credential fetch bounded by core's `credentialWaitMs` of the repository's `timeoutMs`).
   */
  constructor(config: ResolvedS3Config, maxSockets: number, timeoutMs?: number) {
    this.#config = config;
    this.#http = new StoreHttp({
      // AWS's host is the region's (`#address`); its path, like any endpoint's, is the base.
      endpoint: config.endpointUrl ?? 'https://s3.amazonaws.com',
      store: 'S3',
      connections: maxSockets,
      tls: config.tls,
      connectMs: config.connectTimeoutMs,
      connectSetting: 'connectTimeoutMs',
      stallMs: config.socketTimeoutMs,
      stallSetting: 'socketTimeoutMs',
      errorDetail: xmlErrorDetailOr({ requestId: 'x-amz-request-id' }),
    });
    this.#identity = config.anonymous ? undefined : identityOf(config, credentialWaitMs(timeoutMs));
    this.endpoint = config.endpointUrl ?? 'AWS S3';
    const owner = config.expectedBucketOwner;
    this.#fixed = {
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      ...(owner ? { 'x-amz-expected-bucket-owner': owner } : {}),
    };
  }

  /** Sends one request; resolves with an answer below 300, throws a `StoreHttpError` otherwise. */
  async send(request: S3Request, again = false): Promise<HttpAnswer> {
    const { region, origin, path } = await this.#address(request);
    const headers: Record<string, string> = { ...this.#fixed, ...request.headers };
    const identity = this.#identity;
    // Over plain http nothing but the signature protects the body: sign its SHA-256, as the SDK
    // does for bodies it holds (we hold every one: a part's buffer). TLS protects it over https.
    if (identity && origin.startsWith('http:'))
      headers['x-amz-content-sha256'] = payloadSha256(request.payload ?? request.body);
    try {
      return await this.#http.send({
        method: request.method,
        origin,
        path,
        query: Object.entries(request.query ?? {}),
        headers,
        body: request.body,
        signal: request.signal,
        ...(identity && {
          authorize: async (out: OutgoingRequest) => {
            const signed = { ...out, query: encoded(out.query), headers: { host: out.host, ...out.headers } };
            out.headers = this.#signer(region).sign(signed, await identity());
          },
        }),
      });
    } catch (error) {
      const redirect = error instanceof StoreHttpError && (error.status === 301 || error.status === 400);
      const moved = redirect ? answerHeader(error, 'x-amz-bucket-region') : undefined;
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
    return this.parse(await this.text(request), request.Bucket);
  }

  /** Sends one request and reads its answer's text (an XML document, for a reader of its own). */
  async text(request: S3Request): Promise<string> {
    return readBodyText((await this.send(request)).body);
  }

  /** An XML answer of a request on `bucket`, parsed; an `<Error>` (a 200 can be one) throws. */
  async parse(text: string, bucket: string): Promise<Record<string, Record<string, unknown> | undefined>> {
    const doc = xml(text) as Record<string, Record<string, unknown>>;
    if (doc.Error) throw new StoreHttpError(500, await xmlErrorDetail(text), bucket);
    return doc;
  }

  /** A presigned URL of the request, valid `expiresIn` seconds; its headers are signed (sent as given). */
  async presign(request: S3Request, expiresIn: number): Promise<string> {
    const { region, origin, path: below, base } = await this.#address(request);
    const path = `${base}${below}`;
    const url = `${origin}${path}`;
    const query = encoded(Object.entries(request.query ?? {}));
    if (!this.#identity) return query.length ? `${url}?${query.map(([n, v]) => `${n}=${v}`).join('&')}` : url;
    const headers = { host: new URL(origin).host, ...request.headers };
    const credentials = await this.#identity();
    const signed = this.#signer(region).presign(
      { method: request.method, path, query, headers },
      credentials,
      expiresIn,
    );
    return `${url}?${signed}`;
  }

  /**
   * Where a request goes: the bucket's region (S3's redirect, else the configured one), the origin
   * (the endpoint's, else AWS's in that region; `bucket.` before its host when virtual-hosted) and the
   * path below the endpoint's own.
   */
  async #address(request: S3Request) {
    const region = this.#regions.get(request.Bucket) ?? this.#region ?? (await this.#findRegion());
    const base = this.#config.endpointUrl ?? `https://s3.${region}.amazonaws.com`;
    const { protocol, host, pathname } = new URL(base);
    const key = request.Key === '' ? '' : `/${encodePath(request.Key)}`;
    // Virtual-hosted unless asked otherwise or the name cannot be a host (dots break https).
    const virtual = !this.#config.forcePathStyle && !request.Bucket.includes('.');
    return {
      region,
      origin: `${protocol}//${virtual ? `${request.Bucket}.${host}` : host}`,
      path: virtual ? key || '/' : `/${encodeRfc3986(request.Bucket)}${key}`,
      /** The endpoint's own path, which `StoreHttp` puts before `path`. */
      base: pathname.replace(/\/$/, ''),
    };
  }

  destroy(): void {
    this.#http.destroy();
  }
}

/** Query pairs percent-encoded, as a signature covers them. */
const encoded = (query: ReadonlyArray<readonly [string, string]>) =>
  query.map(([n, v]) => [encodeRfc3986(n), encodeRfc3986(v)] as const);
