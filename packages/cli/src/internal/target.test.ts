import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseTarget } from './target.js';

describe('parseTarget', () => {
  it.each([
    ['s3://bucket/p/file.txt', 's3://bucket/p', 'file.txt'],
    ['s3://bucket/p/dir/', 's3://bucket/p', 'dir'],
    ['s3://bucket/a b%20c', 's3://bucket/', 'a b%20c'], // object-store keys are literal
    ['gs://bucket/x', 'gs://bucket/', 'x'],
    ['file:///srv/store/a%20b', 'file:///srv/store', 'a b'], // file: URIs are percent-encoded
    ['sftp://u:pw@host:22/srv/x/y', 'sftp://u:pw@host:22/srv/x', 'y'],
    ['hdfs:///user/me/run', 'hdfs:///user/me', 'run'],
    ['mlflow-artifacts:/0/run/artifacts', 'mlflow-artifacts:/0/run', 'artifacts'],
    [
      'wasbs://cont@acct.blob.core.windows.net/p/q?sv=1&sig=abc',
      'wasbs://cont@acct.blob.core.windows.net/p?sv=1&sig=abc',
      'q',
    ],
  ])('%s → open %s, work on %j', (uri, parent, name) => {
    const target = parseTarget(uri);
    expect(target.parent).toBe(parent);
    expect(target.name).toBe(name);
  });

  it('has no parent at the root of a store', () => {
    for (const uri of ['s3://bucket', 's3://bucket/', 'sftp://host/', 'file:///', '/']) {
      expect(parseTarget(uri)).toMatchObject({ parent: undefined, name: '' });
    }
  });

  it('takes a bare path literally and resolves it against the working directory', () => {
    expect(parseTarget('./store/a%20b')).toMatchObject({
      parent: resolve('store'),
      name: 'a%20b',
      scheme: 'file',
    });
    expect(parseTarget('../x/y')).toMatchObject({ parent: resolve('../x'), name: 'y' });
  });

  it('redacts the password and secret query parameters in `display`', () => {
    expect(parseTarget('sftp://u:hunter2@host/x/y').display).toBe('sftp://u:***@host/x/y');
    expect(parseTarget('leaky://host/x?sig=hunter2').display).toBe('leaky://host/x?sig=***');
  });

  it.each([
    'file:///srv/a/%2e%2e/%2e%2e/etc',
    'sftp://host/a/%252e%252e/b',
    's3://bucket/a/../b',
    'file:///a/b#c',
  ])('refuses a URI whose path climbs or is cut: %s', (uri) => {
    expect(() => parseTarget(uri)).toThrow(expect.objectContaining({ code: 'invalid_argument' }));
  });

  it('never echoes the password of a malformed URI', () => {
    try {
      parseTarget('sftp://u:hunter2@host/a/%2e%2e/b');
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });
});
