import type { OptionsOf } from '@artifacts/core';
import type { azureSettings } from './internal/settings.js';

/**
 * Options of the Azure Blob backend, passed to `openRepository` beside core's options
 * (`maxRetries`, `timeoutMs`, …). Derived from the settings declaration, which also gives the
 * README's table of them. Credentials in MLflow's order: `connectionString`, `accountKey`, a
 * `credential` (`TokenCredential`), else `DefaultAzureCredential` from the optional peer dependency
 * `@azure/identity`.
 */
export type AzureOptions = OptionsOf<typeof azureSettings.specs>;
