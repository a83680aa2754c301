import { ArtifactsError } from './errors.js';
import { booleanWord, defineSettings, readEnvSetting } from './settings.js';

export { booleanWord };

/** Default bound on concurrent file transfers per repository (`ARTIFACTS_MAX_CONCURRENCY`). */
export const DEFAULT_MAX_CONCURRENCY = 16;
/** Retries after the first attempt when neither `maxRetries` nor `ARTIFACTS_MAX_RETRIES` says. */
export const DEFAULT_MAX_RETRIES = 3;

/**
 * A timeout: the option in ms, `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` (or another variable) in
 * seconds, as MLflow reads it; `-1` or `0` = no limit, given as 0.
 */
function timeout(value: unknown, from: string): number {
  const variable = from.startsWith('environment variable ');
  const n = typeof value === 'string' ? Number(value) : value;
  if (n === -1 || n === 0) return 0;
  if (typeof n !== 'number' || !(n > 0) || !Number.isFinite(n)) {
    const name = variable ? `${from.slice('environment variable '.length)}=${String(value)}` : from;
    throw ArtifactsError.invalidArgument(
      variable
        ? `environment variable ${name} must be a positive number of seconds or -1 for no limit`
        : `${name} must be a positive number of milliseconds or -1 for no limit, got ${String(value)}`,
    );
  }
  return variable ? n * 1000 : n;
}

/**
 * The options every repository takes, declared once as a backend declares its own: the core
 * README's table is generated from it, and `openRepository` reads their variables through it.
 */
export const repositorySettings = defineSettings('@artifacts/core', {
  maxConcurrency: {
    type: 'integer',
    env: 'ARTIFACTS_MAX_CONCURRENCY',
    min: 1,
    default: DEFAULT_MAX_CONCURRENCY,
    defaultText: "the backend's (`64` for S3 and GCS), else `16`",
    help: 'bound on concurrent file transfers, and on concurrent storage calls, of one repository (one pool shared by all its calls)',
  },
  timeoutMs: {
    type: 'custom',
    env: 'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT',
    parse: (value: number, from: string) => timeout(value, from),
    defaultText: "the backend's: Azure 600 s, GCS 60 s, S3 its own connect and socket timeouts",
    help: 'bound on each storage request and on each stall of a transfer (no byte moved for this long), never on a whole transfer; in ms, and in seconds in the variable (as MLflow); `-1` = no limit. For a deadline over a whole call pass `signal: AbortSignal.timeout(ms)`',
  },
  maxRetries: {
    type: 'integer',
    env: 'ARTIFACTS_MAX_RETRIES',
    min: 0,
    default: DEFAULT_MAX_RETRIES,
    help: 'attempts after the first for a call that failed with a temporary error (idempotent calls only, with backoff and jitter, `Retry-After` honoured); `0` = none',
  },
  onRetry: {
    type: 'function',
    parse: (value: (event: never) => void) => value,
    defaultText: 'none',
    help: 'called before each retry with what failed, the attempt and the wait (the CLI prints it with `--verbose`)',
  },
});

/** Reads a boolean variable: true/1/yes/on or false/0/no/off; anything else is an invalid_argument error. */
export function envBoolean(name: string): boolean | undefined {
  return readEnvSetting<boolean>(name, { type: 'boolean' });
}

/** Reads a number variable; a value that is not a finite number (or out of bounds) is an invalid_argument error. */
export function envNumber(
  name: string,
  { integer = false, min }: { integer?: boolean; min?: number } = {},
): number | undefined {
  return readEnvSetting<number>(name, {
    type: integer ? 'integer' : 'number',
    ...(min === undefined ? {} : { min }),
  });
}

/** Reads a string variable ('' counts as unset). */
export function envString(name: string): string | undefined {
  return readEnvSetting<string>(name, { type: 'string', nonEmpty: true });
}

/**
 * The transfer timeout from MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT (seconds), in milliseconds;
 * `-1`, `0` or unset = no limit. `name`: another variable read the same way (GCS's deprecated one).
 */
export function envTransferTimeoutMs(name = 'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT'): number | undefined {
  return readEnvSetting<number>(name, { type: 'custom', parse: timeout }) || undefined;
}

/**
 * The one resolution of the per-request/per-stall timeout, in ms (undefined = none): the option
 * (`-1` = none), else `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` in seconds (`-1` or `0` = none), else
 * the backend's own default (600 s for Azure and 60 s for GCS, as MLflow; none for S3, whose
 * requests have their own connect and socket timeouts).
 */
export function resolveTimeoutMs(option: unknown, backendDefaultMs: number | undefined): number | undefined {
  if (option !== undefined) return timeout(option, 'timeoutMs') || undefined;
  const { env } = repositorySettings.specs.timeoutMs;
  if (readEnvSetting(env, { type: 'string' }) !== undefined) return envTransferTimeoutMs();
  return backendDefaultMs;
}

/** `ARTIFACTS_MAX_RETRIES`: retries after the first attempt of a call, default 3 (0 = no retries). */
export function envMaxRetries(): number {
  const { env, ...spec } = repositorySettings.specs.maxRetries;
  return readEnvSetting<number>(env, spec) ?? DEFAULT_MAX_RETRIES;
}

/** `ARTIFACTS_MAX_CONCURRENCY`, else `fallback` (a backend's `defaultMaxConcurrency`), else 16. */
export function envMaxConcurrency(fallback: number = DEFAULT_MAX_CONCURRENCY): number {
  const { env, ...spec } = repositorySettings.specs.maxConcurrency;
  return readEnvSetting<number>(env, spec) ?? fallback;
}
