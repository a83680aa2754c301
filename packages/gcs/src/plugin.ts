import { type BackendPlugin, parseArtifactUri } from '@artifacts/core';
import { GcsDriver } from './internal/driver.js';
import { createGcsClient } from './internal/lean.js';
import { defaultGcsTimeoutMs, resolveGcsConfig } from './internal/settings.js';
import type { GcsOptions } from './options.js';

/** The Google Cloud Storage backend: `gs://<bucket>/<path>`. */
export const gcsBackend: BackendPlugin<GcsOptions> = {
  name: '@artifacts/gcs',
  schemes: ['gs'],
  /** Read at each open: the deprecated MLFLOW_GCS_DEFAULT_TIMEOUT may set it. */
  get defaultTimeoutMs() {
    return defaultGcsTimeoutMs();
  },
  // Files in flight: a small file is one round trip (docs/benchmarks/gcs.md, 2026-12-02 smallfiles).
  defaultMaxConcurrency: 64,
  parse: parseArtifactUri,
  async open(location, options, context) {
    const config = resolveGcsConfig(location, options ?? {}, context.timeoutMs);
    // One keep-alive socket per request the repository can have in flight: files × ranges.
    const client = await createGcsClient(config, context.maxConcurrency * config.downloadConcurrency);
    return new GcsDriver(config, client, context);
  },
};

/** @deprecated Renamed `gcsBackend`, as every backend's plugin is named. */
export const gcsPlugin = gcsBackend;
