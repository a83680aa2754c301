import { checkCapabilities } from './capabilities.js';
import { DEFAULT_MAX_CONCURRENCY, envMaxConcurrency, envMaxRetries, resolveTimeoutMs } from './config.js';
import type { StorageDriver } from './driver.js';
import { ArtifactsError, toArtifactsError } from './errors.js';
import { withLimit } from './layers/limit.js';
import { type RetryEvent, withRetry } from './layers/retry.js';
import { withTimeout } from './layers/timeout.js';
import { resolveBackend } from './registry.js';
import { ArtifactRepository } from './repository.js';
import { isTrackingUri, openTrackingUri } from './tracking.js';
import { parseArtifactUri, redactUri } from './uri.js';

/** Options every repository takes; backend-specific options sit beside them. */
export interface RepositoryOptions {
  /**
   * Bound on concurrent file transfers, and on concurrent storage calls, for this repository.
   * Default: `ARTIFACTS_MAX_CONCURRENCY`, else the backend's default (S3, GCS 64), else 16.
   */
  maxConcurrency?: number;
  /**
   * Bound on each storage request and on each stall of a transfer (no byte moved for this long), in
   * ms; never on a whole transfer. Default: `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` (seconds),
   * else the backend's default (Azure 600 s, GCS 60 s, S3 the SDK's own); `-1` = no limit.
   */
  timeoutMs?: number;
  /**
   * Attempts after the first for a call that failed with a temporary error (idempotent calls only).
   * Default: `ARTIFACTS_MAX_RETRIES`, else 3; 0 disables retries.
   */
  maxRetries?: number;
  /** Called before each retry (what failed, the attempt, the wait): the CLI prints it with `--verbose`. */
  onRetry?: (event: RetryEvent) => void;
  /** Any backend option (see the backend package's README). */
  [backendOption: string]: unknown;
}

/**
 * Opens the artifact repository at `uri` with the backend registered for its scheme (importing the
 * first-party package for a well-known scheme on first use). `runs:/…` and `models:/…` URIs are
 * first resolved through the MLflow tracking server (see `resolveTrackingUri`). The driver is wrapped
 * in core's layers, innermost first: timeout, concurrency limit, retry.
 */
export async function openRepository(
  uri: string,
  options: RepositoryOptions = {},
): Promise<ArtifactRepository> {
  if (isTrackingUri(uri)) return openTrackingUri(uri, options, openRepository);
  const generic = parseArtifactUri(uri);
  const plugin = await resolveBackend(generic.scheme);
  const location = plugin.parse ? plugin.parse(uri) : generic;
  const maxConcurrency = options.maxConcurrency ?? envMaxConcurrency(plugin.defaultMaxConcurrency);
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw ArtifactsError.invalidArgument(
      `maxConcurrency must be a positive integer, got ${String(maxConcurrency)}`,
    );
  }
  const maxRetries = options.maxRetries ?? envMaxRetries();
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw ArtifactsError.invalidArgument(
      `maxRetries must be a non-negative integer, got ${String(maxRetries)}`,
    );
  }
  if (options.onRetry !== undefined && typeof options.onRetry !== 'function') {
    throw ArtifactsError.invalidArgument('onRetry must be a function');
  }
  const timeoutMs = resolveTimeoutMs(options.timeoutMs, plugin.defaultTimeoutMs);
  const secrets = location.password ? [location.password] : [];
  const { maxConcurrency: _m, timeoutMs: _t, maxRetries: _r, onRetry, ...backendOptions } = options;
  let driver: StorageDriver;
  try {
    driver = await plugin.open(location, backendOptions as never, {
      location,
      maxConcurrency: maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      maxRetries,
      maxRetriesExplicit:
        options.maxRetries !== undefined || (process.env.ARTIFACTS_MAX_RETRIES ?? '').trim() !== '',
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  } catch (error) {
    throw toArtifactsError(error, `opening ${redactUri(uri)}`, { secrets });
  }
  checkCapabilities(driver, plugin.name);
  // A protocol with its own documented retry schedule (http's MLFLOW_HTTP_REQUEST_*) gives it here.
  const { maxRetries: own, onRetry: ownOnRetry, ...schedule } = driver.retryPolicy ?? {};
  const reporters = [onRetry, ownOnRetry].filter((f) => f !== undefined);
  const layered = withRetry(withLimit(withTimeout(driver, timeoutMs), maxConcurrency), {
    ...schedule,
    maxAttempts: (own ?? maxRetries) + 1,
    timeoutMs,
    ...(reporters.length > 0
      ? {
          onRetry: (event: RetryEvent) => {
            for (const report of reporters) report(event);
          },
        }
      : {}),
  });
  return new ArtifactRepository({
    uri: redactUri(uri),
    driver: layered,
    maxConcurrency,
    secrets,
  });
}
