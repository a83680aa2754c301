import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ArtifactsError, openRepository, parseArtifactUri, registerBackend } from '@artifacts/core';
import { PassThroughClient } from 'google-auth-library';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GcsDriver } from '../../src/internal/driver.js';
import { buildStorage, createGcsClient, storageOptions } from '../../src/internal/lean.js';
import {
  DEFAULT_CHUNK_SIZE,
  gcsSettings,
  resetDeprecationWarning,
  resolveGcsConfig,
} from '../../src/internal/settings.js';
import { gcsBackend, gcsPlugin } from '../../src/plugin.js';

const VARS = [
  'MLFLOW_GCS_UPLOAD_CHUNK_SIZE',
  'MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE',
  'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT',
  'MLFLOW_GCS_DEFAULT_TIMEOUT',
  'STORAGE_EMULATOR_HOST',
  'GOOGLE_CLOUD_PROJECT',
  'GOOGLE_APPLICATION_CREDENTIALS',
  'METADATA_SERVER_DETECTION',
  'HOME',
  'CLOUDSDK_CONFIG',
];
let saved: Record<string, string | undefined>;
beforeEach(() => {
  saved = Object.fromEntries(VARS.map((name) => [name, process.env[name]]));
  for (const name of VARS) if (name !== 'HOME') delete process.env[name];
  resetDeprecationWarning();
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  vi.restoreAllMocks();
});

const location = parseArtifactUri('gs://my-bucket/exp/1');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return ArtifactsError.is(error) ? error.code : 'not an ArtifactsError';
  }
  return undefined;
}

describe('chunk sizes', () => {
  it('default: downloads in 100 MiB ranges, uploads streamed without chunking', () => {
    const config = resolveGcsConfig(location, {});
    expect(config.uploadChunkSize).toBeUndefined();
    expect(config.downloadChunkSize).toBe(DEFAULT_CHUNK_SIZE);
    expect(DEFAULT_CHUNK_SIZE).toBe(100 * 1024 * 1024);
  });

  it('come from MLFLOW_GCS_UPLOAD_CHUNK_SIZE / MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE', () => {
    process.env.MLFLOW_GCS_UPLOAD_CHUNK_SIZE = String(8 * 1024 * 1024);
    process.env.MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE = String(512 * 1024);
    const config = resolveGcsConfig(location, {});
    expect(config.uploadChunkSize).toBe(8 * 1024 * 1024);
    expect(config.downloadChunkSize).toBe(512 * 1024);
  });

  it('options win over the variables', () => {
    process.env.MLFLOW_GCS_UPLOAD_CHUNK_SIZE = String(8 * 1024 * 1024);
    expect(resolveGcsConfig(location, { uploadChunkSize: 262144 }).uploadChunkSize).toBe(262144);
  });

  it.each([
    ['1000', 'not a multiple of 256 KiB'],
    ['262145', 'off by one byte'],
    ['0', 'zero'],
    ['-262144', 'negative'],
    ['abc', 'not a number'],
    ['131072', 'below 256 KiB'],
  ])('refuses %s (%s) naming the variable', (value) => {
    process.env.MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE = value;
    let message = '';
    try {
      resolveGcsConfig(location, {});
    } catch (error) {
      expect(ArtifactsError.is(error, 'invalid_argument')).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain('MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE');
  });

  it('refuses an option that is not a multiple of 256 KiB, naming the option', () => {
    expect(() => resolveGcsConfig(location, { uploadChunkSize: 300_000 })).toThrow(
      /option uploadChunkSize must be an integer >= 262144, a multiple of 262144, got 300000/,
    );
  });
});

describe('declaration', () => {
  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(gcsSettings.markdownTable());
  });

  it('refuses an unknown option with the closest name', () => {
    expect(() => resolveGcsConfig(location, { listPagesize: 10 } as never)).toThrow(
      /unknown option "listPagesize" for @artifacts\/gcs; did you mean "listPageSize"\?/,
    );
  });
});

describe('timeouts', () => {
  it("the client's request timeout is the repository's, which core resolved once; no option of its own", async () => {
    expect((await storageOptions(resolveGcsConfig(location, {}, 5_000), true)).timeout).toBe(5_000);
    expect((await storageOptions(resolveGcsConfig(location, {}, undefined), true)).timeout).toBeUndefined();
    expect(() => resolveGcsConfig(location, { requestTimeoutMs: 5 } as never)).toThrow(/unknown option/);
  });

  it('the plugin is gcsBackend; gcsPlugin stays as its deprecated alias', () => {
    expect(gcsPlugin).toBe(gcsBackend);
  });

  it('default to 60 s when MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT is unset', () => {
    expect(gcsBackend.defaultTimeoutMs).toBe(60_000);
  });

  it('fall back to the deprecated MLFLOW_GCS_DEFAULT_TIMEOUT with one DeprecationWarning', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    process.env.MLFLOW_GCS_DEFAULT_TIMEOUT = '30';
    expect(gcsBackend.defaultTimeoutMs).toBe(30_000);
    expect(gcsBackend.defaultTimeoutMs).toBe(30_000);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatch(/MLFLOW_GCS_DEFAULT_TIMEOUT is deprecated/);
    expect(warn.mock.calls[0]![1]).toMatchObject({ type: 'DeprecationWarning' });
  });

  it('MLFLOW_GCS_DEFAULT_TIMEOUT=-1 means none', () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    process.env.MLFLOW_GCS_DEFAULT_TIMEOUT = '-1';
    expect(gcsBackend.defaultTimeoutMs).toBeUndefined();
  });

  it('refuses a negative deprecated value other than -1', () => {
    vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    process.env.MLFLOW_GCS_DEFAULT_TIMEOUT = '-5';
    expect(code(() => gcsBackend.defaultTimeoutMs)).toBe('invalid_argument');
  });
});

describe('endpoint and anonymous access', () => {
  it("defaults to Google's endpoint and ADC with anonymous fallback", () => {
    const config = resolveGcsConfig(location, {});
    expect(config.endpoint).toBeUndefined();
    expect(config.anonymous).toBe('fallback');
    expect(config.bucket).toBe('my-bucket');
    expect(config.root).toBe('exp/1');
  });

  it('reads STORAGE_EMULATOR_HOST as host:port (plain http) or URL, anonymous by default', () => {
    process.env.STORAGE_EMULATOR_HOST = 'localhost:4443';
    expect(resolveGcsConfig(location, {})).toMatchObject({
      endpoint: 'http://localhost:4443',
      anonymous: true,
    });
    process.env.STORAGE_EMULATOR_HOST = 'http://127.0.0.1:9023/';
    expect(resolveGcsConfig(location, {}).endpoint).toBe('http://127.0.0.1:9023');
    expect(resolveGcsConfig(location, { anonymous: false }).anonymous).toBe(false);
  });

  it('an endpoint option wins over STORAGE_EMULATOR_HOST and keeps authentication on', () => {
    process.env.STORAGE_EMULATOR_HOST = 'localhost:4443';
    const config = resolveGcsConfig(location, { endpoint: 'https://storage-private.p.googleapis.com' });
    expect(config).toMatchObject({
      endpoint: 'https://storage-private.p.googleapis.com',
      anonymous: 'fallback',
    });
  });

  it('refuses an endpoint with credentials or a query', () => {
    expect(code(() => resolveGcsConfig(location, { endpoint: 'https://u:p@host' }))).toBe('invalid_argument');
    expect(code(() => resolveGcsConfig(location, { endpoint: 'https://host/?sig=x' }))).toBe(
      'invalid_argument',
    );
  });

  it('sets the JSON API base URL from the endpoint even when STORAGE_EMULATOR_HOST would break it (nodejs-storage #2069)', async () => {
    process.env.STORAGE_EMULATOR_HOST = 'http://127.0.0.1:9999';
    const storage = await buildStorage(resolveGcsConfig(location, {}), true);
    expect(storage.baseUrl).toBe('http://127.0.0.1:9999/storage/v1');
    expect(storage.apiEndpoint).toBe('http://127.0.0.1:9999');
    const other = await buildStorage(resolveGcsConfig(location, { endpoint: 'http://127.0.0.1:7777' }), true);
    expect(other.baseUrl).toBe('http://127.0.0.1:7777/storage/v1');
    delete process.env.STORAGE_EMULATOR_HOST;
    expect((await buildStorage(resolveGcsConfig(location, {}), false)).baseUrl).toBe(
      'https://storage.googleapis.com/storage/v1',
    );
  });

  it('anonymous access uses a pass-through auth client (no credentials sent, nothing signed)', async () => {
    const client = await createGcsClient(resolveGcsConfig(location, { anonymous: true }));
    expect(client.anonymous).toBe(true);
    expect(await (await client.storage()).authClient.getClient()).toBeInstanceOf(PassThroughClient);
  });

  describe('without any Application Default Credentials', () => {
    beforeEach(() => {
      // No key file, no gcloud user credentials, and no probe of a metadata server.
      process.env.METADATA_SERVER_DETECTION = 'none';
      process.env.HOME = mkdtempSync(join(tmpdir(), 'gcs-home-'));
      process.env.CLOUDSDK_CONFIG = process.env.HOME;
    });

    it("'fallback' (the default) goes anonymous, as MLflow does, when the first request asks", async () => {
      const client = await createGcsClient(resolveGcsConfig(location, {}));
      expect(client.anonymous).toBe(false);
      expect(await client.credentials()).toBeUndefined();
    });

    it("opening loads none of Google's libraries and asks no metadata server (no warning printed)", async () => {
      const script = new URL('./fixtures/open-no-credentials.mjs', import.meta.url).pathname;
      const env: NodeJS.ProcessEnv = { ...process.env, GCE_METADATA_HOST: '127.0.0.1:9' };
      delete env.METADATA_SERVER_DETECTION;
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], {
        cwd: new URL('../..', import.meta.url).pathname,
        env,
      });
      expect(JSON.parse(stdout.trim().split('\n').at(-1) as string)).toEqual({ resolved: [] });
      expect(stderr).not.toMatch(/MetadataLookupWarning|Warning/);
    });

    it('anonymous: false opens, and its first request is an unauthenticated error that says what to set', async () => {
      registerBackend(gcsBackend);
      const repo = await openRepository('gs://my-bucket/exp', {
        anonymous: false,
        endpoint: 'http://127.0.0.1:9',
      });
      const error = await repo.stat('a.txt').catch((e) => e);
      await repo.close();
      expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
      expect(String(error.message)).toContain('GOOGLE_APPLICATION_CREDENTIALS');
      const again = await createGcsClient(resolveGcsConfig(location, { anonymous: false }));
      expect(ArtifactsError.is(await again.credentials().catch((e) => e), 'unauthenticated')).toBe(true);
    });

    it('a driver without credentials offers signing and says at its first use that none were found', async () => {
      const config = resolveGcsConfig(location, {});
      const driver = new GcsDriver(config, await createGcsClient(config));
      expect(driver.capabilities).toMatchObject({ presign: true, multipartUpload: true });
      const error = await driver.presign!.getUrl('a.txt').catch((e) => e);
      expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
      expect(String(error.message)).toContain('GOOGLE_APPLICATION_CREDENTIALS');
    });

    it('explicit credentials are used as given, and their private key is a secret', async () => {
      const credentials = {
        client_email: 'a@b.iam.gserviceaccount.com',
        private_key: 'PRIVATE-KEY-MATERIAL',
      };
      const client = await createGcsClient(resolveGcsConfig(location, { credentials }));
      expect(client.anonymous).toBe(false);
      expect(client.secrets).toEqual(['PRIVATE-KEY-MATERIAL']);
      expect((await client.credentials())?.authClient.jsonContent).toMatchObject({
        client_email: 'a@b.iam.gserviceaccount.com',
      });
    });
  });

  it('a JSON key file is read (its private key becomes a secret); an unreadable one is invalid_argument', async () => {
    const keyFilename = new URL('./fixtures/conformance-service-account.json', import.meta.url).pathname;
    const client = await createGcsClient(resolveGcsConfig(location, { keyFilename }));
    expect(client.anonymous).toBe(false);
    expect(client.secrets[0]).toContain('BEGIN PRIVATE KEY');
    const missing = await createGcsClient(
      resolveGcsConfig(location, { keyFilename: '/nonexistent/key.json' }),
    ).catch((e) => e);
    expect(ArtifactsError.is(missing, 'invalid_argument')).toBe(true);
  });

  it('GOOGLE_CLOUD_PROJECT is the default project; the option wins', () => {
    process.env.GOOGLE_CLOUD_PROJECT = 'env-project';
    expect(resolveGcsConfig(location, {}).projectId).toBe('env-project');
    expect(resolveGcsConfig(location, { projectId: 'p' }).projectId).toBe('p');
  });

  it('validates numeric options', () => {
    expect(code(() => resolveGcsConfig(location, { listPageSize: 5000 }))).toBe('invalid_argument');
    expect(code(() => resolveGcsConfig(location, { downloadConcurrency: 0 }))).toBe('invalid_argument');
  });
});

describe('credentials', () => {
  it('refuses a malformed key object at open, naming the option, never echoing a secret', async () => {
    registerBackend(gcsBackend);
    const key = { client_email: 'sa@p.iam.gserviceaccount.com', private_key: 'pr1vate-s3cr3t' };
    expect(resolveGcsConfig(location, { credentials: key }).credentials).toBe(key);
    // Other key types are google-auth-library's to check.
    const user = { type: 'authorized_user', client_id: 'c', client_secret: 's', refresh_token: 'r' };
    expect(resolveGcsConfig(location, { credentials: user }).credentials).toBe(user);
    const bad = [
      { client_email: 'sa@p.iam.gserviceaccount.com' },
      { type: 'service_account', private_key: 'pr1vate-s3cr3t' },
      { client_email: 'sa@p.iam.gserviceaccount.com', private_key: 42 },
      'pr1vate-s3cr3t',
      ['pr1vate-s3cr3t'],
      async () => key,
    ];
    for (const credentials of bad) {
      const error = await openRepository('gs://my-bucket/exp', { credentials: credentials as never }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'invalid_argument' });
      expect((error as Error).message).toMatch(
        /^@artifacts\/gcs: option credentials must be a key object: a service-account key \(\{ client_email, private_key \} with non-empty strings\)/,
      );
      expect((error as Error).message).not.toContain('s3cr3t');
    }
  });
});
