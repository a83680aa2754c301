import { registerBackend } from '@artifacts/core';
import { hdfsBackend } from './plugin.js';

registerBackend(hdfsBackend);

export type { HdfsOptions } from './options.js';
export { hdfsBackend } from './plugin.js';
