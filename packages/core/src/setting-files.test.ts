import { mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandHome, localUserName, pathOrNone, readSettingFile } from './setting-files.js';

describe('setting files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'setting-files-'));

  it('expands ~ and ~/ only', () => {
    expect(expandHome('~')).toBe(homedir());
    expect(expandHome('~/.ssh/config')).toBe(join(homedir(), '.ssh/config'));
    expect(expandHome('/etc/~/x')).toBe('/etc/~/x');
    expect(expandHome('~other/x')).toBe('~other/x');
    expect(expandHome('~/.aws/config', '/home/other')).toBe('/home/other/.aws/config');
    expect(expandHome('~', '/home/other')).toBe('/home/other');
  });

  it('reads a named file; a missing one is an error naming it unless optional', () => {
    const file = join(dir, 'ca.pem');
    writeFileSync(file, 'PEM');
    expect(readSettingFile(file, 'CA file')).toBe('PEM');
    expect(() => readSettingFile(join(dir, 'missing.pem'), 'CA file')).toThrow(
      expect.objectContaining({
        code: 'invalid_argument',
        message: expect.stringMatching(/^cannot read the CA file .*missing\.pem: ENOENT/),
      }),
    );
    expect(readSettingFile(join(dir, 'missing.pem'), 'CA file', { optional: true })).toBeUndefined();
    expect(readSettingFile(join(file, 'below-a-file'), 'CA file', { optional: true })).toBeUndefined();
    // A directory is no file, optional or not.
    expect(() => readSettingFile(dir, 'known_hosts file', { optional: true })).toThrow(/known_hosts file/);
  });

  it('names the local user', () => {
    expect(localUserName()).toMatch(/\S/);
  });
});

describe('pathOrNone', () => {
  it('takes a path, or false (`none`, empty) for none; anything else names the setting', () => {
    expect(pathOrNone('~/.ssh/config', 'option sshConfig')).toBe('~/.ssh/config');
    expect(pathOrNone(false, 'option sshConfig')).toBe(false);
    expect(pathOrNone('NONE', 'environment variable ARTIFACTS_SFTP_CONFIG')).toBe(false);
    expect(pathOrNone('', 'option sshConfig')).toBe(false);
    expect(() => pathOrNone(7 as never, 'option hadoopConfDir')).toThrow(
      'option hadoopConfDir must be a path, or false for none',
    );
  });
});
