import { registerBackend } from '@artifacts/core';
import { ftpBackend } from './plugin.js';

registerBackend(ftpBackend);

export type { FtpOptions, FtpTlsMode } from './options.js';
export { ftpBackend } from './plugin.js';
