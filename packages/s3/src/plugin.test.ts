import { openRepository } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import './index.js';

// Presigning needs no server: the URL shows the endpoint, addressing style and signing region the
// options and variables resolved to, as the real SDK client builds them.
const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};

async function presignedGet(uri: string, options: Record<string, unknown> = {}): Promise<URL> {
  const repo = await openRepository(uri, { credentials, ...options });
  try {
    return new URL(await repo.presignedUrl('model/model.pkl', 'GET'));
  } finally {
    await repo.close();
  }
}

beforeEach(() => {
  for (const name of [
    'MLFLOW_S3_ENDPOINT_URL',
    'MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE',
    'AWS_DEFAULT_REGION',
    'AWS_REGION',
    'AWS_CA_BUNDLE',
    'MLFLOW_S3_IGNORE_TLS',
  ])
    vi.stubEnv(name, '');
});
afterEach(() => vi.unstubAllEnvs());

describe('s3 backend client configuration', () => {
  it('uses MLFLOW_S3_ENDPOINT_URL as the endpoint with path-style keys, never in the key', async () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    const url = await presignedGet('s3://bucket/exp/1');
    expect(url.origin).toBe('http://127.0.0.1:9000');
    expect(url.pathname).toBe('/bucket/exp/1/model/model.pkl');
  });

  it('virtual-hosted style from MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE', async () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://minio.local:9000');
    vi.stubEnv('MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE', 'virtual');
    const url = await presignedGet('s3://bucket/exp/1');
    expect(url.host).toBe('bucket.minio.local:9000');
    expect(url.pathname).toBe('/exp/1/model/model.pkl');
  });

  it('AWS without an endpoint: virtual-hosted, region from AWS_DEFAULT_REGION', async () => {
    vi.stubEnv('AWS_DEFAULT_REGION', 'eu-west-3');
    const url = await presignedGet('s3://bucket/exp');
    expect(url.host).toBe('bucket.s3.eu-west-3.amazonaws.com');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(/\/eu-west-3\/s3\/aws4_request$/);
  });

  it('the region option wins; the SDK chain (AWS_REGION) comes next; us-east-1 last', async () => {
    vi.stubEnv('AWS_DEFAULT_REGION', 'eu-west-3');
    expect(
      (await presignedGet('s3://bucket/x', { region: 'ap-south-1' })).searchParams.get('X-Amz-Credential'),
    ).toMatch(/\/ap-south-1\//);
    vi.stubEnv('AWS_DEFAULT_REGION', '');
    vi.stubEnv('AWS_REGION', 'ca-central-1');
    expect((await presignedGet('s3://bucket/x')).searchParams.get('X-Amz-Credential')).toMatch(
      /\/ca-central-1\//,
    );
    vi.stubEnv('AWS_REGION', '');
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    expect((await presignedGet('s3://bucket/x')).searchParams.get('X-Amz-Credential')).toMatch(
      /\/us-east-1\//,
    );
  });

  it('presigned URLs carry no checksum of an empty body (they would fail real uploads)', async () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    const repo = await openRepository('s3://bucket/x', { credentials });
    try {
      const put = new URL(await repo.presignedUrl('a.bin', 'PUT'));
      const names = [...put.searchParams.keys()].map((k) => k.toLowerCase());
      expect(names.some((n) => n.startsWith('x-amz-checksum') || n === 'x-amz-sdk-checksum-algorithm')).toBe(
        false,
      );
    } finally {
      await repo.close();
    }
  });

  it('refuses URIs of other schemes and bucket-less URIs', async () => {
    await expect(openRepository('s3:///just/a/path')).rejects.toThrow(/bucket/);
  });

  it('declares its capabilities', async () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    const repo = await openRepository('s3://bucket/x', { credentials });
    expect(repo.capabilities).toEqual({
      rangeRead: true,
      directories: false,
      checksums: ['crc32'],
      hashesWrites: true,
      multipartUpload: true,
      presign: true,
      serverSideCopy: true,
    });
    await repo.close();
    const none = await openRepository('s3://bucket/x', { credentials, checksumAlgorithm: 'NONE' });
    expect(none.capabilities.checksums).toEqual([]);
    expect(none.capabilities.hashesWrites).toBe(false);
    await none.close();
    // SHA-256 has no combine: core hashes the body itself.
    const sha = await openRepository('s3://bucket/x', { credentials, checksumAlgorithm: 'SHA256' });
    expect(sha.capabilities).toMatchObject({ checksums: ['sha256'], hashesWrites: false });
    await sha.close();
  });
});

describe("s3 presigned URL lifetime (core's presignSeconds)", () => {
  it('lasts an hour by default, up to 7 days, and refuses anything else with a clear error', async () => {
    vi.stubEnv('MLFLOW_S3_ENDPOINT_URL', 'http://127.0.0.1:9000');
    const repo = await openRepository('s3://bucket/x', { credentials });
    try {
      const expires = async (expiresInSeconds?: number) =>
        new URL(
          await repo.presignedUrl('a.bin', 'GET', expiresInSeconds === undefined ? {} : { expiresInSeconds }),
        ).searchParams.get('X-Amz-Expires');
      expect(await expires()).toBe('3600');
      expect(await expires(7 * 24 * 3600)).toBe('604800');
      for (const bad of [0, 7 * 24 * 3600 + 1, 1.5]) {
        await expect(repo.presignedUrl('a.bin', 'PUT', { expiresInSeconds: bad })).rejects.toMatchObject({
          code: 'invalid_argument',
          message: expect.stringMatching(
            new RegExp(
              `expiresInSeconds must be an integer between 1 and 604800 \\(7 days, the signing limit\\), got ${bad}`,
            ),
          ),
        });
      }
      await expect(repo.createMultipartUpload('big.bin', 2, { expiresInSeconds: 0 })).rejects.toMatchObject({
        code: 'invalid_argument',
        message: expect.stringMatching(/expiresInSeconds/),
      });
    } finally {
      await repo.close();
    }
  });
});
