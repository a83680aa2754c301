import { registerBackend } from '@artifacts/core';
import { localBackend } from './plugin.js';

export type { LocalDriverOptions } from './internal/driver.js';
export { LocalDriver } from './internal/driver.js';
export type { LocalBackendOptions } from './plugin.js';
export { localBackend } from './plugin.js';

registerBackend(localBackend);
