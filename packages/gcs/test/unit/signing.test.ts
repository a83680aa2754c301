import { readFileSync } from 'node:fs';
import { parseArtifactUri } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GcsDriver } from '../../src/internal/driver.js';
import { createGcsClient } from '../../src/internal/lean.js';
import { resolveGcsConfig } from '../../src/internal/settings.js';
import { signObjectUrl } from '../../src/internal/signing.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
const serviceAccount = fixture('conformance-service-account.json');
const vectors: Array<{
  description: string;
  bucket: string;
  object: string;
  method: 'GET' | 'PUT';
  expiration: string;
  timestamp: string;
  queryParameters?: Record<string, string>;
  expectedUrl: string;
}> = fixture('v4-signatures.json').signingV4Tests;

let savedEmulator: string | undefined;
beforeEach(() => {
  savedEmulator = process.env.STORAGE_EMULATOR_HOST;
  delete process.env.STORAGE_EMULATOR_HOST;
});
afterEach(() => {
  if (savedEmulator !== undefined) process.env.STORAGE_EMULATOR_HOST = savedEmulator;
  vi.useRealTimers();
});

async function driverFor(bucket: string, root = '') {
  const config = resolveGcsConfig(parseArtifactUri(`gs://${bucket}${root ? `/${root}` : ''}`), {
    credentials: { client_email: serviceAccount.client_email, private_key: serviceAccount.private_key },
  });
  const client = await createGcsClient(config);
  return { driver: new GcsDriver(config, client), storage: (await client.credentials())! };
}

describe("V4 signing against Google's published test vectors (offline)", () => {
  for (const vector of vectors) {
    it(vector.description, async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date(vector.timestamp));
      const { driver, storage } = await driverFor(vector.bucket);
      const expires = Number(vector.expiration);
      let url: string;
      if (vector.queryParameters) {
        url = await signObjectUrl(
          storage.bucket(vector.bucket).file(vector.object),
          'read',
          expires,
          undefined,
          vector.queryParameters,
        );
      } else if (vector.method === 'GET') {
        url = await driver.presign!.getUrl(vector.object, { expiresInSeconds: expires });
      } else {
        url = await driver.presign!.putUrl(vector.object, { expiresInSeconds: expires });
      }
      // The signature is over the canonical (sorted) query; the order of parameters in the URL is free.
      const got = new URL(url);
      const want = new URL(vector.expectedUrl);
      expect(got.origin + got.pathname).toBe(want.origin + want.pathname);
      const sorted = (u: URL) => [...u.searchParams.entries()].map(([k, v]) => [k.toLowerCase(), v]).sort();
      expect(sorted(got)).toEqual(sorted(want));
    });
  }
});

describe('signed URL form', () => {
  it('signs the object under the repository root, for the requested lifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-02T03:04:05Z'));
    const { driver } = await driverFor('my-bucket', 'exp/1/run/artifacts');
    const url = new URL(await driver.presign!.getUrl('model/weights.bin', { expiresInSeconds: 900 }));
    expect(url.origin + url.pathname).toBe(
      'https://storage.googleapis.com/my-bucket/exp/1/run/artifacts/model/weights.bin',
    );
    expect(url.searchParams.get('X-Goog-Algorithm')).toBe('GOOG4-RSA-SHA256');
    expect(url.searchParams.get('X-Goog-Date')).toBe('20260102T030405Z');
    expect(url.searchParams.get('X-Goog-Expires')).toBe('900');
    expect(url.searchParams.get('X-Goog-Signature')).toMatch(/^[0-9a-f]{512}$/);
  });

  it('defaults to one hour and refuses more than 7 days', async () => {
    const { driver } = await driverFor('my-bucket');
    const url = new URL(await driver.presign!.putUrl('a.txt'));
    expect(url.searchParams.get('X-Goog-Expires')).toBe('3600');
    await expect(driver.presign!.getUrl('a.txt', { expiresInSeconds: 8 * 24 * 3600 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });

  it('an XML-API part URL carries partNumber and uploadId inside the signature', async () => {
    const { storage } = await driverFor('my-bucket');
    const file = storage.bucket('my-bucket').file('big.bin');
    const url = new URL(
      await signObjectUrl(file, 'write', 3600, undefined, { partNumber: '7', uploadId: 'UP-1' }),
    );
    expect(url.searchParams.get('partNumber')).toBe('7');
    expect(url.searchParams.get('uploadId')).toBe('UP-1');
    // Changing a signed query parameter must change the signature: the parameters are signed.
    const other = new URL(
      await signObjectUrl(file, 'write', 3600, undefined, { partNumber: '8', uploadId: 'UP-1' }),
    );
    expect(other.searchParams.get('X-Goog-Signature')).not.toBe(url.searchParams.get('X-Goog-Signature'));
  });

  it('no private key material appears in a signed URL', async () => {
    const { driver } = await driverFor('my-bucket');
    const url = await driver.presign!.getUrl('a.txt');
    const keyBody = String(serviceAccount.private_key).split('\n')[1]!;
    expect(url).not.toContain(keyBody);
    expect(driver.secrets).toContain(serviceAccount.private_key);
  });

  it('anonymous drivers offer neither presigned URLs nor multipart uploads', async () => {
    const config = resolveGcsConfig(parseArtifactUri('gs://my-bucket'), { anonymous: true });
    const client = await createGcsClient(config);
    const driver = new GcsDriver(config, client);
    expect(driver.capabilities).toMatchObject({ presign: false, multipartUpload: false });
    expect(driver.presign).toBeUndefined();
  });
});
