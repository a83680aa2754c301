import type { Readable } from 'node:stream';
import { connectFailure, httpTarget } from './connection-pool.js';
import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  isAbortError,
  isConnectionError,
  isTemporaryHttpStatus,
  parseHttpErrorBody,
  scrub,
} from './errors.js';
import { type HttpAnswer, HttpPool, headerString, readBodyText } from './http-client.js';
import { parseRetryAfter } from './layers/retry.js';
import { readSettingFile } from './setting-files.js';
import { defineSettings, type SettingsValues } from './settings.js';
import { asksForNegotiate, type Spnego } from './spnego.js';
import { redactUri } from './uri.js';

/**
 * The settings of a client of an MLflow server's REST API (MLflow's own `MLFLOW_TRACKING_*` and
 * `MLFLOW_HTTP_REQUEST_*` variables), declared once for every client of one: the artifact proxy's
 * (`@artifacts/http` spreads them into its own declaration) and the tracking server's.
 */
export const mlflowClientSettings = defineSettings('@artifacts/core (MLflow client)', {
  trackingUri: {
    type: 'string',
    env: 'MLFLOW_TRACKING_URI',
    help: 'the MLflow server, `http(s)://host[:port][/prefix]`: where `runs:/` and `models:/` URIs are resolved, and what `mlflow-artifacts:/path` URIs are relative to; user info in it (`http://user:pass@host`) is the fallback for `username` and `password`, and is never shown',
  },
  username: {
    type: 'string',
    env: 'MLFLOW_TRACKING_USERNAME',
    help: 'HTTP basic user; basic credentials are sent when both user and password are set',
  },
  password: { type: 'string', env: 'MLFLOW_TRACKING_PASSWORD', secret: true, help: 'HTTP basic password' },
  token: {
    type: 'string',
    env: 'MLFLOW_TRACKING_TOKEN',
    secret: true,
    help: "bearer token, used when no user and password are set (MLflow's order)",
  },
  insecureTls: {
    type: 'boolean',
    env: 'MLFLOW_TRACKING_INSECURE_TLS',
    default: false,
    help: 'skip TLS certificate verification (server and part uploads); cannot be combined with `serverCertPath`',
  },
  serverCertPath: {
    type: 'string',
    env: 'MLFLOW_TRACKING_SERVER_CERT_PATH',
    defaultText: 'system CAs',
    help: 'PEM CA bundle to verify the server (and the storage part URLs) with',
  },
  clientCertPath: {
    type: 'string',
    env: 'MLFLOW_TRACKING_CLIENT_CERT_PATH',
    help: 'PEM file with a client certificate and its key, for mutual TLS',
  },
  requestTimeoutSeconds: {
    type: 'number',
    env: 'MLFLOW_HTTP_REQUEST_TIMEOUT',
    min: 0,
    default: 120,
    help: 'wait for a response to start, and between two chunks of a body',
  },
  maxRetries: {
    type: 'integer',
    env: 'MLFLOW_HTTP_REQUEST_MAX_RETRIES',
    min: 0,
    default: 7,
    help: "retries of a failed request (408, 429, 5xx, broken connections, timeouts), by core's retry layer on MLflow's schedule; for `@artifacts/http`, `openRepository`'s `maxRetries` (or `ARTIFACTS_MAX_RETRIES`), when given, wins. A connection refused by (or a DNS miss for) a host that has never answered is not retried: it fails at once, with a hint to check that the server runs and the URI. Once a host has answered, its refusals are retried (it is restarting)",
  },
  backoffFactor: {
    type: 'number',
    env: 'MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR',
    min: 0,
    default: 2,
    help: 'retry *n* waits `factor × 2^(n−1)` seconds (at most 60)…',
  },
  backoffJitter: {
    type: 'number',
    env: 'MLFLOW_HTTP_REQUEST_BACKOFF_JITTER',
    min: 0,
    default: 1,
    help: '…plus up to this many random seconds',
  },
});

/** What `MlflowHttpClient` reads of the settings (the timeout in ms). */
export type MlflowClientOptions = Pick<
  SettingsValues<typeof mlflowClientSettings.specs>,
  'username' | 'password' | 'token' | 'insecureTls' | 'serverCertPath' | 'clientCertPath'
> & { requestTimeoutMs: number };

export interface MlflowSendOptions {
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

/** Kerberos for a server behind a SPNEGO-checking proxy: instead of basic or bearer credentials. */
export interface MlflowClientAuth {
  spnego?: Spnego | undefined;
  /** Said of a 401 that asks for Kerberos (`WWW-Authenticate: Negotiate`) when `spnego` is off. */
  negotiateHint?: string;
}

/** What only this client can say about a connect that reached no server. */
const TARGET_HINTS = {
  caHint:
    'set MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle (or MLFLOW_TRACKING_INSECURE_TLS=true to skip verification)',
  addressHint: 'is the server running, and is the URI (or MLFLOW_TRACKING_URI) right?',
};

/**
 * A client of an MLflow server (its artifact proxy, @artifacts/server): one request per call over
 * `HttpPool` (keep-alive, `connections` sockets per protocol), with MLflow's credentials and TLS
 * settings; an error answer keeps the server's `{error_code, message}`. Core's retry layer and
 * engines repeat a call whose error is `temporary` (408, 429, 5xx, a broken connection or timeout),
 * on the driver's schedule (`MLFLOW_HTTP_REQUEST_*`).
 */
export class MlflowHttpClient {
  readonly secrets: string[] = [];
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;
  readonly #pool: HttpPool;
  readonly #auth: MlflowClientAuth;
  /**
   * The server has answered as @artifacts/server (`Server: artifacts-server`), whose HEAD is a cheap
   * stat; MLflow's server answers HEAD by fetching the whole file from its store.
   */
  answeredByOurServer = false;

  constructor(options: MlflowClientOptions, connections: number, auth: MlflowClientAuth = {}) {
    this.#auth = auth;
    if (options.insecureTls && options.serverCertPath) {
      // MLflow refuses the same combination: one says "trust anything", the other "trust this CA".
      throw ArtifactsError.invalidArgument(
        'MLFLOW_TRACKING_INSECURE_TLS (insecureTls) and MLFLOW_TRACKING_SERVER_CERT_PATH (serverCertPath) cannot both be set',
      );
    }
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
    const { username, password, token } = options;
    // MLflow's order (rest_utils.http_request): basic credentials when both are set, else the token.
    if (username && password) {
      const basic = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
      this.#authorization = `Basic ${basic}`;
      this.secrets.push(basic);
    } else if (token) {
      this.#authorization = `Bearer ${token}`;
    }
    for (const secret of [password, token]) if (secret) this.secrets.push(secret);
  }

  /**
   * Sends one request. Resolves with any response below 400; throws an ArtifactsError for the rest
   * (core's status mapping, the server's message kept, credentials not), `temporary` when the same
   * request may succeed later.
   */
  async send(method: string, url: string, options: MlflowSendOptions): Promise<HttpAnswer> {
    options.signal?.throwIfAborted();
    const sent = { bytes: 0 };
    const headers: Record<string, string> = { ...options.headers };
    if (options.credentials !== false && this.#auth.spnego)
      Object.assign(headers, await this.#auth.spnego.headers(url));
    else if (options.credentials !== false && this.#authorization)
      headers.authorization = this.#authorization;
    // Only a failure names the URL: not parsed and redacted for every request that succeeds.
    const where = () => redactUri(stripQuery(url));
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
          `${options.what} failed: ${where()}: nothing received for ${seconds} s; to wait longer, set MLFLOW_HTTP_REQUEST_TIMEOUT (seconds)`,
        sent,
      });
      this.answeredByOurServer ||=
        headerString(response.headers.server)?.startsWith('artifacts-server') === true;
      if (response.statusCode < 400) return response;
      error = await this.#statusError(response, where(), options.what);
    } catch (caught) {
      if (ArtifactsError.is(caught)) throw caught;
      error = this.#networkError(caught, url, where(), options.what);
    }
    if (!error.temporary || !options.oneShot || sent.bytes === 0) throw error;
    throw new ArtifactsError(
      error.code,
      `${error.message}; not retried: part of the streamed body was already sent and cannot be read again`,
      { cause: error, context: error.context },
    );
  }

  /** Sends a request and parses its JSON answer (`{}` for an empty one). */
  async json<T>(method: string, url: string, options: MlflowSendOptions): Promise<T> {
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
      mlflowErrorCode(status, errorCode, message),
      `${what} failed: HTTP ${status} from ${where}${detail ? ` (${detail})` : ''}${status === 401 ? this.#hint401(response) : ''}`,
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

  #hint401(response: HttpAnswer): string {
    const { spnego, negotiateHint } = this.#auth;
    if (spnego) return `; ${spnego.hint401()}`;
    return negotiateHint && asksForNegotiate(response.headers) ? `; ${negotiateHint}` : CREDENTIALS_HINT;
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

const CREDENTIALS_HINT =
  '; set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN';

/**
 * An MLflow error answer's code: MLflow's own `error_code` where it says more than the status
 * (an unknown model alias is `400 INVALID_PARAMETER_VALUE "… not found."`), else core's status mapping.
 */
export function mlflowErrorCode(
  status: number,
  errorCode: string | undefined,
  message: string | undefined,
): ArtifactsErrorCode {
  if (errorCode === 'RESOURCE_DOES_NOT_EXIST') return 'not_found';
  if (errorCode === 'INVALID_PARAMETER_VALUE' && /\bnot found\b/i.test(message ?? '')) return 'not_found';
  return codeForHttpStatus(status) ?? 'internal';
}

/** Presigned URLs carry signatures in their query: never print it. */
function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : `${url.slice(0, q)}?…`;
}
