import { registerBackend } from '@artifacts/core';
import { gcsBackend } from './plugin.js';

export { CHUNK_GRANULARITY, DEFAULT_CHUNK_SIZE, DEFAULT_GCS_TIMEOUT_MS } from './internal/settings.js';
export type { GcsCredentials, GcsOptions } from './options.js';
export { gcsBackend, gcsPlugin } from './plugin.js';

registerBackend(gcsBackend);
