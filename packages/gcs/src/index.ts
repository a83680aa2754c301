import { registerBackend } from '@artifacts/core';
import { gcsPlugin } from './plugin.js';

export type { GcsCredentials, GcsOptions } from './internal/config.js';
export { CHUNK_GRANULARITY, DEFAULT_CHUNK_SIZE, DEFAULT_GCS_TIMEOUT_MS } from './internal/config.js';
export { gcsPlugin };

registerBackend(gcsPlugin);
