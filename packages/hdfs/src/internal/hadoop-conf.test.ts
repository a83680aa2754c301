import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import {
  endpointsFromConf,
  hadoopConfDir,
  loadHadoopConf,
  parseHadoopXml,
  resolveTarget,
} from './hadoop-conf.js';

const xml = (props: Record<string, string>) =>
  `<?xml version="1.0"?>\n<configuration>\n${Object.entries(props)
    .map(
      ([k, v]) =>
        `  <property>\n    <name>${k}</name>\n    <value>${v}</value>\n    <final>true</final>\n  </property>`,
    )
    .join('\n')}\n</configuration>\n`;

const conf = (props: Record<string, string>) => new Map(Object.entries(props));

describe('parseHadoopXml', () => {
  it('reads names and values as strings, a single property included', () => {
    expect(parseHadoopXml(xml({ 'dfs.namenode.http-address': '0.0.0.0:9870' }))).toEqual(
      new Map([['dfs.namenode.http-address', '0.0.0.0:9870']]),
    );
    const many = parseHadoopXml(xml({ a: '1', 'b.c': ' hdfs://nn:8020 ', empty: '' }));
    expect(many.get('a')).toBe('1');
    expect(many.get('b.c')).toBe('hdfs://nn:8020');
    expect(many.get('empty')).toBe('');
  });

  it('reads an empty configuration as nothing', () => {
    expect(parseHadoopXml('<configuration/>').size).toBe(0);
  });

  it('decodes entities and CDATA, skips comments and descriptions, refuses a document that is not XML', () => {
    const parsed = parseHadoopXml(
      `<?xml version="1.0"?><!-- a comment --><configuration><property><name>a</name><value>x&amp;y&lt;z</value>
      <description>not a <b>value</b></description></property><property><name>b</name><value><![CDATA[<raw>]]></value></property>
      <property><value>nameless</value></property></configuration>`,
    );
    expect([...parsed]).toEqual([
      ['a', 'x&y<z'],
      ['b', '<raw>'],
    ]);
    expect(() => parseHadoopXml('<configuration><property>', 'core-site.xml')).toThrow(
      /core-site\.xml is not valid XML/,
    );
    expect(() => parseHadoopXml('<configuration></property>', 'hdfs-site.xml')).toThrow(ArtifactsError);
  });

  it('loads core-site.xml then hdfs-site.xml from the directory, skipping missing files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hdfs-conf-'));
    writeFileSync(join(dir, 'core-site.xml'), xml({ 'fs.defaultFS': 'hdfs://nn:8020', shared: 'core' }));
    writeFileSync(
      join(dir, 'hdfs-site.xml'),
      xml({ 'dfs.namenode.http-address': 'nn:50070', shared: 'hdfs' }),
    );
    const loaded = loadHadoopConf(dir);
    expect(loaded.get('fs.defaultFS')).toBe('hdfs://nn:8020');
    expect(loaded.get('dfs.namenode.http-address')).toBe('nn:50070');
    expect(loaded.get('shared')).toBe('hdfs');
    expect(loadHadoopConf(join(dir, 'nope')).size).toBe(0);
  });

  it('finds the directory: option, HADOOP_CONF_DIR, HADOOP_HOME/etc/hadoop; false reads none', () => {
    expect(hadoopConfDir('/opt/conf', { HADOOP_CONF_DIR: '/x' })).toBe('/opt/conf');
    expect(hadoopConfDir(undefined, { HADOOP_CONF_DIR: '/x', HADOOP_HOME: '/h' })).toBe('/x');
    expect(hadoopConfDir(undefined, { HADOOP_HOME: '/h' })).toBe('/h/etc/hadoop');
    expect(hadoopConfDir(false, { HADOOP_CONF_DIR: '/x' })).toBeUndefined();
    expect(hadoopConfDir(undefined, {})).toBeUndefined();
  });
});

describe('URI → WebHDFS endpoint', () => {
  const plain = conf({
    'fs.defaultFS': 'hdfs://nn.example.org:8020',
    'dfs.namenode.rpc-address': 'nn.example.org:8020',
    'dfs.namenode.http-address': 'nn.example.org:50070',
  });

  it('webhdfs:// and swebhdfs:// name their endpoint (default ports 9870 / 9871)', () => {
    expect(
      resolveTarget({ scheme: 'webhdfs', host: 'h', port: 1234, path: '/a', conf: plain }),
    ).toMatchObject({
      endpoints: ['http://h:1234'],
      path: '/a',
    });
    expect(resolveTarget({ scheme: 'webhdfs', host: 'h', path: '/a', conf: plain }).endpoints).toEqual([
      'http://h:9870',
    ]);
    expect(resolveTarget({ scheme: 'swebhdfs', host: 'h', path: '/a', conf: plain }).endpoints).toEqual([
      'https://h:9871',
    ]);
  });

  it('hdfs://host:rpcport finds the http-address of the namenode with that RPC address', () => {
    expect(
      resolveTarget({ scheme: 'hdfs', host: 'nn.example.org', port: 8020, path: '/p', conf: plain })
        .endpoints,
    ).toEqual(['http://nn.example.org:50070']);
    // Port omitted = 8020.
    expect(
      resolveTarget({ scheme: 'hdfs', host: 'nn.example.org', path: '/p', conf: plain }).endpoints,
    ).toEqual(['http://nn.example.org:50070']);
  });

  it('an unknown namenode gets http://host:9870', () => {
    expect(
      resolveTarget({ scheme: 'hdfs', host: 'other', port: 9000, path: '/p', conf: plain }).endpoints,
    ).toEqual(['http://other:9870']);
    expect(
      resolveTarget({ scheme: 'hdfs', host: 'nn', port: 8020, path: '/p', conf: conf({}) }).endpoints,
    ).toEqual(['http://nn:9870']);
  });

  it('a wildcard http-address takes the URI host; HTTPS_ONLY uses the https-address', () => {
    const c = conf({
      'dfs.namenode.rpc-address': 'nn:8020',
      'dfs.namenode.http-address': '0.0.0.0:9870',
      'dfs.namenode.https-address': '0.0.0.0:9871',
    });
    expect(endpointsFromConf(c, 'nn', 8020)).toEqual(['http://nn:9870']);
    c.set('dfs.http.policy', 'HTTPS_ONLY');
    expect(endpointsFromConf(c, 'nn', 8020)).toEqual(['https://nn:9871']);
  });

  it('hdfs:///path uses fs.defaultFS', () => {
    expect(resolveTarget({ scheme: 'hdfs', path: '/p', conf: plain })).toMatchObject({
      endpoints: ['http://nn.example.org:50070'],
      path: '/p',
      source: 'fs.defaultFS, hdfs-site.xml',
    });
  });

  it('hdfs:///path without fs.defaultFS is a clear invalid_argument', () => {
    expect(() => resolveTarget({ scheme: 'hdfs', path: '/p', conf: conf({}) })).toThrow(/fs\.defaultFS/);
    try {
      resolveTarget({ scheme: 'hdfs', path: '/p', conf: conf({ 'fs.defaultFS': 'file:///' }) });
      expect.unreachable();
    } catch (error) {
      expect(ArtifactsError.is(error, 'invalid_argument')).toBe(true);
    }
  });

  it('an explicit WebHDFS URL wins over the configuration', () => {
    expect(
      resolveTarget({
        scheme: 'hdfs',
        host: 'nn.example.org',
        port: 8020,
        path: '/p',
        conf: plain,
        webhdfsUrl: ['http://gw:14000'],
      }).endpoints,
    ).toEqual(['http://gw:14000']);
  });

  it('an HA nameservice lists every namenode, in order', () => {
    const ha = conf({
      'fs.defaultFS': 'hdfs://prod',
      'dfs.nameservices': 'prod',
      'dfs.ha.namenodes.prod': 'nn1, nn2',
      'dfs.namenode.rpc-address.prod.nn1': 'a.example:8020',
      'dfs.namenode.rpc-address.prod.nn2': 'b.example:8020',
      'dfs.namenode.http-address.prod.nn1': 'a.example:9870',
      'dfs.namenode.http-address.prod.nn2': 'b.example:9870',
    });
    expect(resolveTarget({ scheme: 'hdfs', host: 'prod', path: '/p', conf: ha }).endpoints).toEqual([
      'http://a.example:9870',
      'http://b.example:9870',
    ]);
    expect(resolveTarget({ scheme: 'hdfs', path: '/p', conf: ha }).endpoints).toHaveLength(2);
    // One of them by its RPC address.
    expect(
      resolveTarget({ scheme: 'hdfs', host: 'b.example', port: 8020, path: '/p', conf: ha }).endpoints,
    ).toEqual(['http://b.example:9870']);
    ha.delete('dfs.namenode.http-address.prod.nn1');
    ha.delete('dfs.namenode.http-address.prod.nn2');
    expect(() => resolveTarget({ scheme: 'hdfs', host: 'prod', path: '/p', conf: ha })).toThrow(
      /dfs\.namenode\.http-address\.prod/,
    );
  });

  it('viewfs:// resolves through the mount table (longest link, then linkFallback)', () => {
    const view = conf({
      'fs.defaultFS': 'viewfs://cluster',
      'fs.viewfs.mounttable.cluster.link./data': 'hdfs://nn.example.org:8020/warehouse',
      'fs.viewfs.mounttable.cluster.link./data/ml': 'webhdfs://ml.example:9870/mlflow',
      'dfs.namenode.rpc-address': 'nn.example.org:8020',
      'dfs.namenode.http-address': 'nn.example.org:50070',
    });
    expect(
      resolveTarget({ scheme: 'viewfs', host: 'cluster', path: '/data/raw/x', conf: view }),
    ).toMatchObject({
      endpoints: ['http://nn.example.org:50070'],
      path: '/warehouse/raw/x',
    });
    expect(
      resolveTarget({ scheme: 'viewfs', host: 'cluster', path: '/data/ml/1', conf: view }),
    ).toMatchObject({
      endpoints: ['http://ml.example:9870'],
      path: '/mlflow/1',
    });
    // viewfs:/// and hdfs:/// with a viewfs default file system use the default cluster.
    expect(resolveTarget({ scheme: 'viewfs', path: '/data', conf: view }).path).toBe('/warehouse');
    expect(resolveTarget({ scheme: 'hdfs', path: '/data/a', conf: view }).path).toBe('/warehouse/a');
    expect(() => resolveTarget({ scheme: 'viewfs', host: 'cluster', path: '/datax', conf: view })).toThrow(
      /no mount point/,
    );
    view.set('fs.viewfs.mounttable.cluster.linkFallback', 'hdfs://nn.example.org:8020/rest');
    expect(resolveTarget({ scheme: 'viewfs', host: 'cluster', path: '/datax', conf: view }).path).toBe(
      '/rest/datax',
    );
  });

  it('viewfs mounted on a file system this package does not serve is unsupported', () => {
    const view = conf({ 'fs.viewfs.mounttable.c.link./s3': 's3a://bucket/x' });
    try {
      resolveTarget({ scheme: 'viewfs', host: 'c', path: '/s3/a', conf: view });
      expect.unreachable();
    } catch (error) {
      expect(ArtifactsError.is(error, 'unsupported')).toBe(true);
    }
  });
});
