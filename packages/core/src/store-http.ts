import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { ArtifactsError, isAbortError } from './errors.js';
import {
  discardBody,
  type HttpAnswer,
  type HttpExchange,
  HttpPool,
  type HttpTlsOptions,
  headerString,
  readBodyText,
} from './http-client.js';
import { parseRetryAfter } from './layers/retry.js';
import { readSettingFile } from './setting-files.js';
import { encodeRfc3986 } from './uri.js';
import { xmlReader } from './xml.js';

/**
 * The request path every object store's own (lean) requests share, over core's `HttpPool`: the URL
 * from the endpoint, a path and a query; the store's authorization; the answer below 300, or a
 * `StoreHttpError` carrying the status and what the error body says; a request that got no answer
 * as a `StoreRequestFailure` naming where it went (never its query) and whether that origin had
 * answered before. Signing, the error body's format and the error mapping stay the store's.
 */

/** Query parameters, decoded, in the order sent; one with an undefined value is left out, one with '' is its bare name (`?uploads`). */
export type StoreQuery = ReadonlyArray<readonly [string, string | undefined]>;

/** One request of a store's own. */
export interface StoreRequest {
  method: string;
  /**
   * The origin this request goes to instead of the endpoint's (`https://bucket.s3.eu-west-1.amazonaws.com`:
   * S3's virtual-hosted bucket, a bucket in another region); the endpoint's path stays the base.
   */
  origin?: string;
  /** Below the endpoint's own path, each segment already percent-encoded (`/container/a%20b`). */
  path?: string;
  /** Instead of `path` and `query`: a whole URL the store handed out (a resumable session). */
  url?: string;
  query?: StoreQuery;
  /** Lower-case names. */
  headers?: Record<string, string>;
  body?: Buffer | Readable | undefined;
  signal?: AbortSignal | undefined;
  /** Bounds the wait for the answer and each pause of its body (ms, 0 = none); default the store's. */
  stallMs?: number;
  /** Authorizes this request instead of the store's `authorize` (S3 signs for the bucket's region). */
  authorize?(request: OutgoingRequest): void | Promise<void>;
  /**
   * A redirect (3xx with a `Location`) is the answer, its body the caller's: the caller follows it by
   * hand, so that a request body streams once, to where it belongs (WebHDFS's NameNode → DataNode).
   */
  redirect?: boolean;
}

/** A request as it goes out, for the store's authorization to sign or extend. */
export interface OutgoingRequest {
  method: string;
  /** The host the request goes to (`host[:port]`), which a signature covers. */
  host: string;
  /** The URL's path as sent (percent-encoded), the endpoint's own path included. */
  path: string;
  /** The query parameters given, decoded. */
  query: ReadonlyArray<readonly [string, string]>;
  /** The headers to send: the authorization adds its own. */
  headers: Record<string, string>;
  /** Appended as is to the query string (a SAS); set by the authorization. */
  search?: string;
}

/** What a store's error body says. */
export interface StoreErrorDetail {
  /** The service's own error code (`BlobNotFound`). */
  code?: string | undefined;
  message?: string | undefined;
  /** The id the service gave the request, for its support (S3's `RequestId`). */
  requestId?: string | undefined;
}

export interface StoreHttpOptions {
  /** The service's URL; its path is the base of every request's `path`. */
  endpoint: string;
  /** Names the store in messages (`Google Cloud Storage`, `the blob service`). */
  store: string;
  /** Keep-alive sockets: the requests one repository can have in flight. */
  connections: number;
  /** The https agent's TLS settings (a CA to trust). */
  tls?: HttpTlsOptions | undefined;
  /** Default bound on each request's wait for its answer and each pause of its body (ms); 0 = none. */
  stallMs?: number | undefined;
  /** The setting that sets `stallMs`, named when a request stalls (`socketTimeoutMs`). */
  stallSetting?: string | undefined;
  /** Bounds each new connection (`HttpPool`'s `connectMs`), named by `connectSetting` when it fails. */
  connectMs?: number | undefined;
  connectSetting?: string | undefined;
  /** Authorizes a request (signs it, adds a token or a SAS); may throw to refuse it. */
  authorize?(request: OutgoingRequest): void | Promise<void>;
  /**
   * Reads an error answer's body: by default a JSON API's (`{ error: { message } }`, `jsonErrorDetail`)
   * or, for a body in XML, an XML API's (`<Error><Code>`, `xmlErrorDetail`: GCS serves both).
   */
  errorDetail?(text: string, answer: FailedAnswer): StoreErrorDetail | Promise<StoreErrorDetail>;
}

/** RFC 3986 percent-encoding, one encoder with `encodePath` (uri.ts). */
export { encodeRfc3986 };

/**
 * A CA file setting's PEM text, for `StoreHttpOptions.tls.ca` (a settings `parse`: `from` names the
 * option or variable in the error).
 */
export function readCaFile(path: unknown, from: string): string {
  return readSettingFile(String(path), `CA file (${from})`);
}

/** A store answered with a status of 300 or more. */
export class StoreHttpError extends Error {
  readonly status: number;
  /** The service's own error code, when it gave one. */
  readonly serviceCode: string | undefined;
  /** Where the request went, without its query (which may hold a SAS). */
  readonly url: string;
  /** The wait the store asked for (`Retry-After`), for the error's `context.retryAfterMs`. */
  readonly retryAfterMs: number | undefined;
  /** The id the store gave the request, when it gave one. */
  readonly requestId: string | undefined;
  /** The answer's headers (S3's `x-amz-bucket-region` on a redirect); none for an error in a 200's body. */
  readonly headers: IncomingHttpHeaders;

  constructor(
    status: number,
    detail: StoreErrorDetail,
    url: string,
    retryAfter?: string,
    headers: IncomingHttpHeaders = {},
  ) {
    super(detail.message || detail.code || `HTTP ${status}`);
    this.name = 'StoreHttpError';
    this.status = status;
    this.serviceCode = detail.code;
    this.url = url;
    this.retryAfterMs = parseRetryAfter(retryAfter);
    this.requestId = detail.requestId;
    this.headers = headers;
  }
}

/** A request that got no answer: where it went (for core's `requestFailure`), and the cause. */
export class StoreRequestFailure extends Error {
  readonly request: { url: string };
  /** The endpoint answered this client before: a refusal now is a restart, worth retrying. */
  readonly reached: boolean;

  constructor(url: string, reached: boolean, cause: unknown) {
    super(
      `request to ${new URL(url).origin} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'StoreRequestFailure';
    this.request = { url };
    this.reached = reached;
  }
}

/**
 * The HTTP status of a failed request: ours (`StoreHttpError`), or an SDK's (`statusCode` of Azure's
 * RestError, `response.status` or a numeric `code` of gaxios, `$metadata.httpStatusCode` of AWS).
 */
export function httpStatusOf(error: unknown): number | undefined {
  const e = error as {
    status?: unknown;
    statusCode?: unknown;
    code?: unknown;
    response?: { status?: unknown };
    $metadata?: { httpStatusCode?: unknown };
  } | null;
  for (const value of [e?.status, e?.statusCode, e?.response?.status, e?.$metadata?.httpStatusCode, e?.code])
    if (typeof value === 'number') return value;
  return undefined;
}

/** The JSON APIs' error body (`{ "error": { "code", "message" } }` or `{ "error": "…" }`), else its first line. */
export function jsonErrorDetail(text: string): StoreErrorDetail {
  if (!text) return {};
  try {
    const error = (JSON.parse(text) as { error?: { message?: unknown; status?: unknown } | string }).error;
    if (typeof error === 'string') return { message: error };
    return {
      ...(typeof error?.status === 'string' ? { code: error.status } : {}),
      ...(typeof error?.message === 'string' ? { message: error.message } : {}),
    };
  } catch {
    // Not JSON (an XML error, a proxy's page): its first line speaks.
    return { message: text.split('\n')[0]!.slice(0, 300) };
  }
}

const nonEmpty = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

const readXml = xmlReader();

/**
 * The XML APIs' error body (`<Error><Code>…</Code><Message>…</Message><RequestId>…`: S3, Azure, GCS's
 * XML API), read by core's `xmlReader` (fast-xml-parser, loaded on the first document: a run without
 * an error answer never loads it). A body that is no `<Error>` (a proxy's page) says nothing: the
 * status speaks.
 */
export async function xmlErrorDetail(text: string): Promise<StoreErrorDetail> {
  if (!text) return {};
  let error: { Code?: unknown; Message?: unknown; RequestId?: unknown } | undefined;
  try {
    error = (readXml(text) as { Error?: typeof error }).Error;
  } catch {
    return {};
  }
  const { Code, Message, RequestId } = typeof error === 'object' && error !== null ? error : {};
  return { code: nonEmpty(Code), message: nonEmpty(Message), requestId: nonEmpty(RequestId) };
}

/** `StoreHttp`'s default: an XML body as `xmlErrorDetail` reads it (else its first line), any other as JSON. */
async function errorDetailOf(text: string): Promise<StoreErrorDetail> {
  if (!text.trimStart().startsWith('<')) return jsonErrorDetail(text);
  const detail = await xmlErrorDetail(text);
  return detail.code || detail.message ? detail : { message: text.split('\n')[0]!.slice(0, 300) };
}

/** An answer of 300 or more, as a store's `failure` gets it. */
export interface FailedAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** At most 64 KiB of the error body ('' for a HEAD). */
  text: string;
}

/**
 * One request of an object store's REST API over `HttpPool`, the exchange under `StoreHttp` (below)
 * that every store's own requests share: resolves with an answer below 300 (its body the caller's); any other is read (at
 * most 64 KiB, even a HEAD's empty one, so its keep-alive socket stays in the pool; a longer body's
 * connection is closed) and thrown as the store's own error, which `failure` builds. A request that
 * got no answer is a `StoreRequestFailure` naming `where` (default: origin and path, never the
 * query); ArtifactsErrors (the pool's timeouts) and aborts pass as they are.
 */
export async function storeRequest(
  pool: HttpPool,
  exchange: HttpExchange,
  failure: (answer: FailedAnswer) => Error | Promise<Error>,
  where?: string,
  redirect = false,
): Promise<HttpAnswer> {
  let answer: HttpAnswer;
  try {
    answer = await pool.request(exchange);
  } catch (error) {
    if (ArtifactsError.is(error) || isAbortError(error)) throw error;
    const url = new URL(exchange.url);
    throw new StoreRequestFailure(where ?? `${url.origin}${url.pathname}`, pool.reached(url), error);
  }
  if (answer.statusCode < 300) return answer;
  if (redirect && answer.statusCode < 400 && headerString(answer.headers.location)) return answer;
  const text = await readBodyText(answer.body, 65_536);
  answer.body.destroy();
  throw await failure({ status: answer.statusCode, headers: answer.headers, text });
}

/**
 * A credential or token fetched on first use and shared by every caller — concurrent ones wait for
 * the same fetch — until `refreshAt(value)` (epoch ms; undefined = never), then fetched again. A
 * failed fetch is not kept: the next caller tries again.
 */
export function refreshing<T>(
  fetch: () => Promise<T>,
  refreshAt: (value: T) => number | undefined,
): () => Promise<T> {
  let current: Promise<T> | undefined;
  let until = 0;
  return () => {
    if (current === undefined || Date.now() >= until) {
      until = Number.POSITIVE_INFINITY;
      const fetching = fetch().then(
        (value) => {
          until = refreshAt(value) ?? Number.POSITIVE_INFINITY;
          return value;
        },
        (error: unknown) => {
          if (current === fetching) current = undefined;
          throw error;
        },
      );
      current = fetching;
    }
    return current;
  };
}

/** An object store's endpoint and the requests sent to it. */
export class StoreHttp {
  readonly #pool: HttpPool;
  readonly #origin: string;
  /** The endpoint's path, without a trailing slash ('' or `/<account>` on an emulator). */
  readonly #base: string;
  readonly #options: StoreHttpOptions;

  constructor(options: StoreHttpOptions) {
    const url = new URL(options.endpoint);
    this.#origin = url.origin;
    this.#base = url.pathname.replace(/\/+$/, '');
    this.#options = options;
    this.#pool = new HttpPool({
      connections: options.connections,
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.connectMs ? { connectMs: options.connectMs } : {}),
      ...(options.connectSetting ? { connectSetting: options.connectSetting } : {}),
    });
  }

  /** The endpoint (no query, no trailing slash). */
  get url(): string {
    return `${this.#origin}${this.#base}`;
  }

  /** Whether the endpoint has answered one of these requests (a refusal is then a restart). */
  reached(): boolean {
    return this.#pool.reached(this.#origin);
  }

  /** Sends one request; resolves with an answer below 300 (its body the caller's), throws otherwise. */
  async send(request: StoreRequest): Promise<HttpAnswer> {
    const query: Array<readonly [string, string]> = [];
    for (const [name, value] of request.query ?? []) if (value !== undefined) query.push([name, value]);
    const origin = request.origin ?? this.#origin;
    const out: OutgoingRequest = {
      method: request.method,
      host: origin.slice(origin.indexOf('//') + 2),
      path: `${this.#base}${request.path ?? ''}`,
      query,
      headers: { ...request.headers },
    };
    await (request.authorize ?? this.#options.authorize)?.(out);
    const where = request.url ? request.url.replace(/\?.*$/s, '') : `${origin}${out.path}`;
    let url = request.url ?? where;
    if (!request.url) {
      const search = [
        ...query.map(([n, v]) => (v ? `${encodeRfc3986(n)}=${encodeRfc3986(v)}` : encodeRfc3986(n))),
        out.search,
      ]
        .filter(Boolean)
        .join('&');
      if (search) url += `?${search}`;
    }
    const { store, stallSetting, errorDetail = errorDetailOf } = this.#options;
    return storeRequest(
      this.#pool,
      {
        method: request.method,
        url,
        headers: out.headers,
        body: request.body,
        signal: request.signal,
        stallMs: request.stallMs ?? this.#options.stallMs ?? 0,
        // A ranged GET (a download's part) is read by core's own client on plain HTTP (see `HttpPool`).
        lean: request.method === 'GET' && isRanged(out.headers),
        stallMessage: (seconds) =>
          `${store} request to ${origin}: nothing received for ${seconds} s${stallSetting ? ` (${stallSetting})` : ''}`,
      },
      async (failed) =>
        new StoreHttpError(
          failed.status,
          await errorDetail(failed.text, failed),
          where,
          headerString(failed.headers['retry-after']) || undefined,
          failed.headers,
        ),
      where,
      request.redirect,
    );
  }

  /** Sends one request whose answer is all in its status and headers; its body is drained. */
  async drain(request: StoreRequest): Promise<HttpAnswer> {
    const answer = await this.send(request);
    await discardBody(answer.body);
    return answer;
  }

  /** Sends one request and reads its whole answer as text. */
  async text(request: StoreRequest): Promise<string> {
    return readBodyText((await this.send(request)).body);
  }

  /** Sends one request and parses its JSON answer (an empty body is `{}`). */
  async json<T>(request: StoreRequest): Promise<T> {
    const text = await this.text(request);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Closes the keep-alive sockets. */
  destroy(): void {
    this.#pool.destroy();
  }
}

function isRanged(headers: Record<string, string>): boolean {
  for (const name in headers) if (name.length === 5 && name.toLowerCase() === 'range') return true;
  return false;
}

/** A header of an answer, when present and not empty. */
export function answerHeader(answer: Pick<HttpAnswer, 'headers'>, name: string): string | undefined {
  return headerString(answer.headers[name]) || undefined;
}
