import { ArtifactsError, defineSettings } from '@artifacts/core';

/**
 * Options of the HTTP backend (pass them to `openRepository`). Each falls back to the MLflow
 * environment variable named in its doc, then to MLflow's default.
 */
export interface HttpBackendOptions {
  /** The MLflow tracking server, for `mlflow-artifacts:/path` URIs. Default: `MLFLOW_TRACKING_URI`. */
  trackingUri?: string;
  /** HTTP basic user. Default: `MLFLOW_TRACKING_USERNAME`, else the URI's user info. */
  username?: string;
  /** HTTP basic password. Default: `MLFLOW_TRACKING_PASSWORD`, else the URI's user info. */
  password?: string;
  /** Bearer token (wins over basic credentials). Default: `MLFLOW_TRACKING_TOKEN`. */
  token?: string;
  /** Skip TLS certificate verification. Default: `MLFLOW_TRACKING_INSECURE_TLS`, else false. */
  insecureTls?: boolean;
  /** A CA bundle (PEM file) to verify the server with. Default: `MLFLOW_TRACKING_SERVER_CERT_PATH`. */
  serverCertPath?: string;
  /**
   * A client certificate for mutual TLS: one PEM file holding the certificate and its key. Default:
   * `MLFLOW_TRACKING_CLIENT_CERT_PATH`.
   */
  clientCertPath?: string;
  /**
   * Seconds to wait for a response to start, and between two chunks of a body. Default:
   * `MLFLOW_HTTP_REQUEST_TIMEOUT`, else 120.
   */
  requestTimeoutSeconds?: number;
  /** Retries of a failed request (408, 429, 5xx, connection errors). Default: `MLFLOW_HTTP_REQUEST_MAX_RETRIES`, else 7. */
  maxRetries?: number;
  /** Backoff before retry n is `factor × 2^(n-1)` seconds (at most 60). Default: `MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`, else 2. */
  backoffFactor?: number;
  /** Up to this many random seconds are added to each backoff. Default: `MLFLOW_HTTP_REQUEST_BACKOFF_JITTER`, else 1. */
  backoffJitter?: number;
  /**
   * Upload large files in parts straight to storage through presigned URLs (the server's mpu/*
   * routes); falls back to one PUT where the server's destination has no multipart support.
   * Default: `MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD`, else false.
   */
  multipartUpload?: boolean;
  /** Files of at least this many bytes go multipart. Default: `MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE`, else 500 MiB. */
  multipartMinimumFileSize?: number;
  /**
   * Bytes per part. Default: `MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE`, else 10 MiB (MLflow's code default;
   * its docs say 100 MB). S3 needs at least 5 MiB for every part but the last.
   */
  multipartChunkSize?: number;
  /**
   * Parts uploaded at once. Each part in flight is held in memory (so that a failed part can be
   * retried), so memory is bounded by concurrency × chunk size whatever the file size. Default:
   * `ARTIFACTS_HTTP_MULTIPART_CONCURRENCY`, else as many as fit in 256 MiB, between 1 and 8.
   */
  multipartConcurrency?: number;
  /** Parallel connections to the server. Default: `ARTIFACTS_HTTP_CONNECTIONS`, else the repository's maxConcurrency. */
  connections?: number;
  /**
   * Deepest directory a recursive listing (download, delete of a tree) descends to below its start;
   * deeper is refused as a hostile or looping server. Default: `ARTIFACTS_HTTP_LIST_MAX_DEPTH`, else 256.
   */
  listMaxDepth?: number;
  /**
   * Most entries one recursive listing may return. Default: `ARTIFACTS_HTTP_LIST_MAX_ENTRIES`, else
   * 10,000,000.
   */
  listMaxEntries?: number;
  /**
   * Called before each retry of a failed request (what failed, the attempt, the wait): what a
   * `--verbose` command line prints. Default: none.
   */
  onHttpRetry?: (event: HttpRetryEvent) => void;
}

/** One retry of a request, as `onHttpRetry` sees it. No URL query, no credential. */
export interface HttpRetryEvent {
  /** What was being done ("reading artifact \"a.txt\"") and why it failed. */
  message: string;
  /** 1 for the first retry. */
  attempt: number;
  /** Retries allowed in all. */
  maxRetries: number;
  /** The wait before this retry, in ms. */
  delayMs: number;
}

export interface ResolvedHttpOptions {
  trackingUri: string | undefined;
  username: string | undefined;
  password: string | undefined;
  token: string | undefined;
  insecureTls: boolean;
  serverCertPath: string | undefined;
  clientCertPath: string | undefined;
  requestTimeoutMs: number;
  maxRetries: number;
  /**
   * Core's retry layer retries (the user set core's `maxRetries`): the client makes one attempt and
   * marks an error after which the same call may succeed `temporary`.
   */
  deferRetries?: boolean;
  backoffFactor: number;
  backoffJitter: number;
  multipartUpload: boolean;
  multipartMinimumFileSize: number;
  multipartChunkSize: number;
  multipartConcurrency: number;
  connections: number | undefined;
  listMaxDepth: number;
  listMaxEntries: number;
  onHttpRetry: ((event: HttpRetryEvent) => void) | undefined;
}

const MIB = 1024 * 1024;

/** Every option of the HTTP backend, declared once: README table, env vars, secrets, validation. */
export const httpSettings = defineSettings('@artifacts/http', {
  trackingUri: {
    type: 'string',
    env: 'MLFLOW_TRACKING_URI',
    help: 'the MLflow server for `mlflow-artifacts:` URIs (must be http(s) for `mlflow-artifacts:/path`); user info in it (`http://user:pass@host`) is used as basic credentials',
  },
  username: { type: 'string', env: 'MLFLOW_TRACKING_USERNAME', help: 'HTTP basic user' },
  password: { type: 'string', env: 'MLFLOW_TRACKING_PASSWORD', secret: true, help: 'HTTP basic password' },
  token: {
    type: 'string',
    env: 'MLFLOW_TRACKING_TOKEN',
    secret: true,
    help: 'bearer token; wins over basic credentials',
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
    help: "retries of a failed request (408, 429, 5xx, broken connections), by this client's own loop with MLflow's backoff. One retry budget: when core's `maxRetries` is given to `openRepository` (or `ARTIFACTS_MAX_RETRIES` is set), core's retry layer does the retrying instead — the client makes one attempt per call and marks an error after which the call may succeed `temporary` — and this setting is not used; what the client's own loop gives up on is not retried again by core. A connection refused by (or a DNS miss for) a host that has never answered this client is not retried: it fails at once, with a hint to check that the server runs and the URI, instead of after minutes of backoff. Once a host has answered, its refusals are retried (it is restarting)",
  },
  onHttpRetry: {
    type: 'function',
    parse: (value: unknown) => value as (event: HttpRetryEvent) => void,
    help: "called before each of this client's own request retries (the ones governed by `MLFLOW_HTTP_REQUEST_*`) with `{ message, attempt, maxRetries, delayMs }` (no credential, no URL query): what a `--verbose` command prints. Retries by core's layer (see `maxRetries`) go to `openRepository`'s `onRetry` instead",
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
  multipartUpload: {
    type: 'boolean',
    env: 'MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD',
    default: false,
    help: 'upload large files in parts through presigned URLs',
  },
  multipartMinimumFileSize: {
    type: 'integer',
    env: 'MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE',
    min: 0,
    default: 500 * MIB,
    defaultText: '500 MiB',
    help: 'files at least this large go multipart',
  },
  multipartChunkSize: {
    type: 'integer',
    env: 'MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE',
    min: 1,
    default: 10 * MIB,
    defaultText: '10 MiB',
    help: "bytes per part (MLflow's code default; its docs say 100 MB); S3 needs ≥ 5 MiB for every part but the last",
  },
  multipartConcurrency: {
    type: 'integer',
    env: 'ARTIFACTS_HTTP_MULTIPART_CONCURRENCY',
    min: 1,
    defaultText: 'as many parts as fit in 256 MiB, 1–8',
    help: 'parts in flight (each held in memory for its retries)',
  },
  connections: {
    type: 'integer',
    env: 'ARTIFACTS_HTTP_CONNECTIONS',
    min: 1,
    defaultText: "the repository's `maxConcurrency` (at least 4)",
    help: 'parallel connections to the server',
  },
  listMaxDepth: {
    type: 'integer',
    env: 'ARTIFACTS_HTTP_LIST_MAX_DEPTH',
    min: 1,
    default: 256,
    help: 'deepest level a recursive walk (directory download) descends below its start; deeper is refused (`failed_precondition`) as a hostile or looping server',
  },
  listMaxEntries: {
    type: 'integer',
    env: 'ARTIFACTS_HTTP_LIST_MAX_ENTRIES',
    min: 1,
    default: 10_000_000,
    defaultText: '10,000,000',
    help: 'most entries one recursive walk may return',
  },
});

export function resolveHttpOptions(options: HttpBackendOptions = {}): ResolvedHttpOptions {
  const { values } = httpSettings.resolve(options);
  if (values.insecureTls && values.serverCertPath) {
    // MLflow refuses this combination too: one of them is a mistake.
    throw ArtifactsError.invalidArgument(
      'MLFLOW_TRACKING_INSECURE_TLS (insecureTls) and MLFLOW_TRACKING_SERVER_CERT_PATH (serverCertPath) cannot both be set',
    );
  }
  const { requestTimeoutSeconds, ...rest } = values;
  return {
    ...rest,
    requestTimeoutMs: requestTimeoutSeconds * 1000,
    multipartConcurrency:
      values.multipartConcurrency ??
      Math.min(8, Math.max(1, Math.floor((256 * MIB) / values.multipartChunkSize))),
  };
}
