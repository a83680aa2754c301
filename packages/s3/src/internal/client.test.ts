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

  it('us-east-1 only where no shared config file could name a region', async () => {
    expect(await staticIdentity({}, keys)?.region()).toBe('us-east-1');
    expect(
      staticIdentity({}, { ...keys, AWS_CONFIG_FILE: new URL(import.meta.url).pathname }),
    ).toBeUndefined();
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
