import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  envBoolean,
  envMaxConcurrency,
  envMaxRetries,
  envNumber,
  envTransferTimeoutMs,
  repositorySettings,
  resolveTimeoutMs,
} from './config.js';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('environment variables', () => {
  it('reads MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT in seconds, -1 meaning no limit', () => {
    delete process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT;
    expect(envTransferTimeoutMs()).toBeUndefined();
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = '90';
    expect(envTransferTimeoutMs()).toBe(90_000);
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = '-1';
    expect(envTransferTimeoutMs()).toBeUndefined();
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = '-5';
    expect(() => envTransferTimeoutMs()).toThrow(/-1 for no limit/);
  });

  it('reads ARTIFACTS_MAX_CONCURRENCY with a default of 16', () => {
    delete process.env.ARTIFACTS_MAX_CONCURRENCY;
    expect(envMaxConcurrency()).toBe(16);
    // A backend's own default stands in for 16, never for the variable.
    expect(envMaxConcurrency(64)).toBe(64);
    process.env.ARTIFACTS_MAX_CONCURRENCY = '3';
    expect(envMaxConcurrency()).toBe(3);
    expect(envMaxConcurrency(64)).toBe(3);
    process.env.ARTIFACTS_MAX_CONCURRENCY = '0';
    expect(() => envMaxConcurrency()).toThrow(
      'environment variable ARTIFACTS_MAX_CONCURRENCY must be an integer >= 1, got 0',
    );
  });

  it('parses booleans strictly and names the variable when it cannot', () => {
    process.env.X_FLAG = 'TRUE';
    expect(envBoolean('X_FLAG')).toBe(true);
    process.env.X_FLAG = 'off';
    expect(envBoolean('X_FLAG')).toBe(false);
    process.env.X_FLAG = 'maybe';
    expect(() => envBoolean('X_FLAG')).toThrow('X_FLAG="maybe" is not a boolean');
    process.env.X_NUM = '1.5';
    expect(() => envNumber('X_NUM', { integer: true })).toThrow(
      'environment variable X_NUM must be an integer, got 1.5',
    );
    process.env.X_NUM = '  ';
    expect(envNumber('X_NUM')).toBeUndefined();
  });

  it('reads ARTIFACTS_MAX_RETRIES with a default of 3, refusing a negative count by name', () => {
    delete process.env.ARTIFACTS_MAX_RETRIES;
    expect(envMaxRetries()).toBe(3);
    process.env.ARTIFACTS_MAX_RETRIES = '0';
    expect(envMaxRetries()).toBe(0);
    process.env.ARTIFACTS_MAX_RETRIES = '-2';
    expect(() => envMaxRetries()).toThrow(/ARTIFACTS_MAX_RETRIES must be an integer >= 0/);
  });

  it('resolves the timeout once: the option in ms, else the variable in seconds, else the backend default', () => {
    delete process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT;
    expect(resolveTimeoutMs(undefined, 60_000)).toBe(60_000);
    expect(resolveTimeoutMs(2500, 60_000)).toBe(2500);
    expect(resolveTimeoutMs(-1, 60_000)).toBeUndefined();
    expect(() => resolveTimeoutMs(-3, undefined)).toThrow(
      'timeoutMs must be a positive number of milliseconds or -1 for no limit, got -3',
    );
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = '2';
    expect(resolveTimeoutMs(undefined, 60_000)).toBe(2000);
    expect(resolveTimeoutMs(500, 60_000)).toBe(500);
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = '0';
    expect(resolveTimeoutMs(undefined, 60_000)).toBeUndefined();
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = 'soon';
    expect(() => resolveTimeoutMs(undefined, 60_000)).toThrow(/MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT=soon/);
  });

  it("the core README's configuration table is the declaration", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(repositorySettings.markdownTable());
  });
});
