import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  type HttpErrorBody,
  isAbortError,
  isConnectionError,
  isTemporaryHttpStatus,
  parseHttpErrorBody,
  parseRetryAfter,
  redactUri,
  scrub,
} from '@artifacts/core';
import { Agent, type Dispatcher, request } from 'undici';
import type { ResolvedHttpOptions } from './settings.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface SendOptions {
  /** Bytes, or a stream (a `Readable` is read without being destroyed when the request fails). */
  body?: Buffer | string | Readable;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send the server's credentials (never to presigned storage URLs). Default true. */
  credentials?: boolean;
  /** The body is the caller's only copy: once a byte of it is sent, a failure is final. */
  oneShot?: boolean;
  /** What is being done, for error messages ("uploading artifact 'a/b'"). */
  what: string;
}

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

/**
 * One request per call: core's retry layer and engines repeat a call whose error is `temporary`
 * (408, 429, 5xx, a broken connection or timeout), on the driver's schedule (`MLFLOW_HTTP_REQUEST_*`).
 */
export class HttpClient {
  readonly agent: Agent;
  readonly secrets: string[];
  readonly #authorization: string | undefined;
  /** Origins that have answered at least once: only their refusals are worth retrying. */
  readonly #answered = new Set<string>();

  constructor(options: ResolvedHttpOptions, connections: number) {
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
   * Sends one request. Resolves with any response below 400; throws an ArtifactsError for the rest
   * (core's status mapping, the server's message kept, credentials not), `temporary` when the same
   * request may succeed later.
   */
  async send(method: Method, url: string, options: SendOptions): Promise<Dispatcher.ResponseData> {
    options.signal?.throwIfAborted();
    let sent = 0;
    const source = options.body;
    const body =
      source instanceof Readable
        ? (async function* () {
            for await (const chunk of source.iterator({ destroyOnReturn: false })) {
              sent += (chunk as Buffer).length;
              yield chunk as Uint8Array;
            }
          })()
        : source;
    const headers: Record<string, string> = { ...options.headers };
    if (options.credentials !== false && this.#authorization) headers.authorization = this.#authorization;
    let error: ArtifactsError;
    try {
      const response = await request(url, {
        method,
        headers,
        dispatcher: this.agent,
        ...(body === undefined ? {} : { body: body as Buffer }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      this.#answered.add(originOf(url));
      if (response.statusCode < 400) return response;
      error = await this.#statusError(response, url, options.what);
    } catch (caught) {
      if (ArtifactsError.is(caught)) throw caught;
      error = this.#networkError(caught, url, options.what);
    }
    if (!error.temporary || !options.oneShot || sent === 0) throw error;
    throw new ArtifactsError(
      error.code,
      `${error.message}; not retried: part of the streamed body was already sent and cannot be read again`,
      { cause: error, context: error.context },
    );
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

  async #statusError(response: Dispatcher.ResponseData, url: string, what: string): Promise<ArtifactsError> {
    const retryAfterMs = parseRetryAfter(headerString(response.headers['retry-after']));
    const server = await readServerError(response);
    const detail = scrub([server.errorCode, server.message].filter(Boolean).join(': '), this.secrets);
    return new ArtifactsError(
      codeForHttpStatus(server.status) ?? 'internal',
      `${what} failed: HTTP ${server.status} from ${redactUri(stripQuery(url))}${detail ? ` (${detail})` : ''}`,
      {
        temporary: isTemporaryHttpStatus(server.status),
        context: {
          status: server.status,
          ...(server.errorCode ? { errorCode: server.errorCode } : {}),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      },
    );
  }

  #networkError(error: unknown, url: string, what: string): ArtifactsError {
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
    // Nothing listening (or no such host) where nothing ever answered: a wrong URI or a server that
    // is down. Minutes of backoff help nobody; a host that did answer and now refuses is restarting.
    const neverThere = NEVER_THERE.has(code ?? '') && !this.#answered.has(originOf(url));
    const message = error instanceof Error ? error.message : String(error);
    const hint = neverThere
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
      {
        cause: error,
        temporary: !neverThere && (kind === 'timeout' || code === 'ENOTFOUND' || isConnectionError(error)),
      },
    );
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The server's error answer: its status, and MLflow's `{error_code, message}` or the page's text. */
export interface ServerError extends HttpErrorBody {
  status: number;
}

/** Reads (at most 64 KiB of) an error answer and takes what it says from it (core's parser). */
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
  return { status: response.statusCode, ...parseHttpErrorBody(text) };
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
      { cause: error },
    );
  }
}
