import { ArtifactsError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { parseAzureUri } from '../../src/internal/uri.js';

function invalid(uri: string): ArtifactsError {
  try {
    parseAzureUri(uri);
  } catch (error) {
    if (ArtifactsError.is(error, 'invalid_argument')) return error;
    throw error;
  }
  throw new Error(`${uri} was accepted`);
}

describe('parseAzureUri', () => {
  it('parses wasbs and wasb URIs, including the China cloud, keeping keys literal', () => {
    expect(parseAzureUri('wasbs://models@acct01.blob.core.windows.net/exp/1')).toMatchObject({
      scheme: 'wasbs',
      bucket: 'models',
      account: 'acct01',
      endpointSuffix: 'core.windows.net',
      host: 'acct01.blob.core.windows.net',
      path: 'exp/1',
    });
    expect(parseAzureUri('wasbs://models@acct01.blob.core.chinacloudapi.cn/x')).toMatchObject({
      account: 'acct01',
      endpointSuffix: 'core.chinacloudapi.cn',
    });
    expect(parseAzureUri('WASB://$root@ACCT01.blob.core.windows.net/run%20x/./y/')).toMatchObject({
      scheme: 'wasb',
      bucket: '$root',
      account: 'acct01',
      path: 'run%20x/y',
    });
    expect(parseAzureUri('wasbs://models@acct01.blob.core.windows.net')).toMatchObject({ path: '' });
  });

  it('refuses what is not a container in an Azure account, saying what it expected', () => {
    expect(invalid('wasbs://models@acct01.example.com/x').message).toContain(
      'is not <account>.blob.core.windows.net',
    );
    expect(invalid('wasbs://acct01.blob.core.windows.net/x').message).toContain('<container>@<account>');
    expect(invalid('wasbs:///x').message).toContain('<container>@<account>');
    expect(invalid('wasbs://Bad_Name@acct01.blob.core.windows.net/x').message).toContain(
      'container name is not valid',
    );
    expect(invalid('wasbs://models@acct01.blob.core.windows.net/a/../b').message).toContain("'..'");
    expect(invalid('s3://bucket/x').message).toContain('serves wasbs:// and wasb://');
  });

  it('never prints what sits where a container is expected (a mistyped password)', () => {
    for (const secret of ['Zq7Lm:Xr4Tb', 'alice:Zq7Lm%2FXr4Tb', 'Zq7Lm@Xr4Tb']) {
      const message = invalid(`wasbs://${secret}@acct01.blob.core.windows.net/x`).message;
      expect(message).not.toContain('Zq7Lm');
      expect(message).not.toContain('Xr4Tb');
    }
  });
});
