import type { BackendPlugin } from '@artifacts/core';
import { SftpDriver } from './internal/driver.js';
import { resolveSettings } from './internal/settings.js';
import type { SftpOptions } from './options.js';

/** The `sftp://` backend. Importing `@artifacts/sftp` registers it. */
export const sftpBackend: BackendPlugin<SftpOptions> = {
  name: '@artifacts/sftp',
  schemes: ['sftp'],
  async open(location, options) {
    // Connections open lazily, on the first operation: opening a repository costs nothing.
    return new SftpDriver(await resolveSettings(location, options ?? {}));
  },
};
