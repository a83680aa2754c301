import type { Readable } from 'node:stream';
import { ArtifactsError, type HttpAnswer, type HttpPool, isAbortError, readBodyText } from '@artifacts/core';

/** One JSON API request sent by us rather than the client library. */
export interface LeanRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Below the endpoint: `/storage/v1/b/<bucket>/o/<name>`, `/upload/storage/v1/b/<bucket>/o`. */
  path?: string;
  /** Instead of `path`: a whole URL the store gave (a resumable session). */
  url?: string;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal | undefined;
  /**
   * Bound on the wait for the answer and each pause of its body, ms. Default the repository's
   * timeout; a media GET leaves it to core's ranged-read engine (0), which reads parts in order and
   * may leave one unread longer than that.
   */
  stallMs?: number;
}

/** The credentials of a request: none (anonymous), or the library's auth client's headers. */
export type AuthHeaders = () => Promise<Record<string, string>>;

/**
 * GCS's hot requests — media GET (whole and ranged), object metadata, listing pages, simple upload,
 * delete — sent over core's keep-alive pool: no request stack of the client library (gaxios,
 * teeny-request, retry-request), one header object, the JSON of an answer parsed once. The token
 * is the library's auth client's (it caches and refreshes it); anonymous requests carry none. A
 * failure is thrown shaped like the library's ApiError (`code` = status, the service's message), so
 * the driver's one error mapping names it; a request that reached no server carries its URL and
 * whether the endpoint answered before (core's `connectFailure` wording and retry rule).
 */
export class LeanGcs {
  readonly #pool: HttpPool;
  readonly #endpoint: string;
  readonly #auth: AuthHeaders | undefined;
  readonly #stallMs: number;

  constructor(pool: HttpPool, options: { endpoint: string; auth?: AuthHeaders; stallMs?: number }) {
    this.#pool = pool;
    this.#endpoint = options.endpoint.replace(/\/+$/, '');
    this.#auth = options.auth;
    this.#stallMs = options.stallMs ?? 0;
  }

  /** `/storage/v1/b/<bucket>/o/<name>`: an object of the JSON API. */
  static objectPath(bucket: string, name: string): string {
    return `/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
  }

  /** Sends one request; resolves with an answer below 300, throws the ApiError-shaped failure otherwise. */
  async send(request: LeanRequest): Promise<HttpAnswer> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(request.query ?? {}))
      if (value !== undefined) query.set(name, value);
    const search = query.size > 0 ? `?${query}` : '';
    const url = request.url ?? `${this.#endpoint}${request.path ?? ''}${search}`;
    const headers = { ...(this.#auth ? await this.#auth() : {}), ...request.headers };
    let answer: HttpAnswer;
    try {
      answer = await this.#pool.request({
        method: request.method,
        url,
        headers,
        body: request.body,
        signal: request.signal,
        stallMs: request.stallMs ?? this.#stallMs,
        stallMessage: (seconds) =>
          `Google Cloud Storage request to ${new URL(url).origin}: nothing received for ${seconds} s`,
      });
    } catch (error) {
      if (ArtifactsError.is(error) || isAbortError(error)) throw error;
      throw new LeanRequestFailure(url, this.#pool.reached(url), error);
    }
    if (answer.statusCode < 300) return answer;
    throw await gcsFailure(answer);
  }

  /** Sends one request and parses its JSON answer. */
  async json<T>(request: LeanRequest): Promise<T> {
    const answer = await this.send(request);
    const text = await readBodyText(answer.body);
    return (text ? JSON.parse(text) : {}) as T;
  }
}

/** A request that got no answer: where it went (for core's `requestFailure`) and the cause. */
export class LeanRequestFailure extends Error {
  readonly request: { url: string };
  /** The endpoint answered this client before: a refusal now is a restart, worth retrying. */
  readonly reached: boolean;

  constructor(url: string, reached: boolean, cause: unknown) {
    // The origin only: a session URL's query is a capability, and names belong in the context.
    super(
      `request to ${new URL(url).origin} failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'LeanRequestFailure';
    this.request = { url };
    this.reached = reached;
  }
}

/** An error answer as the library's ApiError: `code` the status, the JSON API's `error.message`. */
export async function gcsFailure(answer: HttpAnswer): Promise<Error> {
  const text = await readBodyText(answer.body, 65_536);
  answer.body.destroy();
  let message = '';
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const error = parsed.error;
    message = typeof error === 'string' ? error : typeof error?.message === 'string' ? error.message : '';
  } catch {
    // Not JSON (an XML error, a proxy's page): its first line speaks.
    message = text.split('\n')[0]!.slice(0, 300);
  }
  const status = answer.statusCode;
  return Object.assign(new Error(message || `HTTP ${status}`), {
    name: 'ApiError',
    code: status,
    response: { status },
  });
}
