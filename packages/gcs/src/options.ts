import type { OptionsOf } from '@artifacts/core';
import type { gcsSettings } from './internal/settings.js';

/** A service-account key (the JSON key file's content) or any credentials google-auth-library accepts. */
export interface GcsCredentials {
  client_email?: string;
  private_key?: string;
  [field: string]: unknown;
}

/**
 * Options of the Google Cloud Storage backend, passed to `openRepository` beside core's options
 * (`maxRetries`, `timeoutMs`, …). Derived from the settings declaration, which also gives the
 * README's table of them.
 */
export type GcsOptions = OptionsOf<typeof gcsSettings.specs>;
