import type { OptionsOf } from '@artifacts/core';
import type { hdfsSettings } from './internal/settings.js';

/**
 * Options of `openRepository(uri, options)` for `hdfs://`, `viewfs://`, `webhdfs://` and
 * `swebhdfs://` URIs, as declared once in the settings (the README's table lists each).
 */
export type HdfsOptions = OptionsOf<typeof hdfsSettings.specs>;
