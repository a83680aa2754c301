import type { SettingsValues } from '@artifacts/core';
import type { httpSettings } from './internal/settings.js';

/**
 * Options of the HTTP backend (pass them to `openRepository`), derived from the one declaration
 * (`httpSettings`): each falls back to the MLflow environment variable the README table names, then
 * to MLflow's default.
 */
export type HttpBackendOptions = Partial<SettingsValues<typeof httpSettings.specs>>;

/** One retry of a request, as the deprecated `onHttpRetry` sees it. No URL query, no credential. */
export interface HttpRetryEvent {
  /** What was being done ("reading artifact \"a.txt\"") and why it failed. */
  message: string;
  /** 1 for the first retry. */
  attempt: number;
  /** Retries allowed in all. */
  maxRetries: number;
  /** The wait before this retry, in ms. */
  delayMs: number;
}
