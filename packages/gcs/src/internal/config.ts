import { ArtifactsError, type ArtifactUri, envNumber, envString } from '@artifacts/core';

/** A service-account key (the JSON key file's content) or any credentials google-auth-library accepts. */
export interface GcsCredentials {
  client_email?: string;
  private_key?: string;
  [field: string]: unknown;
}

/** Options of the Google Cloud Storage backend (passed to `openRepository` beside core's options). */
export interface GcsOptions {
  /** Project for billing headers. Default: `GOOGLE_CLOUD_PROJECT`, else the credentials' project. */
  projectId?: string;
  /**
   * Path of a service-account key file. Default: Application Default Credentials
   * (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's user credentials, the metadata server).
   */
  keyFilename?: string;
  /** A service-account key object (`{ client_email, private_key, … }`). Wins over `keyFilename`. */
  credentials?: GcsCredentials;
  /**
   * `true`: never authenticate (public buckets, emulators). `false`: credentials are required.
   * `'fallback'`: Application Default Credentials, and anonymous access when none are found, as MLflow
   * does. Default: `true` when the endpoint comes from `STORAGE_EMULATOR_HOST`, else `'fallback'`.
   */
  anonymous?: boolean | 'fallback';
  /**
   * The API endpoint (JSON and XML API), for emulators and private endpoints. Default:
   * `STORAGE_EMULATOR_HOST` (a host:port or a URL; plain http when no scheme is given), else
   * `https://storage.googleapis.com`.
   */
  endpoint?: string;
  /**
   * Bytes per request of a resumable upload, a multiple of 256 KiB; each chunk is held in memory until
   * the service acknowledges it. Default: `MLFLOW_GCS_UPLOAD_CHUNK_SIZE`, else unset: the whole body
   * streams through one request of the resumable session, with flat memory. (MLflow's Python client
   * defaults to 100 MiB chunks; here that costs ~2.5× the chunk in RSS per upload in flight.)
   */
  uploadChunkSize?: number;
  /**
   * Bytes per ranged GET of a download, a multiple of 256 KiB. Default:
   * `MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE`, else 100 MiB.
   */
  downloadChunkSize?: number;
  /** Ranged GETs of one download in flight at once. Default 4. */
  downloadConcurrency?: number;
  /** Bodies of known size up to this many bytes go in one simple upload; larger (or unknown) ones are resumable. Default 8 MiB. */
  resumableThreshold?: number;
  /** Objects per listing page (1–1000). Default 1000. */
  listPageSize?: number;
  /** Object deletions in flight at once when deleting a directory. Default 16. */
  deleteConcurrency?: number;
  /**
   * Retries of a failed idempotent request by the client library itself, on top of core's. Default
   * 0: core's retry layer is the one place that retries.
   */
  maxRetries?: number;
  /**
   * Timeout of each HTTP request of the JSON API, in ms. Default: the repository's `timeoutMs` or
   * `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`, else the deprecated `MLFLOW_GCS_DEFAULT_TIMEOUT`, else
   * 60 s; `-1` (option or variables) means none.
   */
  requestTimeoutMs?: number;
}

export interface GcsConfig {
  bucket: string;
  root: string;
  projectId: string | undefined;
  keyFilename: string | undefined;
  credentials: GcsCredentials | undefined;
  anonymous: boolean | 'fallback';
  /** Undefined = Google's own endpoint. */
  endpoint: string | undefined;
  /** Where the endpoint came from, for messages. */
  endpointFrom: 'option' | 'STORAGE_EMULATOR_HOST' | undefined;
  /** Undefined: one streamed request per resumable session. */
  uploadChunkSize: number | undefined;
  downloadChunkSize: number;
  downloadConcurrency: number;
  resumableThreshold: number;
  listPageSize: number;
  deleteConcurrency: number;
  maxRetries: number;
  requestTimeoutMs: number | undefined;
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** GCS's resumable-upload granularity: chunk sizes must be multiples of it. */
export const CHUNK_GRANULARITY = 256 * KiB;
/** MLflow's documented default chunk size (used here for downloads). */
export const DEFAULT_CHUNK_SIZE = 100 * MiB;
/** MLflow's GCS default timeout. */
export const DEFAULT_GCS_TIMEOUT_MS = 60_000;

function positiveInt(name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw ArtifactsError.invalidArgument(
      `option ${name} must be an integer between 1 and ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** A chunk size from the option or its MLflow variable: a positive multiple of 256 KiB. */
export function resolveChunkSize(
  option: number | undefined,
  optionName: string,
  variable: string,
): number | undefined {
  const value = option ?? envNumber(variable, { integer: true, min: 1 });
  if (value === undefined) return undefined;
  const from = option === undefined ? `environment variable ${variable}` : `option ${optionName}`;
  if (!Number.isSafeInteger(value) || value < CHUNK_GRANULARITY || value % CHUNK_GRANULARITY !== 0) {
    throw ArtifactsError.invalidArgument(
      `${from} must be a positive multiple of 256 KiB (262144 bytes), got ${String(value)}`,
    );
  }
  return value;
}

let warnedDeprecatedTimeout = false;

/** For tests: lets the one-time deprecation warning fire again. */
export function resetDeprecationWarning(): void {
  warnedDeprecatedTimeout = false;
}

function secondsToMs(seconds: number, variable: string): number | undefined {
  if (seconds === -1 || seconds === 0) return undefined;
  if (seconds < 0) {
    throw ArtifactsError.invalidArgument(
      `environment variable ${variable}=${seconds} must be a positive number of seconds or -1 for no limit`,
    );
  }
  return seconds * 1000;
}

/**
 * The per-request timeout of the JSON API: the option (`-1` = none), else the repository's timeout
 * that core resolved once (option `timeoutMs`, `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`, else the
 * plugin's default: `defaultGcsTimeoutMs()`).
 */
export function resolveRequestTimeout(
  option: number | undefined,
  repositoryTimeoutMs: number | undefined,
): number | undefined {
  if (option !== undefined) {
    if (option === -1) return undefined;
    return positiveInt('requestTimeoutMs', option, DEFAULT_GCS_TIMEOUT_MS);
  }
  return repositoryTimeoutMs;
}

/**
 * GCS's default when `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` is unset: the deprecated
 * `MLFLOW_GCS_DEFAULT_TIMEOUT` (seconds, `-1` = none; one DeprecationWarning), else MLflow's 60 s.
 */
export function defaultGcsTimeoutMs(): number | undefined {
  const deprecated = envNumber('MLFLOW_GCS_DEFAULT_TIMEOUT');
  if (deprecated === undefined) return DEFAULT_GCS_TIMEOUT_MS;
  if (!warnedDeprecatedTimeout) {
    warnedDeprecatedTimeout = true;
    process.emitWarning(
      'MLFLOW_GCS_DEFAULT_TIMEOUT is deprecated; set MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT instead',
      { type: 'DeprecationWarning', code: 'ARTIFACTS_GCS_DEFAULT_TIMEOUT' },
    );
  }
  return secondsToMs(deprecated, 'MLFLOW_GCS_DEFAULT_TIMEOUT');
}

/**
 * An endpoint as a URL without a trailing slash. STORAGE_EMULATOR_HOST is a bare host:port in the
 * other Google clients (Go, Python), which talk plain HTTP to it; the Node client would prepend https.
 */
export function normalizeEndpoint(value: string, from: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value)
    ? value
    : `${from === 'STORAGE_EMULATOR_HOST' ? 'http' : 'https'}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw ArtifactsError.invalidArgument(`${from} ${JSON.stringify(value)} is not a URL or host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw ArtifactsError.invalidArgument(
      `${from} must be an http(s) URL, got ${JSON.stringify(url.protocol)}`,
    );
  }
  if (url.search || url.username || url.password) {
    throw ArtifactsError.invalidArgument(`${from} must not carry a query string or credentials`);
  }
  return withScheme.replace(/\/+$/, '');
}

export function resolveGcsConfig(
  location: ArtifactUri,
  options: GcsOptions,
  repositoryTimeoutMs?: number,
): GcsConfig {
  if (!location.bucket)
    throw ArtifactsError.invalidArgument('a gs:// URI needs a bucket: gs://<bucket>/<path>');
  const emulator = envString('STORAGE_EMULATOR_HOST');
  let endpoint: string | undefined;
  let endpointFrom: GcsConfig['endpointFrom'];
  if (options.endpoint) {
    endpoint = normalizeEndpoint(options.endpoint, 'option endpoint');
    endpointFrom = 'option';
  } else if (emulator) {
    endpoint = normalizeEndpoint(emulator, 'STORAGE_EMULATOR_HOST');
    endpointFrom = 'STORAGE_EMULATOR_HOST';
  }
  const anonymous = options.anonymous ?? (endpointFrom === 'STORAGE_EMULATOR_HOST' ? true : 'fallback');
  if (anonymous !== true && anonymous !== false && anonymous !== 'fallback') {
    throw ArtifactsError.invalidArgument(`option anonymous must be true, false or 'fallback'`);
  }
  return {
    bucket: location.bucket,
    root: location.path,
    projectId: options.projectId ?? envString('GOOGLE_CLOUD_PROJECT'),
    keyFilename: options.keyFilename,
    credentials: options.credentials,
    anonymous,
    endpoint,
    endpointFrom,
    uploadChunkSize: resolveChunkSize(
      options.uploadChunkSize,
      'uploadChunkSize',
      'MLFLOW_GCS_UPLOAD_CHUNK_SIZE',
    ),
    downloadChunkSize:
      resolveChunkSize(options.downloadChunkSize, 'downloadChunkSize', 'MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE') ??
      DEFAULT_CHUNK_SIZE,
    downloadConcurrency: positiveInt('downloadConcurrency', options.downloadConcurrency, 4, 64),
    resumableThreshold: positiveInt('resumableThreshold', options.resumableThreshold, 8 * MiB),
    listPageSize: positiveInt('listPageSize', options.listPageSize, 1000, 1000),
    deleteConcurrency: positiveInt('deleteConcurrency', options.deleteConcurrency, 16, 256),
    maxRetries: positiveInt('maxRetries', options.maxRetries, 0, 20),
    requestTimeoutMs: resolveRequestTimeout(options.requestTimeoutMs, repositoryTimeoutMs),
  };
}
