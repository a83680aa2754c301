import { ArtifactsError } from '@artifacts/core';
import { RestError } from '@azure/storage-blob';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AzureBlobDriver } from '../../src/internal/driver.js';
import { azureErrorDetail, mapAzureError } from '../../src/internal/errors.js';
import { createClients } from '../../src/internal/lean.js';
import { partBlockId } from '../../src/internal/sas.js';
import { resolveAzureConfig } from '../../src/internal/settings.js';
import { azureBackend as azurePlugin } from '../../src/plugin.js';

const KEY = Buffer.alloc(64, 9).toString('base64');
const subject = { what: 'download', container: 'models', account: 'acct', blob: 'exp/1/a.bin' };

function rest(statusCode: number, code: string, message = `${code} message\nRequestId:1\nTime:now`) {
  return new RestError(message, { statusCode, code });
}

function mapped(error: unknown, secrets: string[] = []): ArtifactsError {
  const out = mapAzureError(error, subject, secrets);
  if (!ArtifactsError.is(out)) throw new Error('not mapped');
  return out;
}

describe('error mapping', () => {
  it("an error answer's code is x-ms-error-code (a HEAD has no body), else the body's <Code>; its message and request id", async () => {
    const body =
      '\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.\nRequestId:abc</Message></Error>';
    const answer = (headers: Record<string, string>, text = body) => ({ status: 404, headers, text });
    expect(await azureErrorDetail(body, answer({ 'x-ms-request-id': 'abc' }))).toEqual({
      code: 'BlobNotFound',
      message: 'The specified blob does not exist.\nRequestId:abc',
      requestId: 'abc',
    });
    expect(await azureErrorDetail('', answer({ 'x-ms-error-code': 'ContainerNotFound' }, ''))).toEqual({
      code: 'ContainerNotFound',
    });
  });

  it('ContainerNotFound → not_found naming container and account', () => {
    const error = mapped(rest(404, 'ContainerNotFound'));
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('container "models" of storage account "acct" does not exist');
  });

  it('BlobNotFound → not_found naming the blob by its URI, as users address it', () => {
    const uri = 'wasbs://models@acct.blob.core.windows.net/exp/1/a.bin';
    const error = mapAzureError(rest(404, 'BlobNotFound'), { ...subject, uri }, []) as ArtifactsError;
    expect(error.code).toBe('not_found');
    expect(error.message).toBe(`download: ${uri} does not exist`);
    expect(error.context).toMatchObject({ container: 'models', account: 'acct', blob: 'exp/1/a.bin' });
    expect(mapped(rest(404, 'BlobNotFound')).message).toContain('blob "exp/1/a.bin"');
  });

  it('AuthenticationFailed (403 with a bad key) → unauthenticated', () => {
    expect(mapped(rest(403, 'AuthenticationFailed')).code).toBe('unauthenticated');
  });

  it("Azurite's AuthorizationFailure with the authentication text → unauthenticated", () => {
    const error = rest(403, 'AuthorizationFailure', 'Server failed to authenticate the request. Make sure…');
    expect(mapped(error).code).toBe('unauthenticated');
  });

  it('other 403s (AuthorizationPermissionMismatch, AuthorizationFailure) → permission_denied', () => {
    expect(mapped(rest(403, 'AuthorizationPermissionMismatch')).code).toBe('permission_denied');
    expect(mapped(rest(403, 'AuthorizationFailure', 'This request is not authorized')).code).toBe(
      'permission_denied',
    );
  });

  it('throttling and server errors → unavailable; 412 → failed_precondition; 416 → invalid_argument', () => {
    expect(mapped(rest(503, 'ServerBusy')).code).toBe('unavailable');
    expect(mapped(rest(500, 'InternalError')).code).toBe('unavailable');
    expect(mapped(rest(503, 'ServerBusy')).temporary).toBe(true);
    expect(mapped(rest(408, 'OperationTimedOut')).code).toBe('timeout');
    expect(mapped(rest(409, 'LeaseIdMissing')).code).toBe('failed_precondition');
    expect(mapped(rest(409, 'LeaseIdMissing')).temporary).toBe(false);
    expect(mapped(rest(412, 'ConditionNotMet')).code).toBe('failed_precondition');
    expect(mapped(rest(416, 'InvalidRange')).code).toBe('invalid_argument');
  });

  it('@azure/identity failures → unauthenticated', () => {
    const error = Object.assign(new Error('EnvironmentCredential is unavailable'), {
      name: 'CredentialUnavailableError',
    });
    expect(mapped(error).code).toBe('unauthenticated');
  });

  it('no secret survives in the message, and only the first line of the service text is kept', () => {
    const error = mapped(
      rest(403, 'AuthorizationPermissionMismatch', `denied for ${KEY}\nRequestId:secret-details`),
      [KEY],
    );
    expect(error.message).not.toContain(KEY);
    expect(error.message).not.toContain('RequestId');
  });

  it('leaves aborts and ArtifactsErrors alone', () => {
    const abort = new DOMException('aborted', 'AbortError');
    expect(mapAzureError(abort, subject, [])).toBe(abort);
    const own = ArtifactsError.invalidArgument('x');
    expect(mapAzureError(own, subject, [])).toBe(own);
  });
});

describe('helpers', () => {
  it('block ids of a proxied upload have one length for every part number', () => {
    const lengths = new Set([1, 9, 10, 999, 10000].map((n) => partBlockId(n).length));
    expect(lengths.size).toBe(1);
    expect(Buffer.from(partBlockId(7), 'base64').toString()).toBe('artifacts-part-00007');
  });
});

async function keyDriver(root = 'exp/1') {
  const config = resolveAzureConfig(azurePlugin.parse!(`wasbs://models@acct.blob.core.windows.net/${root}`), {
    accountKey: KEY,
  });
  return new AzureBlobDriver(config, await createClients(config, 1));
}

describe('service SAS (offline: signing needs no request)', () => {
  afterEach(() => vi.useRealTimers());

  it('a presigned GET is read-only, HTTPS-only, for the requested lifetime', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-01T12:00:00Z'));
    const driver = await keyDriver();
    const url = new URL(await driver.presign!.getUrl('model/a b.bin', { expiresInSeconds: 600 }));
    expect(url.origin + url.pathname).toBe('https://acct.blob.core.windows.net/models/exp/1/model/a%20b.bin');
    expect(url.searchParams.get('sp')).toBe('r');
    expect(url.searchParams.get('spr')).toBe('https');
    expect(url.searchParams.get('sr')).toBe('b');
    expect(url.searchParams.get('se')).toBe('2026-03-01T12:10:00Z');
    expect(url.searchParams.get('sig')).toBeTruthy();
    expect(url.toString()).not.toContain(KEY);
  });

  it('a presigned PUT may create and write, defaulting to one hour', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-01T12:00:00Z'));
    const driver = await keyDriver();
    const url = new URL(await driver.presign!.putUrl('a.txt'));
    expect(url.searchParams.get('sp')).toBe('cw');
    expect(url.searchParams.get('se')).toBe('2026-03-01T13:00:00Z');
  });

  it('multipart: one Put Block URL per part, uploadId null, block ids of equal length', async () => {
    const driver = await keyDriver();
    const upload = await driver.multipart!.create('big.bin', { numParts: 12 });
    expect(upload.uploadId).toBeNull();
    expect(upload.credentials.map((c) => c.partNumber)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const url = new URL(upload.credentials[9]!.url);
    expect(url.pathname).toBe('/models/exp/1/big.bin');
    expect(url.searchParams.get('comp')).toBe('block');
    expect(url.searchParams.get('blockid')).toBe(partBlockId(10));
    expect(url.searchParams.get('sp')).toBe('w');
    expect(upload.credentials[0]!.headers).toEqual({});
  });

  it('refuses a non-positive lifetime', async () => {
    const driver = await keyDriver();
    await expect(driver.presign!.getUrl('a', { expiresInSeconds: 0 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });

  it('a SAS-only connection string can sign nothing: presign and multipart are not offered', async () => {
    const config = resolveAzureConfig(azurePlugin.parse!('wasbs://models@acct.blob.core.windows.net/'), {
      connectionString:
        'BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2024&sig=abc',
    });
    const driver = new AzureBlobDriver(config, await createClients(config, 1));
    expect(driver.capabilities).toMatchObject({ presign: false, multipartUpload: false });
  });

  it('Entra ID credentials sign user-delegation SAS, which may last at most 7 days', async () => {
    const token = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 60_000 }) };
    const config = resolveAzureConfig(azurePlugin.parse!('wasbs://models@acct.blob.core.windows.net/'), {
      credential: token,
    });
    const driver = new AzureBlobDriver(config, await createClients(config, 1));
    expect(driver.capabilities).toMatchObject({ presign: true, multipartUpload: true });
    await expect(driver.presign!.getUrl('a', { expiresInSeconds: 8 * 24 * 3600 })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });
});
