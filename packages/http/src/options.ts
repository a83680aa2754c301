import type { SettingsValues } from '@artifacts/core';
import type { httpSettings } from './internal/settings.js';

/**
 * Options of the HTTP backend (pass them to `openRepository`), derived from the one declaration
 * (`httpSettings`): each falls back to the MLflow environment variable the README table names, then
 * to MLflow's default.
 */
export type HttpBackendOptions = Partial<SettingsValues<typeof httpSettings.specs>>;
