import { registerBackend } from '@artifacts/core';
import { azureBackend } from './plugin.js';

export { DEFAULT_AZURE_TIMEOUT_MS } from './internal/settings.js';
export type { AzureOptions } from './options.js';
export { azureBackend, azurePlugin } from './plugin.js';

registerBackend(azureBackend);
