import { ArtifactsError } from './errors.js';

/** Default bound on concurrent file transfers per repository (`ARTIFACTS_MAX_CONCURRENCY`). */
export const DEFAULT_MAX_CONCURRENCY = 16;

function raw(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The boolean a word of an environment variable means: true/1/yes/on, false/0/no/off (any case). */
export function booleanWord(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(word)) return true;
  if (['false', '0', 'no', 'off'].includes(word)) return false;
  return undefined;
}

/** Reads a boolean variable: true/1/yes/on or false/0/no/off; anything else is an invalid_argument error. */
export function envBoolean(name: string): boolean | undefined {
  const value = raw(name);
  if (value === undefined) return undefined;
  const flag = booleanWord(value);
  if (flag !== undefined) return flag;
  throw ArtifactsError.invalidArgument(
    `environment variable ${name}=${JSON.stringify(process.env[name])} is not a boolean (true/false)`,
  );
}

/** Reads a number variable; a value that is not a finite number is an invalid_argument error. */
export function envNumber(
  name: string,
  { integer = false, min }: { integer?: boolean; min?: number } = {},
): number | undefined {
  const value = raw(name);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || (min !== undefined && n < min)) {
    const kind = integer ? 'an integer' : 'a number';
    throw ArtifactsError.invalidArgument(
      `environment variable ${name}=${JSON.stringify(value)} is not ${kind}${min === undefined ? '' : ` >= ${min}`}`,
    );
  }
  return n;
}

/** Reads a string variable ('' counts as unset). */
export function envString(name: string): string | undefined {
  return raw(name);
}

/**
 * The transfer timeout from MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT (seconds), in milliseconds;
 * `-1`, `0` or unset = no limit.
 */
export function envTransferTimeoutMs(name = 'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT'): number | undefined {
  const seconds = envNumber(name);
  if (seconds === undefined || seconds <= 0) {
    if (seconds !== undefined && seconds < 0 && seconds !== -1) {
      throw ArtifactsError.invalidArgument(
        `environment variable ${name}=${seconds} must be a positive number of seconds or -1 for no limit`,
      );
    }
    return undefined;
  }
  return seconds * 1000;
}

/**
 * The one resolution of the per-request/per-stall timeout, in ms (undefined = none): the option
 * (`-1` = none), else `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` in seconds (`-1` or `0` = none), else
 * the backend's own default (600 s for Azure and 60 s for GCS, as MLflow; none for S3, whose SDK
 * applies its own).
 */
export function resolveTimeoutMs(option: unknown, backendDefaultMs: number | undefined): number | undefined {
  if (option !== undefined) {
    if (option === -1 || option === 0) return undefined;
    if (typeof option !== 'number' || !(option > 0) || !Number.isFinite(option)) {
      throw ArtifactsError.invalidArgument(
        `timeoutMs must be a positive number of milliseconds or -1 for no limit, got ${String(option)}`,
      );
    }
    return option;
  }
  if (envNumber('MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT') !== undefined) return envTransferTimeoutMs();
  return backendDefaultMs;
}

/** `ARTIFACTS_MAX_RETRIES`: retries after the first attempt of a call, default 3 (0 = no retries). */
export function envMaxRetries(): number {
  return envNumber('ARTIFACTS_MAX_RETRIES', { integer: true, min: 0 }) ?? DEFAULT_MAX_RETRIES;
}

/** Retries after the first attempt when neither `maxRetries` nor `ARTIFACTS_MAX_RETRIES` says. */
export const DEFAULT_MAX_RETRIES = 3;

/** `ARTIFACTS_MAX_CONCURRENCY`, default 16. */
export function envMaxConcurrency(): number {
  return envNumber('ARTIFACTS_MAX_CONCURRENCY', { integer: true, min: 1 }) ?? DEFAULT_MAX_CONCURRENCY;
}
