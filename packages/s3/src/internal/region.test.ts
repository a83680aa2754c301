import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sharedConfigRegion } from './client.js';

describe("the shared config files' region, read by the SDK's loader", () => {
  const dir = mkdtempSync(join(tmpdir(), 's3-config-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const config = write(
    'config',
    [
      '# a comment',
      '[default]',
      'region = eu-west-1 ; after a space',
      '[profile dev]',
      's3 =',
      '  region = not-this-one',
      'region=ap-south-1',
      '[staging]',
      'region = plain-sections-are-not-profiles-here',
      '[profile "quoted"]',
      'region = ca-central-1',
      '[profile nested]',
      's3 =',
      '  region = sub-key-only',
    ].join('\n'),
  );
  const credentials = write('credentials', '[staging]\nregion = from-credentials\n[quoted]\nregion = wins\n');
  const env = { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: credentials };

  it('takes the default profile, or the one named by the option, else AWS_PROFILE', async () => {
    expect(await sharedConfigRegion(undefined, env)).toBe('eu-west-1');
    expect(await sharedConfigRegion('dev', env)).toBe('ap-south-1');
    expect(await sharedConfigRegion(undefined, { ...env, AWS_PROFILE: 'dev' })).toBe('ap-south-1');
    expect(await sharedConfigRegion('quoted', { ...env, AWS_SHARED_CREDENTIALS_FILE: '/x' })).toBe(
      'ca-central-1',
    );
  });

  it('reads [profile x] in the config file and [x] in the credentials file, which the SDK prefers', async () => {
    expect(await sharedConfigRegion('staging', env)).toBe('from-credentials');
    expect(await sharedConfigRegion('quoted', env)).toBe('wins');
    expect(await sharedConfigRegion('nested', env)).toBeUndefined();
    expect(await sharedConfigRegion('absent', env)).toBeUndefined();
  });

  it('[profile default] wins over [default]; a missing file is empty; ~/ is the home directory', async () => {
    const both = write('both', '[profile default]\nregion = one\n[default]\nregion = two\n');
    expect(
      await sharedConfigRegion(undefined, {
        AWS_CONFIG_FILE: both,
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      }),
    ).toBe('one');
    expect(
      await sharedConfigRegion(undefined, {
        AWS_CONFIG_FILE: '/nonexistent',
        AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
      }),
    ).toBeUndefined();
    write('home-config', '[default]\nregion = from-home\n');
    expect(
      await sharedConfigRegion(undefined, {
        HOME: dir,
        AWS_CONFIG_FILE: '~/home-config',
        AWS_SHARED_CREDENTIALS_FILE: '/x',
      }),
    ).toBe('from-home');
    write('.aws-less', '');
    expect(await sharedConfigRegion(undefined, { HOME: dir })).toBeUndefined();
  });
});
