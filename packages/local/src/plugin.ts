import { type BackendPlugin, envBoolean } from '@artifacts/core';
import { LocalDriver, type LocalDriverOptions } from './local-driver.js';

/** Options `openRepository` passes to the local backend. */
export interface LocalBackendOptions extends LocalDriverOptions {}

/** `file:` URIs and plain paths (core's parser turns both into an absolute `path`). */
export const localBackend: BackendPlugin<LocalBackendOptions> = {
  name: '@artifacts/local',
  schemes: ['file'],
  open(location, options = {}) {
    return LocalDriver.open(location.path, {
      fsync: options.fsync ?? envBoolean('ARTIFACTS_LOCAL_FSYNC') ?? false,
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
    });
  },
};
