import type { BackendPlugin } from '@artifacts/core';
import { type AzureOptions, DEFAULT_AZURE_TIMEOUT_MS, resolveAzureConfig } from './internal/config.js';
import { AzureBlobDriver, createServiceClient } from './internal/driver.js';
import { parseAzureUri } from './internal/uri.js';

/**
 * The Azure Blob Storage backend: `wasbs://<container>@<account>.blob.core.windows.net/<path>` (also
 * `wasb://`, and other Azure clouds' suffixes such as `.blob.core.chinacloudapi.cn`).
 */
export const azurePlugin: BackendPlugin<AzureOptions> = {
  name: '@artifacts/azure',
  schemes: ['wasbs', 'wasb'],
  defaultTimeoutMs: DEFAULT_AZURE_TIMEOUT_MS,
  parse: parseAzureUri,
  async open(location, options, context) {
    const config = resolveAzureConfig(location, options ?? {}, context.timeoutMs);
    const { service, secrets } = await createServiceClient(config);
    return new AzureBlobDriver(config, service, secrets, context);
  },
};
