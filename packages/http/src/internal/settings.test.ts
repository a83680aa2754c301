import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { httpSettings, resolveHttpOptions } from './settings.js';

afterEach(() => vi.unstubAllEnvs());

describe('http options', () => {
  it('refuses an unknown option with the closest name', () => {
    expect(() => resolveHttpOptions({ tokn: 'x' } as never)).toThrow(
      /unknown option "tokn" for @artifacts\/http; did you mean "token"\?/,
    );
  });

  it('takes MLflow variables, lets options win, and sizes multipart concurrency from the chunk', () => {
    vi.stubEnv('MLFLOW_HTTP_REQUEST_TIMEOUT', '30');
    vi.stubEnv('MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE', String(64 * 1024 * 1024));
    const resolved = resolveHttpOptions({ maxRetries: 2 });
    expect(resolved).toMatchObject({ requestTimeoutMs: 30_000, maxRetries: 2, multipartConcurrency: 4 });
    expect(() => resolveHttpOptions({ maxRetries: -1 })).toThrow(/option maxRetries must be an integer >= 0/);
  });

  it('refuses skipping TLS verification together with a CA bundle, as MLflow does; an option beats a variable', () => {
    vi.stubEnv('MLFLOW_TRACKING_INSECURE_TLS', 'true');
    vi.stubEnv('MLFLOW_TRACKING_SERVER_CERT_PATH', '/etc/ca.pem');
    expect(() => resolveHttpOptions({})).toThrow(
      /MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH are both set/,
    );
    expect(resolveHttpOptions({ serverCertPath: '/x.pem' })).toMatchObject({
      serverCertPath: '/x.pem',
      insecureTls: false,
    });
    expect(() => resolveHttpOptions({ insecureTls: true, serverCertPath: '/x.pem' })).toThrow(
      /options insecureTls and serverCertPath exclude each other/,
    );
  });

  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(httpSettings.markdownTable());
  });
});
