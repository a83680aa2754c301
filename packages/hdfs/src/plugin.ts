import type { BackendPlugin } from '@artifacts/core';
import { HdfsDriver } from './internal/driver.js';
import { resolveSettings } from './internal/settings.js';
import type { HdfsOptions } from './options.js';

/** The `hdfs://`, `viewfs://`, `webhdfs://` and `swebhdfs://` backend. Importing `@artifacts/hdfs` registers it. */
export const hdfsBackend: BackendPlugin<HdfsOptions> = {
  name: '@artifacts/hdfs',
  schemes: ['hdfs', 'viewfs', 'webhdfs', 'swebhdfs'],
  open(location, options, context) {
    // No request is made here: connections open on the first operation.
    return new HdfsDriver(resolveSettings(location, options ?? {}), context);
  },
};
