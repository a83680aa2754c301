import {
  ArtifactsError,
  type ArtifactUri,
  credentialsObjectSetting,
  defineSettings,
  deprecationOnce,
  envNumber,
  envTransferTimeoutMs,
  forgetDeprecation,
  KiB,
  MiB,
  objectStoreSettings,
  type SettingsValues,
} from '@artifacts/core';
import type { GcsCredentials, GcsOptions } from '../options.js';

/** The resolved settings, and what the URI says. `uploadChunkSize` undefined: one streamed request. */
export type GcsConfig = SettingsValues<typeof gcsSettings.specs> & {
  bucket: string;
  root: string;
  anonymous: boolean | 'fallback';
  /** Core's timeout, resolved once (`OpenContext.timeoutMs`): the client's bound on each request. */
  timeoutMs: number | undefined;
};

/** GCS's resumable-upload granularity: chunk sizes must be multiples of it. */
export const CHUNK_GRANULARITY = 256 * KiB;
/** MLflow's documented default chunk size (used here for downloads). */
export const DEFAULT_CHUNK_SIZE = 100 * MiB;
/** MLflow's GCS default timeout. */
export const DEFAULT_GCS_TIMEOUT_MS = 60_000;

/** Every option of the GCS backend, declared once: README table, env vars, validation. */
export const gcsSettings = defineSettings('@artifacts/gcs', {
  projectId: {
    type: 'string',
    env: 'GOOGLE_CLOUD_PROJECT',
    defaultText: "the credentials' project",
    help: 'project for billing headers',
  },
  keyFilename: {
    type: 'string',
    defaultText: 'ADC (`GOOGLE_APPLICATION_CREDENTIALS`, …)',
    help: 'service-account key file',
  },
  credentials: {
    ...credentialsObjectSetting<GcsCredentials>({
      backend: '@artifacts/gcs',
      required: ['client_email', 'private_key'],
      secret: ['private_key'],
      // Other key types (`authorized_user`, `external_account`, …) are the library's to check.
      requiredOf: (key) => typeof key.type !== 'string' || key.type === 'service_account',
      shape:
        'a key object: a service-account key ({ client_email, private_key } with non-empty strings) or another credentials object naming its `type`',
    }),
    help: 'service-account key object; wins over `keyFilename`',
  },
  anonymous: {
    type: 'custom',
    parse: (value: unknown): boolean | 'fallback' => {
      if (value === true || value === false || value === 'fallback') return value;
      throw ArtifactsError.invalidArgument(`option anonymous must be true, false or 'fallback'`);
    },
    defaultText: "`'fallback'` (`true` with `STORAGE_EMULATOR_HOST`)",
    help: 'see Credentials above',
  },
  endpoint: {
    type: 'url',
    env: 'STORAGE_EMULATOR_HOST',
    // STORAGE_EMULATOR_HOST is a bare host:port in the other Google clients (Go, Python), which talk
    // plain HTTP to it; the Node client would prepend https.
    bareHost: { env: 'http', option: 'https' },
    defaultText: '`https://storage.googleapis.com`',
    help: "API endpoint (JSON and XML API) for emulators and private endpoints; a bare `host:port` in the variable means plain `http://`, as in Google's Go and Python clients; must carry no query string or credentials",
  },
  caFile: objectStoreSettings.caFile('ARTIFACTS_GCS_CA_FILE', ", for this package's own requests"),
  uploadChunkSize: {
    type: 'integer',
    env: 'MLFLOW_GCS_UPLOAD_CHUNK_SIZE',
    min: CHUNK_GRANULARITY,
    multipleOf: CHUNK_GRANULARITY,
    defaultText: 'unset: one streamed request',
    help: 'bytes per request of a resumable upload, a multiple of 256 KiB; each chunk is held in memory until acknowledged',
  },
  downloadChunkSize: {
    type: 'integer',
    env: 'MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE',
    min: CHUNK_GRANULARITY,
    multipleOf: CHUNK_GRANULARITY,
    default: DEFAULT_CHUNK_SIZE,
    defaultText: '100 MiB',
    help: 'bytes per ranged GET of a download, a multiple of 256 KiB',
  },
  downloadConcurrency: {
    type: 'integer',
    min: 1,
    max: 64,
    default: 4,
    help: 'ranged GETs of one download in flight',
  },
  resumableThreshold: {
    type: 'integer',
    min: 1,
    default: 8 * MiB,
    defaultText: '8 MiB',
    help: 'bodies of known size up to this go in one simple upload; larger or unknown-size bodies use a resumable session',
  },
  listPageSize: { type: 'integer', min: 1, max: 1000, default: 1000, help: 'objects per listing page' },
  deleteConcurrency: objectStoreSettings.deleteConcurrency,
  libraryRetries: {
    type: 'integer',
    min: 0,
    max: 20,
    default: 0,
    help: "retries by Google's client library itself, inside each of core's attempts, for the calls still sent through it (chunked uploads with `uploadChunkSize`); 0 = off, so that core's `maxRetries` (`ARTIFACTS_MAX_RETRIES`) is the one place that retries",
  },
});

/** The code of the one-time warning for the deprecated MLFLOW_GCS_DEFAULT_TIMEOUT. */
const DEPRECATED_TIMEOUT = 'ARTIFACTS_GCS_DEFAULT_TIMEOUT';

/** For tests: lets the one-time deprecation warning fire again. */
export const resetDeprecationWarning = (): void => forgetDeprecation(DEPRECATED_TIMEOUT);

/**
 * GCS's default when `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` is unset: the deprecated
 * `MLFLOW_GCS_DEFAULT_TIMEOUT` (seconds, `-1` = none; one DeprecationWarning), else MLflow's 60 s.
 */
export function defaultGcsTimeoutMs(): number | undefined {
  if (envNumber('MLFLOW_GCS_DEFAULT_TIMEOUT') === undefined) return DEFAULT_GCS_TIMEOUT_MS;
  deprecationOnce(
    DEPRECATED_TIMEOUT,
    'MLFLOW_GCS_DEFAULT_TIMEOUT is deprecated; set MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT instead',
  );
  return envTransferTimeoutMs('MLFLOW_GCS_DEFAULT_TIMEOUT');
}

export function resolveGcsConfig(
  location: ArtifactUri,
  options: GcsOptions,
  repositoryTimeoutMs?: number,
): GcsConfig {
  const { values, sources } = gcsSettings.resolve(options);
  return {
    ...values,
    // core's URI parser refuses a gs:// URI without one.
    bucket: location.bucket!,
    root: location.path,
    // An emulator named by STORAGE_EMULATOR_HOST takes no credentials (as Google's clients assume).
    anonymous: values.anonymous ?? (sources.endpoint === 'STORAGE_EMULATOR_HOST' ? true : 'fallback'),
    timeoutMs: repositoryTimeoutMs,
  };
}
