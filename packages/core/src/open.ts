import { DEFAULT_MAX_CONCURRENCY, envMaxConcurrency, envTransferTimeoutMs } from './config.js';
import { ArtifactsError, toArtifactsError } from './errors.js';
import { resolveBackend } from './registry.js';
import { ArtifactRepository } from './repository.js';
import { isTrackingUri, openTrackingUri } from './tracking.js';
import { parseArtifactUri, redactUri } from './uri.js';

/** Options every repository takes; backend-specific options sit beside them. */
export interface RepositoryOptions {
  /**
   * Bound on concurrent file transfers for this repository. Default: `ARTIFACTS_MAX_CONCURRENCY`,
   * else 16.
   */
  maxConcurrency?: number;
  /**
   * Default per-transfer timeout in ms. Default: `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` (seconds;
   * -1 = none), else none (backends may apply their own SDK defaults).
   */
  timeoutMs?: number;
  /** Any backend option (see the backend package's README). */
  [backendOption: string]: unknown;
}

/**
 * Opens the artifact repository at `uri` with the backend registered for its scheme (importing the
 * first-party package for a well-known scheme on first use). `runs:/…` and `models:/…` URIs are
 * first resolved through the MLflow tracking server (see `resolveTrackingUri`).
 */
export async function openRepository(
  uri: string,
  options: RepositoryOptions = {},
): Promise<ArtifactRepository> {
  if (isTrackingUri(uri)) return openTrackingUri(uri, options, openRepository);
  const generic = parseArtifactUri(uri);
  const plugin = await resolveBackend(generic.scheme);
  const location = plugin.parse ? plugin.parse(uri) : generic;
  const maxConcurrency = options.maxConcurrency ?? envMaxConcurrency();
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw ArtifactsError.invalidArgument(
      `maxConcurrency must be a positive integer, got ${String(maxConcurrency)}`,
    );
  }
  const timeoutMs = options.timeoutMs ?? envTransferTimeoutMs();
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs > 0))) {
    throw ArtifactsError.invalidArgument(
      `timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`,
    );
  }
  const secrets = location.password ? [location.password] : [];
  const { maxConcurrency: _m, timeoutMs: _t, ...backendOptions } = options;
  let driver: Awaited<ReturnType<typeof plugin.open>>;
  try {
    driver = await plugin.open(location, backendOptions as never, {
      location,
      maxConcurrency: maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
  } catch (error) {
    throw toArtifactsError(error, `opening ${redactUri(uri)}`, { secrets });
  }
  return new ArtifactRepository({
    uri: redactUri(uri),
    driver,
    maxConcurrency,
    secrets,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}
