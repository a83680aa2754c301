import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { identityOf, regionOf, staticCredentials } from './client.js';

describe('identity and region without the SDK', () => {
  const keys = { AWS_ACCESS_KEY_ID: 'id', AWS_SECRET_ACCESS_KEY: 'secret', AWS_CONFIG_FILE: '/nonexistent' };

  it('takes credentials given as an object, or the environment when no profile is named', async () => {
    const given = { credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, region: 'eu-west-3' };
    expect(staticCredentials(given, {})).toEqual({ accessKeyId: 'a', secretAccessKey: 'b' });
    expect(await regionOf(given, {})).toBe('eu-west-3');
    const env = { ...keys, AWS_SESSION_TOKEN: 'token', AWS_REGION: 'ap-south-1' };
    expect(await regionOf({}, env)).toBe('ap-south-1');
    expect(staticCredentials({}, env)).toEqual({
      accessKeyId: 'id',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    });
  });

  it("the region given, else AWS_REGION, else the shared config file's, else us-east-1", async () => {
    const dir = mkdtempSync(join(tmpdir(), 's3-config-'));
    const file = join(dir, 'config');
    writeFileSync(file, '[default]\nregion = eu-north-1\n[profile dev]\nregion = sa-east-1\n');
    expect(await regionOf({}, keys)).toBe('us-east-1');
    expect(await regionOf({}, { ...keys, AWS_CONFIG_FILE: file })).toBe('eu-north-1');
    expect(await regionOf({}, { ...keys, AWS_CONFIG_FILE: file, AWS_REGION: 'x-1' })).toBe('x-1');
    expect(await regionOf({ profile: 'dev' }, { AWS_CONFIG_FILE: file })).toBe('sa-east-1');
    expect(await regionOf({}, { AWS_CONFIG_FILE: file, AWS_PROFILE: 'dev' })).toBe('sa-east-1');
    // A file that names no region for the profile: the SDK's chain finds none either.
    expect(await regionOf({ profile: 'other' }, { AWS_CONFIG_FILE: file })).toBe('us-east-1');
  });

  it('leaves providers, profiles and missing keys to a provider or the SDK', () => {
    expect(
      staticCredentials({ credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }) }, keys),
    ).toBeUndefined();
    expect(staticCredentials({ profile: 'dev' }, keys)).toBeUndefined();
    expect(staticCredentials({}, { ...keys, AWS_PROFILE: 'dev' })).toBeUndefined();
    expect(
      staticCredentials({}, { AWS_ACCESS_KEY_ID: 'id', AWS_CONFIG_FILE: '/nonexistent' }),
    ).toBeUndefined();
  });

  it("keeps a provider's credentials until five minutes before they expire; asks again after a failure", async () => {
    const provider = (lifetimeMs: number, failOn: number) => {
      let calls = 0;
      const credentials = async () => {
        calls++;
        if (calls === failOn) throw new Error('provider down');
        return {
          accessKeyId: `id${calls}`,
          secretAccessKey: 's',
          expiration: new Date(Date.now() + lifetimeMs),
        };
      };
      return { identity: identityOf({ credentials, profile: undefined }, 60_000), calls: () => calls };
    };
    const lasting = provider(3_600_000, 0);
    expect((await lasting.identity()).accessKeyId).toBe('id1');
    expect((await lasting.identity()).accessKeyId).toBe('id1');
    expect(lasting.calls()).toBe(1);
    const expiring = provider(60_000, 2);
    expect((await expiring.identity()).accessKeyId).toBe('id1');
    await expect(expiring.identity()).rejects.toThrow('provider down');
    expect((await expiring.identity()).accessKeyId).toBe('id3');
  });
});
