import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sdkAttempts, staticIdentity } from './client.js';

describe("the SDK's attempts per request", () => {
  it('is one unless the user asks for more: core retries', () => {
    expect(sdkAttempts(undefined, {})).toEqual({ maxAttempts: 1 });
    expect(sdkAttempts(undefined, { AWS_MAX_ATTEMPTS: ' ' })).toEqual({ maxAttempts: 1 });
  });

  it('the maxAttempts option wins; AWS_MAX_ATTEMPTS is left for the SDK to read', () => {
    expect(sdkAttempts(5, { AWS_MAX_ATTEMPTS: '2' })).toEqual({ maxAttempts: 5 });
    expect(sdkAttempts(undefined, { AWS_MAX_ATTEMPTS: '2' })).toEqual({});
  });
});

describe('our requests without the SDK: staticIdentity', () => {
  const keys = { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret', AWS_CONFIG_FILE: '/nonexistent' };

  it('takes credentials given as an object, or the environment when no profile is named', async () => {
    const given = staticIdentity(
      { credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, region: 'eu-west-3' },
      {},
    );
    expect(await given?.credentials()).toEqual({ accessKeyId: 'a', secretAccessKey: 'b' });
    expect(await given?.region()).toBe('eu-west-3');
    const env = staticIdentity({}, { ...keys, AWS_SESSION_TOKEN: 'token', AWS_REGION: 'ap-south-1' });
    expect(await env?.credentials()).toEqual({
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    });
    expect(await env?.region()).toBe('ap-south-1');
  });

  it("the region given, else AWS_REGION, else the shared config file's, else us-east-1", async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3-config-'));
    const file = join(dir, 'config');
    writeFileSync(file, '[default]\nregion = eu-north-1\n[profile dev]\nregion = sa-east-1\n');
    expect(await staticIdentity({}, keys)?.region()).toBe('us-east-1');
    expect(await staticIdentity({}, { ...keys, AWS_CONFIG_FILE: file })?.region()).toBe('eu-north-1');
    expect(await staticIdentity({}, { ...keys, AWS_CONFIG_FILE: file, AWS_REGION: 'x-1' })?.region()).toBe(
      'x-1',
    );
    const given = { accessKeyId: 'a', secretAccessKey: 'b' };
    expect(
      await staticIdentity({ credentials: given, profile: 'dev' }, { AWS_CONFIG_FILE: file })?.region(),
    ).toBe('sa-east-1');
    expect(
      await staticIdentity({ credentials: given }, { AWS_CONFIG_FILE: file, AWS_PROFILE: 'dev' })?.region(),
    ).toBe('sa-east-1');
    // A file that names no region for the profile: the SDK's chain finds none either.
    expect(
      await staticIdentity({ credentials: given, profile: 'other' }, { AWS_CONFIG_FILE: file })?.region(),
    ).toBe('us-east-1');
  });

  it('leaves providers, profiles and missing keys to the SDK', () => {
    expect(
      staticIdentity({ credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }) }, keys),
    ).toBeUndefined();
    expect(staticIdentity({ profile: 'dev' }, keys)).toBeUndefined();
    expect(staticIdentity({}, { ...keys, AWS_PROFILE: 'dev' })).toBeUndefined();
    expect(staticIdentity({}, { AWS_ACCESS_KEY_ID: 'id', AWS_CONFIG_FILE: '/nonexistent' })).toBeUndefined();
  });
});
