import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MiB as MIB } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveS3Config, s3Settings } from './settings.js';

const VARS = [
  'MLFLOW_S3_ENDPOINT_URL',
  'MLFLOW_S3_IGNORE_TLS',
  'AWS_CA_BUNDLE',
  'AWS_DEFAULT_REGION',
  'MLFLOW_S3_UPLOAD_EXTRA_ARGS',
  'MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE',
  'MLFLOW_S3_EXPECTED_BUCKET_OWNER',
  'ARTIFACTS_S3_ANONYMOUS',
  'ARTIFACTS_S3_PART_SIZE',
  'ARTIFACTS_S3_COPY_CUTOFF',
  'ARTIFACTS_S3_UPLOAD_CONCURRENCY',
  'ARTIFACTS_S3_PARALLEL_DOWNLOAD_THRESHOLD',
  'ARTIFACTS_S3_DOWNLOAD_CHUNK_SIZE',
  'ARTIFACTS_S3_DOWNLOAD_CONCURRENCY',
  'ARTIFACTS_S3_CHECKSUM_ALGORITHM',
  'ARTIFACTS_S3_CONNECT_TIMEOUT_MS',
  'ARTIFACTS_S3_SOCKET_TIMEOUT_MS',
];

beforeEach(() => {
  // The machine's own environment (AWS_CA_BUNDLE is set on some) must not leak into these cases.
  for (const name of VARS) vi.stubEnv(name, '');
});
afterEach(() => vi.unstubAllEnvs());

/** Two CA bundles on disk (their text is what the driver trusts). */
const caDir = mkdtempSync(join(tmpdir(), 's3-settings-'));
const CA = join(caDir, 'ca.pem');
const OTHER_CA = join(caDir, 'other.pem');
writeFileSync(CA, 'PEM of ca.pem');
writeFileSync(OTHER_CA, 'PEM of other.pem');

describe('resolveS3Config', () => {
  it('has documented defaults when nothing is set', () => {
    const config = resolveS3Config({});
    expect(config.endpointUrl).toBeUndefined();
    expect(config.region).toBeUndefined();
    expect(config.forcePathStyle).toBe(false);
    expect(config.tls).toEqual({});
    expect(config.uploadExtraArgs).toEqual({});
    expect(config.anonymous).toBe(false);
    expect(config.partSizeBytes).toBe(8 * MIB);
    expect(config.uploadQueueSize).toBe(s3Settings.specs.uploadQueueSize.default);
    expect(config.parallelDownloadThresholdBytes).toBe(
      s3Settings.specs.parallelDownloadThresholdBytes.default,
    );
    expect(config.checksumAlgorithm).toBe('CRC32');
  });

  it('takes the endpoint from MLFLOW_S3_ENDPOINT_URL and then uses path style (auto)', () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    const config = resolveS3Config({});
    expect(config.endpointUrl).toBe('http://127.0.0.1:9000');
    expect(config.forcePathStyle).toBe(true);
  });

  it('lets an option win over the environment', () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    vi.stubEnv('AWS_DEFAULT_REGION', 'eu-west-1');
    const config = resolveS3Config({ endpointUrl: 'https://minio.example:9443', region: 'eu-central-1' });
    expect(config.endpointUrl).toBe('https://minio.example:9443');
    expect(config.region).toBe('eu-central-1');
  });

  it('reads AWS_DEFAULT_REGION', () => {
    vi.stubEnv('AWS_DEFAULT_REGION', 'ap-south-1');
    expect(resolveS3Config({}).region).toBe('ap-south-1');
  });

  it('refuses an endpoint that is not an http(s) URL or that holds credentials', () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 's3://bucket');
    expect(() => resolveS3Config({})).toThrow(/MLFLOW_S3_ENDPOINT_URL must be an http/);
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'not a url');
    expect(() => resolveS3Config({})).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
    expect(() => resolveS3Config({})).toThrow(/MLFLOW_S3_ENDPOINT_URL "not a url" is not a URL/);
    expect(() => resolveS3Config({ endpointUrl: 'http://key:secret@host:9000' })).toThrow(
      /option endpointUrl must not carry a query string or credentials; use AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY/,
    );
    // Core's one endpoint check: a query string (a token) is refused too, a trailing slash dropped.
    expect(() => resolveS3Config({ endpointUrl: 'http://host:9000/?X-Amz-Security-Token=t' })).toThrow(
      /must not carry a query string/,
    );
    expect(resolveS3Config({ endpointUrl: 'http://host:9000/' }).endpointUrl).toBe('http://host:9000');
    try {
      resolveS3Config({ endpointUrl: 'http://key:supersecret@host:9000' });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('supersecret');
    }
  });

  it('honours MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE (case-insensitive) and the option', () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    vi.stubEnv('MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE', 'Virtual');
    expect(resolveS3Config({}).forcePathStyle).toBe(false);
    expect(resolveS3Config({ addressingStyle: 'path' }).forcePathStyle).toBe(true);
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', '');
    vi.stubEnv('MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE', 'path');
    expect(resolveS3Config({}).forcePathStyle).toBe(true);
    vi.stubEnv('MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE', 'sideways');
    expect(() => resolveS3Config({})).toThrow(
      /MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE must be one of auto, path, virtual/,
    );
  });

  describe('TLS', () => {
    it('MLFLOW_S3_IGNORE_TLS skips verification', () => {
      vi.stubEnv('MLFLOW_S3_IGNORE_TLS', 'true');
      expect(resolveS3Config({}).tls).toEqual({ rejectUnauthorized: false });
    });

    it('AWS_CA_BUNDLE names the bundle, read at open; a missing one is refused naming the variable', () => {
      vi.stubEnv('AWS_CA_BUNDLE', CA);
      expect(resolveS3Config({}).tls).toEqual({ ca: 'PEM of ca.pem' });
      vi.stubEnv('AWS_CA_BUNDLE', join(caDir, 'missing.pem'));
      expect(() => resolveS3Config({})).toThrow(/CA bundle \(environment variable AWS_CA_BUNDLE\)/);
    });

    it('both variables set is a clear error naming both', () => {
      vi.stubEnv('MLFLOW_S3_IGNORE_TLS', 'true');
      vi.stubEnv('AWS_CA_BUNDLE', CA);
      expect(() => resolveS3Config({})).toThrow(
        expect.objectContaining({
          code: 'invalid_argument',
          message: expect.stringMatching(/MLFLOW_S3_IGNORE_TLS and AWS_CA_BUNDLE are both set/),
        }),
      );
    });

    it('MLFLOW_S3_IGNORE_TLS=false with AWS_CA_BUNDLE is no conflict', () => {
      vi.stubEnv('MLFLOW_S3_IGNORE_TLS', 'false');
      vi.stubEnv('AWS_CA_BUNDLE', CA);
      expect(resolveS3Config({}).tls).toEqual({ ca: 'PEM of ca.pem' });
    });

    it('options in code win over the environment, but not both options at once', () => {
      // The bundle an option overrides is not even read.
      vi.stubEnv('AWS_CA_BUNDLE', join(caDir, 'missing.pem'));
      expect(resolveS3Config({ ignoreTls: true }).tls).toEqual({ rejectUnauthorized: false });
      vi.stubEnv('MLFLOW_S3_IGNORE_TLS', 'true');
      expect(resolveS3Config({ caBundle: OTHER_CA }).tls).toEqual({ ca: 'PEM of other.pem' });
      expect(() => resolveS3Config({ ignoreTls: true, caBundle: OTHER_CA })).toThrow(
        /options ignoreTls and caBundle exclude each other/,
      );
    });

    it('refuses a non-boolean MLFLOW_S3_IGNORE_TLS', () => {
      vi.stubEnv('MLFLOW_S3_IGNORE_TLS', 'maybe');
      expect(() => resolveS3Config({})).toThrow(/MLFLOW_S3_IGNORE_TLS/);
    });
  });

  it('parses MLFLOW_S3_UPLOAD_EXTRA_ARGS and refuses unknown keys by name', () => {
    vi.stubEnv(
      'MLFLOW_S3_UPLOAD_EXTRA_ARGS',
      '{"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "1234", "Metadata": {"team": "ml"}}',
    );
    expect(resolveS3Config({}).uploadExtraArgs).toEqual({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: '1234',
      Metadata: { team: 'ml' },
    });
    vi.stubEnv(
      'MLFLOW_S3_UPLOAD_EXTRA_ARGS',
      '{"ServerSideEncryption": "AES256", "Colour": "red", "Size": 1}',
    );
    expect(() => resolveS3Config({})).toThrow(
      /MLFLOW_S3_UPLOAD_EXTRA_ARGS: unknown upload argument\(s\) Colour, Size/,
    );
  });

  it('takes the expected bucket owner from MLFLOW_S3_EXPECTED_BUCKET_OWNER', () => {
    vi.stubEnv('MLFLOW_S3_EXPECTED_BUCKET_OWNER', '111122223333');
    expect(resolveS3Config({}).expectedBucketOwner).toBe('111122223333');
    expect(resolveS3Config({ expectedBucketOwner: '444455556666' }).expectedBucketOwner).toBe('444455556666');
  });

  it('validates sizes and counts from options and variables', () => {
    vi.stubEnv('ARTIFACTS_S3_PART_SIZE', String(8 * MIB));
    expect(resolveS3Config({}).partSizeBytes).toBe(8 * MIB);
    vi.stubEnv('ARTIFACTS_S3_PART_SIZE', '1000');
    expect(() => resolveS3Config({})).toThrow(/ARTIFACTS_S3_PART_SIZE/);
    vi.stubEnv('ARTIFACTS_S3_PART_SIZE', '');
    expect(() => resolveS3Config({ partSizeBytes: 1024 })).toThrow(
      /partSizeBytes must be an integer between 5242880 and 5368709120/,
    );
    expect(() => resolveS3Config({ uploadQueueSize: 0 })).toThrow(/uploadQueueSize/);
    expect(resolveS3Config({ parallelDownloadThresholdBytes: 0, partSizeBytes: 5 * MIB })).toMatchObject({
      parallelDownloadThresholdBytes: 0,
    });
  });

  it('takes the checksum algorithm case-insensitively, NONE included', () => {
    vi.stubEnv('ARTIFACTS_S3_CHECKSUM_ALGORITHM', 'crc32c');
    expect(resolveS3Config({}).checksumAlgorithm).toBe('CRC32C');
    expect(resolveS3Config({ checksumAlgorithm: 'NONE' }).checksumAlgorithm).toBe('NONE');
    expect(() => resolveS3Config({ checksumAlgorithm: 'MD5' as never })).toThrow(
      /checksumAlgorithm must be one of/,
    );
  });

  it('reads ARTIFACTS_S3_ANONYMOUS and refuses anonymous with credentials', () => {
    vi.stubEnv('ARTIFACTS_S3_ANONYMOUS', '1');
    expect(resolveS3Config({}).anonymous).toBe(true);
    expect(() =>
      resolveS3Config({ anonymous: true, credentials: { accessKeyId: 'a', secretAccessKey: 'b' } }),
    ).toThrow(/exclude each other/);
    // Credentials in code beat the variable: the request is signed.
    const signed = resolveS3Config({ credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    expect(signed.anonymous).toBe(false);
  });

  it('lists every secret it may hold: static credentials, the SSE-C key (also as sent), the AWS variables', () => {
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'env-secret-key');
    vi.stubEnv('AWS_SESSION_TOKEN', 'env-session-token');
    const config = resolveS3Config({
      credentials: { accessKeyId: 'AKIA1', secretAccessKey: 'code-secret', sessionToken: 'code-token' },
      uploadExtraArgs: { SSECustomerAlgorithm: 'AES256', SSECustomerKey: 'k'.repeat(32) },
    });
    expect(config.secrets).toEqual(
      expect.arrayContaining([
        'env-secret-key',
        'env-session-token',
        'code-secret',
        'code-token',
        'k'.repeat(32),
        Buffer.from('k'.repeat(32)).toString('base64'),
      ]),
    );
    expect(config.secrets).not.toContain('AKIA1');
  });

  it('refuses malformed static credentials without echoing them', () => {
    expect(() => resolveS3Config({ credentials: { accessKeyId: 'AKIA', secretAccessKey: '' } })).toThrow(
      /option credentials must be/,
    );
  });

  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(s3Settings.markdownTable());
  });

  it('refuses unknown options by name', () => {
    expect(() => resolveS3Config({ endpoint: 'http://x' } as never)).toThrow(
      /unknown option "endpoint" for @artifacts\/s3; did you mean "endpointUrl"\?/,
    );
  });
});
