import type { BackendPlugin } from '@artifacts/core';
import { AzureBlobDriver } from './internal/driver.js';
import { createClients } from './internal/lean.js';
import { DEFAULT_AZURE_TIMEOUT_MS, resolveAzureConfig } from './internal/settings.js';
import { parseAzureUri } from './internal/uri.js';
import type { AzureOptions } from './options.js';

/**
 * The Azure Blob Storage backend: `wasbs://<container>@<account>.blob.core.windows.net/<path>` (also
 * `wasb://`, and other Azure clouds' suffixes such as `.blob.core.chinacloudapi.cn`).
 */
export const azureBackend: BackendPlugin<AzureOptions> = {
  name: '@artifacts/azure',
  schemes: ['wasbs', 'wasb'],
  defaultTimeoutMs: DEFAULT_AZURE_TIMEOUT_MS,
  // Files in flight: core's 16. 64 moved small files faster behind latency but raised a small-file
  // upload's peak RSS, and 32 as much (docs/benchmarks/azure.md, 2026-12-02 azmem); the cause is not
  // one buffer per file (parts are sized to the body), so the bound stays where the peak was.
  defaultMaxConcurrency: 16,
  parse: parseAzureUri,
  async open(location, options, context) {
    const config = resolveAzureConfig(location, options ?? {});
    // Keep-alive sockets for every request in flight: files at once × blocks or ranges of each.
    const connections =
      context.maxConcurrency * Math.max(config.uploadConcurrency, config.downloadConcurrency);
    return new AzureBlobDriver(config, await createClients(config, connections, context.timeoutMs), context);
  },
};

/** @deprecated Renamed `azureBackend`, as every backend's plugin is named. */
export const azurePlugin = azureBackend;
