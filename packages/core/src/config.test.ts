import { afterEach, describe, expect, it } from 'vitest';
import { envBoolean, envMaxConcurrency, envNumber, envTransferTimeoutMs } from './config.js';

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
    process.env.ARTIFACTS_MAX_CONCURRENCY = '3';
    expect(envMaxConcurrency()).toBe(3);
    process.env.ARTIFACTS_MAX_CONCURRENCY = '0';
    expect(() => envMaxConcurrency()).toThrow('ARTIFACTS_MAX_CONCURRENCY="0" is not an integer >= 1');
  });

  it('parses booleans strictly and names the variable when it cannot', () => {
    process.env.X_FLAG = 'TRUE';
    expect(envBoolean('X_FLAG')).toBe(true);
    process.env.X_FLAG = 'off';
    expect(envBoolean('X_FLAG')).toBe(false);
    process.env.X_FLAG = 'maybe';
    expect(() => envBoolean('X_FLAG')).toThrow('X_FLAG="maybe" is not a boolean');
    process.env.X_NUM = '1.5';
    expect(() => envNumber('X_NUM', { integer: true })).toThrow(/not an integer/);
  });
});
