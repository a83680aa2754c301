import { ArtifactsError, envBoolean, envNumber, envString } from '@artifacts/core';

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

export function resolveHttpOptions(options: HttpBackendOptions = {}): ResolvedHttpOptions {
  const chunk =
    options.multipartChunkSize ??
    envNumber('MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE', { integer: true, min: 1 }) ??
    10 * MIB;
  const resolved: ResolvedHttpOptions = {
    trackingUri: options.trackingUri ?? envString('MLFLOW_TRACKING_URI'),
    username: options.username ?? envString('MLFLOW_TRACKING_USERNAME'),
    password: options.password ?? envString('MLFLOW_TRACKING_PASSWORD'),
    token: options.token ?? envString('MLFLOW_TRACKING_TOKEN'),
    insecureTls: options.insecureTls ?? envBoolean('MLFLOW_TRACKING_INSECURE_TLS') ?? false,
    serverCertPath: options.serverCertPath ?? envString('MLFLOW_TRACKING_SERVER_CERT_PATH'),
    clientCertPath: options.clientCertPath ?? envString('MLFLOW_TRACKING_CLIENT_CERT_PATH'),
    requestTimeoutMs:
      (options.requestTimeoutSeconds ?? envNumber('MLFLOW_HTTP_REQUEST_TIMEOUT', { min: 0 }) ?? 120) * 1000,
    maxRetries:
      options.maxRetries ?? envNumber('MLFLOW_HTTP_REQUEST_MAX_RETRIES', { integer: true, min: 0 }) ?? 7,
    backoffFactor: options.backoffFactor ?? envNumber('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', { min: 0 }) ?? 2,
    backoffJitter: options.backoffJitter ?? envNumber('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', { min: 0 }) ?? 1,
    multipartUpload: options.multipartUpload ?? envBoolean('MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD') ?? false,
    multipartMinimumFileSize:
      options.multipartMinimumFileSize ??
      envNumber('MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE', { integer: true, min: 0 }) ??
      500 * MIB,
    multipartChunkSize: chunk,
    multipartConcurrency:
      options.multipartConcurrency ??
      envNumber('ARTIFACTS_HTTP_MULTIPART_CONCURRENCY', { integer: true, min: 1 }) ??
      Math.min(8, Math.max(1, Math.floor((256 * MIB) / chunk))),
    connections: options.connections ?? envNumber('ARTIFACTS_HTTP_CONNECTIONS', { integer: true, min: 1 }),
    listMaxDepth:
      options.listMaxDepth ?? envNumber('ARTIFACTS_HTTP_LIST_MAX_DEPTH', { integer: true, min: 1 }) ?? 256,
    listMaxEntries:
      options.listMaxEntries ??
      envNumber('ARTIFACTS_HTTP_LIST_MAX_ENTRIES', { integer: true, min: 1 }) ??
      10_000_000,
    onHttpRetry: options.onHttpRetry,
  };
  if (resolved.insecureTls && resolved.serverCertPath) {
    // MLflow refuses this combination too: one of them is a mistake.
    throw ArtifactsError.invalidArgument(
      'MLFLOW_TRACKING_INSECURE_TLS (insecureTls) and MLFLOW_TRACKING_SERVER_CERT_PATH (serverCertPath) cannot both be set',
    );
  }
  for (const name of [
    'multipartChunkSize',
    'multipartConcurrency',
    'maxRetries',
    'listMaxDepth',
    'listMaxEntries',
  ] as const) {
    const value = resolved[name];
    if (!Number.isInteger(value) || value < (name === 'maxRetries' ? 0 : 1)) {
      throw ArtifactsError.invalidArgument(
        `${name} must be a ${name === 'maxRetries' ? 'non-negative' : 'positive'} integer, got ${value}`,
      );
    }
  }
  return resolved;
}
