import { registerBackend } from '@artifacts/core';
import { azurePlugin } from './plugin.js';

export type { AzureOptions } from './internal/config.js';
export { DEFAULT_AZURE_TIMEOUT_MS } from './internal/config.js';
export { azurePlugin };

registerBackend(azurePlugin);
