import type { BackendPlugin } from '@artifacts/core';
import { FtpDriver } from './internal/driver.js';
import { resolveSettings } from './internal/settings.js';
import type { FtpOptions } from './options.js';

/** The `ftp://` and `ftps://` backend. Importing `@artifacts/ftp` registers it. */
export const ftpBackend: BackendPlugin<FtpOptions> = {
  name: '@artifacts/ftp',
  schemes: ['ftp', 'ftps'],
  async open(location, options) {
    // Connections open lazily, on the first operation: opening a repository costs nothing.
    return new FtpDriver(await resolveSettings(location, options ?? {}));
  },
};
