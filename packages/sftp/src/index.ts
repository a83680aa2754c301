import { registerBackend } from '@artifacts/core';
import { sftpBackend } from './plugin.js';

registerBackend(sftpBackend);

export type { SftpOptions } from './options.js';
export { sftpBackend } from './plugin.js';
