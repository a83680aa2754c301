import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { parseArtifactUri } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { hdfsSettings, resolveSettings } from './settings.js';

const site = (props: Record<string, string>) =>
  `<configuration>${Object.entries(props)
    .map(([k, v]) => `<property><name>${k}</name><value>${v}</value></property>`)
    .join('')}</configuration>`;

function confDir(core: Record<string, string>, hdfs: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hdfs-settings-'));
  writeFileSync(join(dir, 'core-site.xml'), site(core));
  writeFileSync(join(dir, 'hdfs-site.xml'), site(hdfs));
  return dir;
}

const uri = (u: string) => parseArtifactUri(u);

describe('resolveSettings', () => {
  const dir = confDir(
    { 'fs.defaultFS': 'hdfs://nn:8020' },
    { 'dfs.namenode.rpc-address': 'nn:8020', 'dfs.namenode.http-address': 'nn:50070' },
  );

  it('endpoint: option > ARTIFACTS_HDFS_WEBHDFS_URL > HADOOP_CONF_DIR > default', () => {
    const env = { HADOOP_CONF_DIR: dir, ARTIFACTS_HDFS_WEBHDFS_URL: 'http://env:1/' };
    expect(resolveSettings(uri('hdfs://nn:8020/a'), { webhdfsUrl: 'http://opt:2' }, env).endpoints).toEqual([
      'http://opt:2',
    ]);
    expect(resolveSettings(uri('hdfs://nn:8020/a'), {}, env).endpoints).toEqual(['http://env:1']);
    expect(resolveSettings(uri('hdfs://nn:8020/a'), {}, { HADOOP_CONF_DIR: dir }).endpoints).toEqual([
      'http://nn:50070',
    ]);
    expect(resolveSettings(uri('hdfs:///a/b'), {}, { HADOOP_CONF_DIR: dir })).toMatchObject({
      endpoints: ['http://nn:50070'],
      root: '/a/b',
    });
    expect(
      resolveSettings(uri('hdfs://nn:8020/a'), { hadoopConfDir: false }, { HADOOP_CONF_DIR: dir }).endpoints,
    ).toEqual(['http://nn:9870']);
    expect(
      resolveSettings(uri('hdfs://nn:8020/a'), { webhdfsUrl: ['http://a:1', 'http://b:1'] }, {}).endpoints,
    ).toEqual(['http://a:1', 'http://b:1']);
  });

  it('refuses a WebHDFS URL that is not http(s) or carries credentials', () => {
    expect(() => resolveSettings(uri('hdfs://nn/a'), { webhdfsUrl: 'ftp://x' }, {})).toThrow(/http/);
    expect(() => resolveSettings(uri('hdfs://nn/a'), { webhdfsUrl: 'http://u:secret@x' }, {})).toThrow(
      /credentials/,
    );
    expect(() => resolveSettings(uri('hdfs://nn/a'), {}, { ARTIFACTS_HDFS_WEBHDFS_URL: 'nope' })).toThrow(
      /ARTIFACTS_HDFS_WEBHDFS_URL/,
    );
  });

  it('user: option > MLFLOW_KERBEROS_USER > HADOOP_USER_NAME > OS user; none with Kerberos', () => {
    const env = { MLFLOW_KERBEROS_USER: 'krb', HADOOP_USER_NAME: 'hadoop' };
    expect(resolveSettings(uri('webhdfs://h/a'), { user: 'opt' }, env).user).toBe('opt');
    expect(resolveSettings(uri('webhdfs://h/a'), {}, env).user).toBe('krb');
    expect(resolveSettings(uri('webhdfs://h/a'), {}, { HADOOP_USER_NAME: 'hadoop' }).user).toBe('hadoop');
    expect(resolveSettings(uri('webhdfs://h/a'), {}, {}).user).toBe(userInfo().username);
    const krb = resolveSettings(
      uri('webhdfs://h/a'),
      {},
      { ...env, MLFLOW_KERBEROS_TICKET_CACHE: '/tmp/krb5cc' },
    );
    expect(krb.user).toBeUndefined();
    // MLflow passes MLFLOW_KERBEROS_USER as the principal, also when a ticket cache is set
    expect(krb.kerberos).toMatchObject({ ticketCache: '/tmp/krb5cc', principal: 'krb' });
    expect(krb.kerberos?.reason).toBe('MLFLOW_KERBEROS_TICKET_CACHE');
    const noUser = resolveSettings(uri('webhdfs://h/a'), {}, { MLFLOW_KERBEROS_TICKET_CACHE: '/tmp/krb5cc' });
    expect(noUser.kerberos).toMatchObject({ ticketCache: '/tmp/krb5cc', principal: undefined });
    const byOption = resolveSettings(
      uri('webhdfs://h/a'),
      { kerberosTicketCache: '/tmp/opt', user: 'alice' },
      { ...env, MLFLOW_KERBEROS_TICKET_CACHE: '/tmp/krb5cc' },
    );
    expect(byOption.kerberos).toMatchObject({ ticketCache: '/tmp/opt', principal: 'alice' });
    expect(resolveSettings(uri('webhdfs://h/a'), {}, env).kerberos).toBeUndefined();
  });

  it('hadoop.security.authentication=kerberos in core-site.xml turns on SPNEGO with the default cache', () => {
    const dir = confDir({ 'hadoop.security.authentication': 'Kerberos' }, {});
    const s = resolveSettings(
      uri('webhdfs://h/a'),
      {},
      { HADOOP_CONF_DIR: dir, MLFLOW_KERBEROS_USER: 'bob' },
    );
    expect(s.user).toBeUndefined();
    expect(s.kerberos).toMatchObject({ ticketCache: undefined, principal: 'bob' });
    expect(s.kerberos?.reason).toContain(dir);
  });

  it('pool size and download part size: option > env > default, validated', () => {
    expect(resolveSettings(uri('webhdfs://h/a'), {}, {}).maxConnections).toBe(16);
    expect(
      resolveSettings(uri('webhdfs://h/a'), {}, { ARTIFACTS_HDFS_MAX_CONNECTIONS: '2' }).maxConnections,
    ).toBe(2);
    expect(
      resolveSettings(uri('webhdfs://h/a'), { maxConnections: 7 }, { ARTIFACTS_HDFS_MAX_CONNECTIONS: '2' })
        .maxConnections,
    ).toBe(7);
    expect(() => resolveSettings(uri('webhdfs://h/a'), { maxConnections: 0 }, {})).toThrow(/maxConnections/);
    expect(() => resolveSettings(uri('webhdfs://h/a'), {}, { ARTIFACTS_HDFS_MAX_CONNECTIONS: 'x' })).toThrow(
      /ARTIFACTS_HDFS_MAX_CONNECTIONS/,
    );
    expect(resolveSettings(uri('webhdfs://h/a'), {}, {}).downloadPartSize).toBe(64 * 1024 * 1024);
    expect(
      resolveSettings(uri('webhdfs://h/a'), {}, { ARTIFACTS_HDFS_DOWNLOAD_PART_SIZE: '1024' })
        .downloadPartSize,
    ).toBe(1024);
    // Retries are core's alone: the old option is refused, naming it.
    expect(() => resolveSettings(uri('webhdfs://h/a'), { retryTimeoutMs: 0 } as object, {})).toThrow(
      /retryTimeoutMs/,
    );
  });

  it('reads the CA file, and names it when it cannot', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    expect(resolveSettings(uri('swebhdfs://h/a'), {}, { ARTIFACTS_HDFS_CA_FILE: ca }).ca).toContain('BEGIN');
    expect(() => resolveSettings(uri('swebhdfs://h/a'), { caFile: join(dir, 'missing.pem') }, {})).toThrow(
      /missing\.pem/,
    );
  });

  it('labels the repository with the redacted URI and where the endpoint came from', () => {
    expect(resolveSettings(uri('hdfs://nn:8020/a'), {}, { HADOOP_CONF_DIR: dir }).label).toBe(
      'hdfs://nn:8020/a (WebHDFS http://nn:50070 from hdfs:// URI, hdfs-site.xml)',
    );
  });
});

describe('declaration', () => {
  it('refuses an unknown option with the closest name', () => {
    expect(() => resolveSettings(uri('webhdfs://h/a'), { webhdfsURL: 'http://x:1' } as never, {})).toThrow(
      /unknown option "webhdfsURL" for @artifacts\/hdfs; did you mean "webhdfsUrl"\?/,
    );
  });

  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(hdfsSettings.markdownTable());
  });
});
