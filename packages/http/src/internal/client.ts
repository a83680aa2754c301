import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  codeForHttpStatus,
  connectFailure,
  type HttpAnswer,
  HttpPool,
  headerString,
  httpTarget,
  isAbortError,
  isConnectionError,
  isTemporaryHttpStatus,
  parseHttpErrorBody,
  parseRetryAfter,
  readBodyText,
  readSettingFile,
  redactUri,
  scrub,
} from '@artifacts/core';
import type { ResolvedHttpOptions } from './settings.js';

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

/** What only this client can say about a connect that reached no server. */
const TARGET_HINTS = {
  caHint:
    'set MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle (or MLFLOW_TRACKING_INSECURE_TLS=true to skip verification)',
  addressHint: 'is the server running, and is the URI (or MLFLOW_TRACKING_URI) right?',
};

/**
 * One request per call over core's `HttpPool` (keep-alive, `connections` sockets per protocol):
 * core's retry layer and engines repeat a call whose error is `temporary` (408, 429, 5xx, a broken
 * connection or timeout), on the driver's schedule (`MLFLOW_HTTP_REQUEST_*`).
 */
export class HttpClient {
  readonly secrets: string[] = [];
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;
  readonly #pool: HttpPool;
  /**
   * The server has answered as @artifacts/server (`Server: artifacts-server`), whose HEAD is a cheap
   * stat; MLflow's server answers HEAD by fetching the whole file from its store.
   */
  answeredByOurServer = false;

  constructor(options: ResolvedHttpOptions, connections: number) {
    this.#timeoutMs = options.requestTimeoutMs;
    const pem = (path: string | undefined, variable: string) =>
      path ? readSettingFile(path, `${variable} file`) : undefined;
    const cert = pem(options.clientCertPath, 'MLFLOW_TRACKING_CLIENT_CERT_PATH');
    const ca = pem(options.serverCertPath, 'MLFLOW_TRACKING_SERVER_CERT_PATH');
    this.#pool = new HttpPool({
      connections,
      tls: {
        ...(options.insecureTls ? { rejectUnauthorized: false } : {}),
        ...(ca ? { ca } : {}),
        ...(cert ? { cert, key: cert } : {}),
      },
    });
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
  async send(method: string, url: string, options: SendOptions): Promise<HttpAnswer> {
    options.signal?.throwIfAborted();
    const sent = { bytes: 0 };
    const headers: Record<string, string> = { ...options.headers };
    if (options.credentials !== false && this.#authorization) headers.authorization = this.#authorization;
    const where = redactUri(stripQuery(url));
    let error: ArtifactsError;
    try {
      const response = await this.#pool.request({
        method,
        url,
        headers,
        body: options.body,
        signal: options.signal,
        stallMs: this.#timeoutMs,
        stallMessage: (seconds) =>
          `${options.what} failed: ${where}: nothing received for ${seconds} s; to wait longer, set MLFLOW_HTTP_REQUEST_TIMEOUT (seconds)`,
        sent,
      });
      this.answeredByOurServer ||=
        headerString(response.headers.server)?.startsWith('artifacts-server') === true;
      if (response.statusCode < 400) return response;
      error = await this.#statusError(response, where, options.what);
    } catch (caught) {
      if (ArtifactsError.is(caught)) throw caught;
      error = this.#networkError(caught, url, where, options.what);
    }
    if (!error.temporary || !options.oneShot || sent.bytes === 0) throw error;
    throw new ArtifactsError(
      error.code,
      `${error.message}; not retried: part of the streamed body was already sent and cannot be read again`,
      { cause: error, context: error.context },
    );
  }

  /** Sends a request and parses its JSON answer (`{}` for an empty one). */
  async json<T>(method: string, url: string, options: SendOptions): Promise<T> {
    const text = await readBodyText((await this.send(method, url, options)).body);
    try {
      return (text.trim() === '' ? {} : JSON.parse(text)) as T;
    } catch {
      throw new ArtifactsError(
        'internal',
        `${options.what}: the server answered with something that is not JSON`,
      );
    }
  }

  /** The server's MLflow `{error_code, message}` (or its page's text, at most 64 KiB read) kept. */
  async #statusError(response: HttpAnswer, where: string, what: string): Promise<ArtifactsError> {
    const status = response.statusCode;
    const retryAfterMs = parseRetryAfter(headerString(response.headers['retry-after']));
    // A body cut short still leaves the status to report.
    const { errorCode, message } = parseHttpErrorBody(await readBodyText(response.body, 65_536));
    response.body.destroy();
    const detail = scrub([errorCode, message].filter(Boolean).join(': '), this.secrets);
    return new ArtifactsError(
      codeForHttpStatus(status) ?? 'internal',
      `${what} failed: HTTP ${status} from ${where}${detail ? ` (${detail})` : ''}`,
      {
        temporary: isTemporaryHttpStatus(status),
        context: {
          status,
          ...(errorCode ? { errorCode } : {}),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        },
      },
    );
  }

  #networkError(error: unknown, url: string, where: string, what: string): ArtifactsError {
    if (isAbortError(error)) return new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
    // Nothing listening (or no such host) where nothing ever answered: a wrong URI or a server that
    // is down, which minutes of backoff do not fix; a host that did answer and now refuses is restarting.
    const unreached = connectFailure(httpTarget(url, TARGET_HINTS), error, {
      reached: this.#pool.reached(url),
      what: `${what} failed`,
    });
    if (unreached) return unreached;
    const code = (error as { code?: unknown } | null)?.code;
    const message = error instanceof Error ? error.message : String(error);
    return new ArtifactsError(
      'unavailable',
      `${what} failed: ${where}: ${message}${typeof code === 'string' ? ` (${code})` : ''}`,
      { cause: error, temporary: isConnectionError(error) },
    );
  }

  async close(): Promise<void> {
    this.#pool.destroy();
  }
}

/** Presigned URLs carry signatures in their query: never print it. */
function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}
