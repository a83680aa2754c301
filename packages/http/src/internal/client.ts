import { readFileSync } from 'node:fs';
import type { Agent as HttpAgent, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
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
import type { ResolvedHttpOptions } from './settings.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** A response below 400: its body is the caller's to read (or `discard`). */
export interface Response {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

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
 * One request per call, over node:http(s) with a keep-alive pool of `connections` sockets per
 * protocol (loaded on first use; undici's receive path and import cost more CPU and memory for the
 * same bytes): core's retry layer and engines repeat a call whose error is `temporary` (408, 429,
 * 5xx, a broken connection or timeout), on the driver's schedule (`MLFLOW_HTTP_REQUEST_*`).
 */
export class HttpClient {
  readonly secrets: string[];
  readonly #authorization: string | undefined;
  readonly #connections: number;
  readonly #timeoutMs: number;
  readonly #tls: { rejectUnauthorized?: boolean; ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  readonly #agents: { http?: HttpAgent; https?: HttpAgent } = {};
  /** Origins that have answered at least once: only their refusals are worth retrying. */
  readonly #answered = new Set<string>();

  constructor(options: ResolvedHttpOptions, connections: number) {
    this.#connections = connections;
    this.#timeoutMs = options.requestTimeoutMs;
    if (options.insecureTls) this.#tls.rejectUnauthorized = false;
    if (options.serverCertPath)
      this.#tls.ca = readPem(options.serverCertPath, 'MLFLOW_TRACKING_SERVER_CERT_PATH');
    if (options.clientCertPath) {
      const pem = readPem(options.clientCertPath, 'MLFLOW_TRACKING_CLIENT_CERT_PATH');
      this.#tls.cert = pem;
      this.#tls.key = pem;
    }
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
  async send(method: Method, url: string, options: SendOptions): Promise<Response> {
    options.signal?.throwIfAborted();
    const sent = { bytes: 0 };
    const headers: Record<string, string> = { ...options.headers };
    if (options.credentials !== false && this.#authorization) headers.authorization = this.#authorization;
    let error: ArtifactsError;
    try {
      const response = await this.#request(method, url, headers, options, sent);
      this.#answered.add(originOf(url));
      if (response.statusCode < 400) return response;
      error = await this.#statusError(response, url, options.what);
    } catch (caught) {
      if (ArtifactsError.is(caught)) throw caught;
      error = this.#networkError(caught, url, options.what);
    }
    if (!error.temporary || !options.oneShot || sent.bytes === 0) throw error;
    throw new ArtifactsError(
      error.code,
      `${error.message}; not retried: part of the streamed body was already sent and cannot be read again`,
      { cause: error, context: error.context },
    );
  }

  #agent(https: boolean): HttpAgent {
    const key = https ? 'https' : 'http';
    const { Agent } = nodeHttp(https);
    this.#agents[key] ??= new Agent({
      keepAlive: true,
      maxSockets: this.#connections,
      ...(https ? this.#tls : {}),
    });
    return this.#agents[key];
  }

  /**
   * One exchange. `MLFLOW_HTTP_REQUEST_TIMEOUT` bounds the wait for the answer and each pause of
   * its body (the socket's idle timeout); a stream body is pumped with back-pressure and counted.
   */
  async #request(
    method: Method,
    url: string,
    headers: Record<string, string>,
    options: SendOptions,
    sent: { bytes: number },
  ): Promise<Response> {
    const target = new URL(url);
    const https = target.protocol === 'https:';
    const { request } = nodeHttp(https);
    const agent = this.#agent(https);
    return new Promise((resolve, reject) => {
      let response: IncomingMessage | undefined;
      const req = request(
        target,
        { method, headers, agent, ...(options.signal ? { signal: options.signal } : {}) },
        (res) => {
          response = res;
          resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
        },
      );
      if (this.#timeoutMs > 0) {
        req.setTimeout(this.#timeoutMs, () => {
          const error = new ArtifactsError(
            'timeout',
            `${options.what} failed: ${redactUri(stripQuery(url))}: nothing received for ${this.#timeoutMs / 1000} s; to wait longer, set MLFLOW_HTTP_REQUEST_TIMEOUT (seconds)`,
            { temporary: true },
          );
          if (response) response.destroy(error);
          req.destroy(error);
        });
      }
      req.on('error', reject);
      const body = options.body;
      if (!(body instanceof Readable)) {
        req.end(body);
        return;
      }
      (async () => {
        for await (const chunk of body.iterator({ destroyOnReturn: false })) {
          if (req.destroyed) return;
          sent.bytes += (chunk as Buffer).length;
          if (!req.write(chunk)) {
            await new Promise<void>((done) => {
              const settle = () => {
                req.off('drain', settle).off('close', settle);
                done();
              };
              req.on('drain', settle).on('close', settle);
            });
          }
        }
        req.end();
      })().catch((error: unknown) => req.destroy(error as Error));
    });
  }

  /** Sends a request and parses its JSON answer (`{}` for an empty one). */
  async json<T>(method: Method, url: string, options: SendOptions): Promise<T> {
    const response = await this.send(method, url, options);
    const text = await readText(response.body);
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

  async #statusError(response: Response, url: string, what: string): Promise<ArtifactsError> {
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
      code?.startsWith('ERR_TLS') || code?.includes('CERT') || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
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
      : kind === 'permission_denied'
        ? '; the server certificate was not trusted: set MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle'
        : '';
    return new ArtifactsError(
      kind,
      `${what} failed: ${redactUri(stripQuery(url))}: ${message}${code ? ` (${code})` : ''}${hint}`,
      {
        cause: error,
        temporary: !neverThere && (code === 'ENOTFOUND' || isConnectionError(error)),
      },
    );
  }

  async close(): Promise<void> {
    for (const agent of Object.values(this.#agents)) agent.destroy();
  }
}

/**
 * node:http(s) as their CommonJS objects, on first use: an ES import builds the whole namespace,
 * whose lazy getters load Node's bundled undici (about 0.15 s of CPU and 9 MB in every process).
 */
function nodeHttp(https: boolean): typeof import('node:http') {
  return process.getBuiltinModule(https ? 'node:https' : 'node:http') as typeof import('node:http');
}

export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The server's error answer: its status, and MLflow's `{error_code, message}` or the page's text. */
export interface ServerError extends HttpErrorBody {
  status: number;
}

/** Reads (at most 64 KiB of) an error answer and takes what it says from it (core's parser). */
export async function readServerError(response: Response): Promise<ServerError> {
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

/** Reads a (small) answer's body whole. */
async function readText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and drops a body the caller has no use for, so its connection goes back to the pool. */
export async function discard(response: Response): Promise<void> {
  await finished(response.body.resume());
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
