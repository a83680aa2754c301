import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { encodeRfc3986 } from './store-http.js';
import {
  appendToUri,
  encodePath,
  invalidUriAuthority,
  objectKeyPrefix,
  parseArtifactUri,
  redactUri,
  runArtifactUri,
  splitArtifactUri,
} from './uri.js';

function invalid(uri: string): ArtifactsError {
  try {
    parseArtifactUri(uri);
  } catch (error) {
    if (ArtifactsError.is(error, 'invalid_argument')) return error;
    throw error;
  }
  throw new Error(`${uri} was accepted`);
}

describe('parseArtifactUri', () => {
  it('parses bare, relative and file: paths to absolute local paths', () => {
    expect(parseArtifactUri('/abs/path')).toMatchObject({ scheme: 'file', path: '/abs/path' });
    expect(parseArtifactUri('mlartifacts/0')).toMatchObject({
      scheme: 'file',
      path: resolve('mlartifacts/0'),
    });
    expect(parseArtifactUri('./mlartifacts')).toMatchObject({ scheme: 'file', path: resolve('mlartifacts') });
    expect(parseArtifactUri('file:///abs/my%20dir/%C3%A9t%C3%A9')).toMatchObject({
      scheme: 'file',
      path: '/abs/my dir/été',
    });
    expect(parseArtifactUri('file:/abs/path')).toMatchObject({ scheme: 'file', path: '/abs/path' });
    expect(parseArtifactUri('file://localhost/abs')).toMatchObject({ scheme: 'file', path: '/abs' });
  });

  it('parses object-store URIs keeping keys literal', () => {
    expect(parseArtifactUri('s3://my-bucket/exp/1/run%20x/')).toMatchObject({
      scheme: 's3',
      bucket: 'my-bucket',
      path: 'exp/1/run%20x',
    });
    expect(parseArtifactUri('s3://my-bucket')).toMatchObject({ bucket: 'my-bucket', path: '' });
    expect(parseArtifactUri('gs://bucket_1/a/b')).toMatchObject({
      scheme: 'gs',
      bucket: 'bucket_1',
      path: 'a/b',
    });
  });

  it('leaves backend-specific forms to their plugin: wasbs is read generically, and split for it', () => {
    // The Azure plugin owns `wasbs://<container>@<account>.blob.…` (see @artifacts/azure's parseAzureUri).
    const generic = parseArtifactUri('wasbs://models@acct01.blob.core.windows.net/exp/1');
    expect(generic).toMatchObject({ scheme: 'wasbs', host: 'acct01.blob.core.windows.net' });
    expect(generic.bucket).toBeUndefined();
    expect(splitArtifactUri('wasbs://models@acct01.blob.core.windows.net/exp/./1/?sv=1')).toEqual({
      scheme: 'wasbs',
      authority: 'models@acct01.blob.core.windows.net',
      userInfo: 'models',
      hostPort: 'acct01.blob.core.windows.net',
      path: '/exp/./1/',
      query: 'sv=1',
    });
    expect(objectKeyPrefix('x://y/exp/./1/', '/exp/./1/')).toBe('exp/1');
    expect(() => objectKeyPrefix('x://y/a/../b', '/a/../b')).toThrow("'..' segment");
    expect(() => splitArtifactUri('no-scheme/path')).toThrow('it has no scheme');
    expect(() => splitArtifactUri('x://host/a\\b')).toThrow('backslash');
    expect(invalidUriAuthority('x://user:Zq7Lm@host/a', 'bad').message).not.toContain('Zq7Lm');
  });

  it('parses ftp and sftp URIs with user, percent-decoded password and port', () => {
    expect(parseArtifactUri('sftp://alice:p%40ss%2Fw@host.example:2222/srv/artifacts')).toMatchObject({
      scheme: 'sftp',
      username: 'alice',
      password: 'p@ss/w',
      host: 'host.example',
      port: 2222,
      path: '/srv/artifacts',
    });
    expect(parseArtifactUri('ftp://bob@10.0.0.1/pub')).toMatchObject({
      scheme: 'ftp',
      username: 'bob',
      host: '10.0.0.1',
      path: '/pub',
    });
    expect(parseArtifactUri('ftp://bob@10.0.0.1/pub').port).toBeUndefined();
    expect(parseArtifactUri('sftp://u@[::1]:22/x')).toMatchObject({ host: '[::1]', port: 22 });
  });

  it('parses HDFS forms', () => {
    expect(parseArtifactUri('hdfs://namenode:8020/user/mlflow')).toMatchObject({
      scheme: 'hdfs',
      host: 'namenode',
      port: 8020,
      path: '/user/mlflow',
    });
    expect(parseArtifactUri('hdfs:///user/mlflow')).toMatchObject({ scheme: 'hdfs', path: '/user/mlflow' });
    expect(parseArtifactUri('hdfs:///user/mlflow').host).toBeUndefined();
    expect(parseArtifactUri('hdfs:/user/mlflow')).toMatchObject({ scheme: 'hdfs', path: '/user/mlflow' });
    expect(parseArtifactUri('viewfs://cluster/data')).toMatchObject({
      scheme: 'viewfs',
      host: 'cluster',
      path: '/data',
    });
  });

  it('parses mlflow-artifacts and http(s) URIs', () => {
    expect(parseArtifactUri('mlflow-artifacts:/1/abc/artifacts')).toMatchObject({
      scheme: 'mlflow-artifacts',
      path: '1/abc/artifacts',
    });
    expect(parseArtifactUri('mlflow-artifacts://tracking:5000/1/abc')).toMatchObject({
      host: 'tracking',
      port: 5000,
      path: '1/abc',
    });
    expect(parseArtifactUri('https://mlflow.example/api/2.0/mlflow-artifacts/artifacts/1')).toMatchObject({
      scheme: 'https',
      host: 'mlflow.example',
      path: '/api/2.0/mlflow-artifacts/artifacts/1',
    });
  });

  it('keeps the query string', () => {
    expect(parseArtifactUri('s3://bkt/p?versionId=3').query).toBe('versionId=3');
  });

  it.each([
    ['s3://', 'needs a bucket'],
    ['s3:///key', 'needs a bucket'],
    ['s3://Bad_Bucket!/x', 'is not a valid bucket name'],
    ['s3://user:pw@bucket/x', 'credentials and ports do not belong'],
    ['s3://bucket/a/../b', "'..' segment"],
    ['gs://b/a#frag', "contains '#'"],
    ['sftp://host:99999/x', 'its port is not a number'],
    ['sftp://host:abc/x', 'its port is not a number'],
    ['ftp:///x', 'needs a host'],
    ['ftp://u:p%zz@h/x', 'malformed percent-escape'],
    ['file://remotehost/x', 'remote host'],
    ['file:///a/%2e%2e/b', "'..' segment"],
    ['file:///a/../b', "'..' segment"],
    ['/tmp/a\u0000b', 'NUL or control character'],
    ['', 'empty'],
    ['C:\\Users\\x', 'Windows drive path'],
    ['mlflow-artifacts://u:p@host/x', 'credentials do not belong'],
    ['http:///nohost', 'no host'],
  ])('refuses %j (%s)', (uri, why) => {
    expect(invalid(uri).message).toContain(why);
  });

  it('never echoes the password of a malformed URI', () => {
    const error = invalid('sftp://alice:hunter2secret@host:99999/x');
    expect(error.message).not.toContain('hunter2secret');
    expect(error.message).toContain('its port is not a number');
  });
});

describe('redactUri', () => {
  it('masks passwords and secret query parameters', () => {
    expect(redactUri('sftp://alice:hunter2@h/x')).toBe('sftp://alice:***@h/x');
    expect(redactUri('ftp://bob@h/x')).toBe('ftp://bob@h/x');
    expect(redactUri('https://acct.blob.core.windows.net/c/b?sv=2024&sig=abc%2Bdef&se=1')).toBe(
      'https://acct.blob.core.windows.net/c/b?sv=2024&sig=***&se=1',
    );
    expect(redactUri('https://s3/b/k?X-Amz-Credential=AKIA&X-Amz-Signature=ff&partNumber=1')).toBe(
      'https://s3/b/k?X-Amz-Credential=***&X-Amz-Signature=***&partNumber=1',
    );
    expect(redactUri('/plain/path')).toBe('/plain/path');
  });
});

describe('encodePath', () => {
  it('percent-encodes each segment of a key (RFC 3986), keeping its slashes', () => {
    expect(encodePath('a b/c#d?e/é')).toBe('a%20b/c%23d%3Fe/%C3%A9');
    expect(encodePath("it's (1)*!/x%2Fy")).toBe('it%27s%20%281%29%2A%21/x%252Fy');
    expect(encodePath('/abs/dir/')).toBe('/abs/dir/');
    expect(encodePath('')).toBe('');
  });

  it("gives the bytes of StoreHttp's RFC 3986 encoder for each segment, for every reserved character", () => {
    const reserved = ':/?#[]@!$&\'()*+,;=% "<>^`{|}~-._é\u{1F600}';
    const key = [...reserved].join('/') + `/${reserved.replaceAll('/', '')}`;
    expect(encodePath(key)).toBe(key.split('/').map(encodeRfc3986).join('/'));
    // `!'()*`, which encodeURIComponent keeps, are encoded; `~-._` are not.
    expect(encodePath("!'()*~-._")).toBe('%21%27%28%29%2A~-._');
  });
});

describe('appendToUri and runArtifactUri', () => {
  it('appends, keeping the query string', () => {
    expect(appendToUri('s3://b/p?x=1', 'a/b')).toBe('s3://b/p/a/b?x=1');
    expect(appendToUri('s3://b/p/', 'a')).toBe('s3://b/p/a');
    expect(appendToUri('/root', 'a b/c')).toBe('/root/a b/c');
    expect(appendToUri('file:///root', 'a b/é')).toBe('file:///root/a%20b/%C3%A9');
    expect(appendToUri('s3://b/p', '')).toBe('s3://b/p');
    expect(() => appendToUri('s3://b/p', '../x')).toThrow(/'\.\.' segment/);
  });

  it('builds the run layout', () => {
    expect(runArtifactUri('s3://b/mlflow', '1', 'abc123')).toBe('s3://b/mlflow/1/abc123/artifacts');
    expect(runArtifactUri('./mlartifacts', '0', 'r')).toBe('./mlartifacts/0/r/artifacts');
    expect(() => runArtifactUri('s3://b', '../1', 'r')).toThrow(/experiment id/);
    expect(() => runArtifactUri('s3://b', '1', 'a/b')).toThrow(/run id/);
  });
});

describe('hostile passwords (one user-information rule for parsing and redaction)', () => {
  // Each password is made of distinctive chunks: none may appear in anything printed.
  const CHUNKS = /[A-Za-z0-9]{4,}/g;
  const PASSWORDS = [
    's3cret@PW9x',
    'Zq7Lm@@Xr4Tb',
    'Zq7Lm@',
    '@Zq7Lm',
    'Zq7Lm/Xr4Tb',
    'Zq7Lm?Xr4Tb',
    'Zq7Lm#Xr4Tb',
    'Zq7Lm/Xr4Tb@Vw2Kp',
    'Zq7Lm?Xr4Tb=1&Vw2Kp',
    'Zq7Lm:Xr4Tb',
    'Zq7Lm:2121/Xr4Tb',
    'Zq7Lm[Xr4Tb]',
    'Zq7Lm%Xr4Tb',
    'Zq7Lm%2FXr4Tb',
    'Zq7Lm Xr4Tb',
    'Zq7Lm\\Xr4Tb',
    'Zq7Lm\u0000Xr4Tb',
    'Zq7Lmé€Xr4Tb',
    'Zq7Lm/../../Xr4Tb',
  ];
  const SCHEMES = ['sftp', 'ftp', 'ftps', 'http', 'https', 'mlflow-artifacts', 'hdfs', 'webhdfs', 'wasbs'];
  const host = (scheme: string) => (scheme === 'wasbs' ? 'acct.blob.core.windows.net' : 'files.example:8021');

  function printed(uri: string): string[] {
    const out = [redactUri(uri)];
    try {
      const parsed = parseArtifactUri(uri);
      out.push(redactUri(parsed.uri), JSON.stringify({ ...parsed, uri: undefined, password: undefined }));
    } catch (error) {
      out.push((error as Error).message);
    }
    return out;
  }

  for (const scheme of SCHEMES) {
    for (const password of PASSWORDS) {
      for (const [form, written] of [
        ['raw', password],
        ['percent-encoded', encodeURIComponent(password)],
      ] as const) {
        it(`${scheme}: a ${form} password ${JSON.stringify(password)} is never printed`, () => {
          const uri = `${scheme}://alice:${written}@${host(scheme)}/dir/file.txt`;
          const shown = printed(uri).join('\n');
          for (const chunk of password.match(CHUNKS) ?? []) expect(shown).not.toContain(chunk);
        });
      }
    }
  }

  it('parses a password holding @, /, ? or # whole, with the host and path after it', () => {
    for (const scheme of ['sftp', 'ftp', 'ftps', 'http', 'https']) {
      for (const password of [
        's3cret@PW9x',
        'Zq7Lm/Xr4Tb',
        'Zq7Lm?Xr4Tb',
        'Zq7Lm#Xr4Tb',
        'Zq7Lm/Xr4Tb@Vw2Kp',
      ]) {
        const parsed = parseArtifactUri(`${scheme}://alice:${password}@files.example:2121/dir/a@b.txt`);
        expect(parsed).toMatchObject({ username: 'alice', password, host: 'files.example', port: 2121 });
        expect(parsed.path).toBe('/dir/a@b.txt');
        expect(redactUri(parsed.uri)).toBe(`${scheme}://alice:***@files.example:2121/dir/a@b.txt`);
      }
    }
  });

  it('keeps RFC 3986 readings: an @ in the path of a URI without credentials is part of the path', () => {
    expect(parseArtifactUri('sftp://files.example/models/m@v2/w.bin')).toMatchObject({
      host: 'files.example',
      path: '/models/m@v2/w.bin',
    });
    expect(parseArtifactUri('ftp://files.example:2121/m@v2?x=1')).toMatchObject({
      port: 2121,
      path: '/m@v2',
    });
    expect(redactUri('ftp://bob@files.example/m@v2')).toBe('ftp://bob@files.example/m@v2');
  });

  it('reads the two ambiguous forms as RFC 3986 does (documented: percent-encode such passwords)', () => {
    // An @ followed later by a /: the first / after the @ starts the path, as for `user:pw@host/a@b`.
    expect(parseArtifactUri('ftp://alice:ab@cd/ef@files.example/x')).toMatchObject({
      password: 'ab',
      host: 'cd',
    });
    // Digits before the first /: a port, as for `host:2121/a@b`.
    expect(parseArtifactUri('ftp://alice:2121/ef@files.example/x')).toMatchObject({
      host: 'alice',
      port: 2121,
    });
    // Percent-encoded, both are read whole.
    expect(parseArtifactUri('ftp://alice:ab%40cd%2Fef@files.example/x')).toMatchObject({
      password: 'ab@cd/ef',
    });
    expect(parseArtifactUri('ftp://alice:2121%2Fef@files.example/x')).toMatchObject({ password: '2121/ef' });
  });

  it('never echoes the authority of a URI it cannot parse', () => {
    for (const uri of [
      'ftp://alice:Zq7Lm/Xr4Tb',
      'sftp://Zq7Lm:Xr4Tb/x',
      'http://[Zq7Lm:Xr4Tb/x',
      'ftp://a:%zzZq7Lm@h/x',
    ]) {
      let message = '';
      try {
        parseArtifactUri(uri);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^invalid artifact URI/);
      expect(message).not.toContain('Zq7Lm');
      expect(message).not.toContain('Xr4Tb');
    }
  });
});
