import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactsError, type ArtifactsErrorCode, isAbortError, redactUri, scrub } from '@artifacts/core';
import { Agent, type Dispatcher, request } from 'undici';
import type { ResolvedHttpOptions } from '../options.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A streamed body: sendable again only while none of it has been consumed. */
export interface StreamBody {
  canReplay(): boolean;
  iterable(): AsyncIterable<Uint8Array>;
}

/** Bytes (always replayable) or a stream. */
export type Body = Buffer | string | StreamBody;

function isStreamBody(body: Body | undefined): body is StreamBody {
  return typeof body === 'object' && body !== null && !Buffer.isBuffer(body);
}

export interface SendOptions {
  body?: Body;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send the server's credentials (never to presigned storage URLs). Default true. */
  credentials?: boolean;
  /**
   * Safe to repeat after a failure (GET, DELETE, list, the mpu calls). A streamed body is sent again
   * only while none of it was consumed.
   */
  idempotent: boolean;
  /** What is being done, for error messages ("uploading artifact 'a/b'"). */
  what: string;
  /**
   * The caller retries (core's chunked-upload engine, per part): fail at once, with the error's
   * `temporary` set when another try may succeed.
   */
  callerRetries?: boolean;
}

/** HTTP statuses worth another try: MLflow's list (urllib3 Retry status_forcelist) plus 408. */
const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
const RETRY_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);
const MAX_BACKOFF_MS = 60_000;
/** Connection failures that mean "nobody there" rather than "busy" or "restarting". */
const NEVER_THERE = new Set(['ECONNREFUSED', 'ENOTFOUND']);

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function errorCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** ArtifactsError code for an HTTP status. */
export function codeForStatus(status: number): ArtifactsErrorCode {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'unavailable';
  if (status === 501) return 'unsupported';
  if (status >= 500) return 'unavailable';
  return 'invalid_argument';
}

/** The server's error answer: MLflow's `{error_code, message}` when it sent one. */
export interface ServerError {
  status: number;
  errorCode?: string;
  message?: string;
}

export class HttpClient {
  readonly agent: Agent;
  readonly secrets: string[];
  readonly #authorization: string | undefined;
  readonly #options: ResolvedHttpOptions;
  /** Origins that have answered at least once: only their connection failures are worth retrying. */
  readonly #answered = new Set<string>();

  constructor(options: ResolvedHttpOptions, connections: number) {
    this.#options = options;
    const connect: Record<string, unknown> = {};
    if (options.insecureTls) connect.rejectUnauthorized = false;
    if (options.serverCertPath)
      connect.ca = readPem(options.serverCertPath, 'MLFLOW_TRACKING_SERVER_CERT_PATH');
    if (options.clientCertPath) {
      const pem = readPem(options.clientCertPath, 'MLFLOW_TRACKING_CLIENT_CERT_PATH');
      connect.cert = pem;
      connect.key = pem;
    }
    this.agent = new Agent({
      connections,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
      connect,
    });
    this.secrets = [];
    if (options.token) {
      this.#authorization = `Bearer ${options.token}`;
      this.secrets.push(options.token);
    } else if (options.username !== undefined && options.password !== undefined) {
      const basic = Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64');
      this.#authorization = `Basic ${basic}`;
      this.secrets.push(options.password, basic);
    }
  }

  /**
   * Sends a request, retrying 408/429/5xx answers and connection failures with exponential backoff
   * and jitter when it is safe to. Resolves with any response below 400; throws an ArtifactsError
   * for the rest (the status decides the code, the server's message is kept, credentials are not).
   */
  async send(method: Method, url: string, options: SendOptions): Promise<Dispatcher.ResponseData> {
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const body = isStreamBody(options.body) ? options.body.iterable() : options.body;
      const headers: Record<string, string> = { ...options.headers };
      if (options.credentials !== false && this.#authorization) headers.authorization = this.#authorization;
      let response: Dispatcher.ResponseData | undefined;
      let failure: unknown;
      try {
        response = await request(url, {
          method,
          headers,
          dispatcher: this.agent,
          ...(body === undefined ? {} : { body: body as Buffer }),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        failure = error;
      }
      if (response) this.#answered.add(originOf(url));
      if (response && response.statusCode < 400) return response;
      const failureCode = errorCodeOf(failure) ?? '';
      // Nothing listening (or no such host) where nothing ever answered: a wrong URI or a server
      // that is down. Waiting minutes of backoff for it helps nobody; a host that did answer and
      // now refuses is restarting, and is retried.
      const deadOnArrival = !response && NEVER_THERE.has(failureCode) && !this.#answered.has(originOf(url));
      const worthAnotherTry =
        !options.signal?.aborted &&
        !deadOnArrival &&
        (response ? RETRY_STATUS.has(response.statusCode) : RETRY_ERRORS.has(failureCode));
      if (options.callerRetries || this.#options.deferRetries) {
        const error = response
          ? await this.#statusError(response, url, options.what)
          : this.#networkError(failure, url, options.what);
        throw worthAnotherTry
          ? new ArtifactsError(error.code, error.message, {
              cause: error.cause,
              context: error.context,
              temporary: true,
            })
          : error;
      }
      const transient = attempt < this.#options.maxRetries && worthAnotherTry;
      const replayable = isStreamBody(options.body) ? options.body.canReplay() : options.idempotent;
      if (!transient || !replayable) {
        const error = response
          ? await this.#statusError(response, url, options.what)
          : this.#networkError(failure, url, options.what);
        if (transient && !replayable) {
          throw new ArtifactsError(
            error.code,
            `${error.message}; not retried: part of the streamed body was already sent and cannot be read again`,
            { cause: error, context: error.context },
          );
        }
        throw error;
      }
      const retryAfter = response ? retryAfterMs(response.headers['retry-after']) : undefined;
      await response?.body.dump().catch(() => undefined);
      const delayMs = retryAfter ?? this.#backoff(attempt + 1);
      this.#options.onHttpRetry?.({
        message: `${options.what}: ${
          response
            ? `HTTP ${response.statusCode} from ${redactUri(stripQuery(url))}`
            : this.#networkError(failure, url, options.what).message
        }`,
        attempt: attempt + 1,
        maxRetries: this.#options.maxRetries,
        delayMs: Math.round(delayMs),
      });
      await sleep(delayMs, undefined, options.signal ? { signal: options.signal } : {});
    }
  }

  /** Sends a request and parses its JSON answer (`{}` for an empty one). */
  async json<T>(method: Method, url: string, options: SendOptions): Promise<T> {
    const response = await this.send(method, url, options);
    const text = await response.body.text();
    if (text.trim() === '') return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ArtifactsError(
        'internal',
        `${options.what}: the server answered with something that is not JSON`,
      );
    }
  }

  #backoff(retry: number): number {
    const base = Math.min(this.#options.backoffFactor * 1000 * 2 ** (retry - 1), MAX_BACKOFF_MS);
    return base + Math.random() * this.#options.backoffJitter * 1000;
  }

  async #statusError(response: Dispatcher.ResponseData, url: string, what: string): Promise<ArtifactsError> {
    const server = await readServerError(response);
    const detail = scrub([server.errorCode, server.message].filter(Boolean).join(': '), this.secrets);
    const code = codeForStatus(server.status);
    return new ArtifactsError(
      code,
      `${what} failed: HTTP ${server.status} from ${redactUri(stripQuery(url))}${detail ? ` (${detail})` : ''}`,
      { context: { status: server.status, ...(server.errorCode ? { errorCode: server.errorCode } : {}) } },
    );
  }

  #networkError(error: unknown, url: string, what: string): ArtifactsError {
    if (ArtifactsError.is(error)) return error;
    if (isAbortError(error)) return new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
    const code = errorCodeOf(error);
    const kind: ArtifactsErrorCode =
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'timeout'
        : code?.startsWith('ERR_TLS') || code?.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT'
          ? 'permission_denied'
          : 'unavailable';
    const message = error instanceof Error ? error.message : String(error);
    const hint =
      (code === 'ECONNREFUSED' || code === 'ENOTFOUND') && !this.#answered.has(originOf(url))
        ? code === 'ECONNREFUSED'
          ? '; nothing is listening there: is the server running, and is the URI (or MLFLOW_TRACKING_URI) right?'
          : '; no such host: check the URI (or MLFLOW_TRACKING_URI)'
        : kind === 'timeout'
          ? '; to wait longer, set MLFLOW_HTTP_REQUEST_TIMEOUT (seconds)'
          : kind === 'permission_denied'
            ? '; the server certificate was not trusted: set MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle'
            : '';
    return new ArtifactsError(
      kind,
      `${what} failed: ${redactUri(stripQuery(url))}: ${message}${code ? ` (${code})` : ''}${hint}`,
      { cause: error },
    );
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Reads (at most 64 KiB of) an error answer and takes MLflow's `{error_code, message}` from it. */
export async function readServerError(response: Dispatcher.ResponseData): Promise<ServerError> {
  let text = '';
  try {
    for await (const chunk of response.body) {
      text += Buffer.from(chunk as Uint8Array).toString('utf8');
      if (text.length > 65_536) break;
    }
  } catch {
    // A body cut short still leaves the status to report.
  }
  response.body.destroy();
  const out: ServerError = { status: response.statusCode };
  try {
    const parsed = JSON.parse(text) as { error_code?: unknown; message?: unknown };
    if (typeof parsed.error_code === 'string') out.errorCode = parsed.error_code;
    if (typeof parsed.message === 'string') out.message = parsed.message.slice(0, 2000);
  } catch {
    // Not MLflow's JSON (a plain-text 503, a proxy's HTML page): its text, tags dropped, bounded.
    const plain = serverText(text);
    if (plain) out.message = plain;
  }
  return out;
}

/** Longest piece of a non-JSON error body kept in a message. */
const SERVER_TEXT_MAX = 300;

/** The readable text of a non-JSON error body: tags and whitespace runs collapsed, bounded. */
export function serverText(body: string): string | undefined {
  const plain = body
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (plain === '') return undefined;
  return plain.length > SERVER_TEXT_MAX ? `${plain.slice(0, SERVER_TEXT_MAX)}…` : plain;
}

function retryAfterMs(value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_BACKOFF_MS) : undefined;
}

/** Presigned URLs carry signatures in their query: never print it. */
function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}

function readPem(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ArtifactsError(
      'invalid_argument',
      `${variable} names ${JSON.stringify(path)}, which cannot be read`,
      {
        cause: error,
      },
    );
  }
}
