import { describe, expect, it } from 'vitest';
import { hdfsExtraSettings } from '../src/servers/hdfs.ts';

// ARTIFACTS_IT_HDFS_CONF: extra MiniDFSCluster settings (the launcher passes them as -D key=value;
// checked with a running cluster's /conf servlet when added, see integration/README.md).
describe('ARTIFACTS_IT_HDFS_CONF', () => {
  it('unset or empty leaves the default cluster', () => {
    expect(hdfsExtraSettings(undefined)).toEqual({});
    expect(hdfsExtraSettings('')).toEqual({});
    expect(hdfsExtraSettings(' , ')).toEqual({});
  });

  it('reads key=value pairs separated by commas', () => {
    expect(
      hdfsExtraSettings(
        'dfs.client.block.write.locateFollowingBlock.initial.delay.ms=50, dfs.datanode.handler.count=20',
      ),
    ).toEqual({
      'dfs.client.block.write.locateFollowingBlock.initial.delay.ms': '50',
      'dfs.datanode.handler.count': '20',
    });
    // a value may hold '=' (only the first one splits)
    expect(hdfsExtraSettings('a.b=x=y')).toEqual({ 'a.b': 'x=y' });
  });

  it('refuses what is not a setting, names it, and refuses a key given twice', () => {
    expect(() => hdfsExtraSettings('nonsense')).toThrow(/"nonsense" is not key=value/);
    expect(() => hdfsExtraSettings('a.b=')).toThrow(/"a.b=" is not key=value/);
    expect(() => hdfsExtraSettings('=5')).toThrow(/is not key=value/);
    expect(() => hdfsExtraSettings('a.b=<x>')).toThrow(/is not key=value/);
    expect(() => hdfsExtraSettings('a b=1')).toThrow(/is not key=value/);
    expect(() => hdfsExtraSettings('a.b=1,a.b=2')).toThrow(/a\.b is given twice/);
  });

  it('refuses a key the launcher sets itself', () => {
    expect(() => hdfsExtraSettings('dfs.replication=3', ['dfs.replication'])).toThrow(
      /dfs\.replication is set by the launcher/,
    );
  });
});
