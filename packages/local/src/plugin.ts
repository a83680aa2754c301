import { type BackendPlugin, defineSettings } from '@artifacts/core';
import { LocalDriver, type LocalDriverOptions } from './internal/driver.js';

/** Options `openRepository` passes to the local backend. */
export type LocalBackendOptions = LocalDriverOptions;

/** Every option of the local backend, declared once: README table, env vars, validation. */
export const localSettings = defineSettings('@artifacts/local', {
  fsync: {
    type: 'boolean',
    env: 'ARTIFACTS_LOCAL_FSYNC',
    default: false,
    help: 'flush each file to stable storage before renaming it into place, so that a crash cannot leave an empty or torn file (MLflow does not fsync; it costs a lot with many small files)',
  },
  highWaterMark: {
    type: 'integer',
    env: 'ARTIFACTS_LOCAL_HIGH_WATER_MARK',
    min: 1,
    default: 1024 * 1024,
    defaultText: '`1048576` (1 MiB)',
    help: 'write buffer size in bytes (the file stream each write goes through)',
  },
  readHighWaterMark: {
    type: 'integer',
    env: 'ARTIFACTS_LOCAL_READ_HIGH_WATER_MARK',
    min: 1,
    default: 1024 * 1024,
    defaultText: '`1048576` (1 MiB)',
    help: 'read buffer size in bytes: the most a read of a file asks the disk for at once, and what each read in flight holds (a range or a smaller file allocates no more than its own size)',
  },
});

/** `file:` URIs and plain paths (core's parser turns both into an absolute `path`). */
export const localBackend: BackendPlugin<LocalBackendOptions> = {
  name: '@artifacts/local',
  schemes: ['file'],
  open(location, options = {}) {
    return LocalDriver.open(location.path, localSettings.resolve(options).values);
  },
};
