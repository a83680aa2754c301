import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { azureSettings, resolveAzureConfig } from '../../src/internal/settings.js';
import { parseAzureUri } from '../../src/internal/uri.js';

const location = parseAzureUri('wasbs://models@acct.blob.core.windows.net/exp');

describe('azure settings', () => {
  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(azureSettings.markdownTable());
  });

  it('refuses an unknown option with the closest name', () => {
    expect(() => resolveAzureConfig(location, { blocksize: 8 } as never)).toThrow(
      /unknown option "blocksize" for @artifacts\/azure; did you mean "blockSize"\?/,
    );
  });

  it('declares the credentials secret', () => {
    const { secrets } = azureSettings.resolve({
      accountKey: 'a-secret-key',
      connectionString: 'AccountName=acct;AccountKey=the-key;SharedAccessSignature=sv=1&sig=abc%2Bdef',
    });
    // The connection string wins, but the key overridden is a secret still; so are the parts of it.
    expect(secrets).toEqual([
      'AccountName=acct;AccountKey=the-key;SharedAccessSignature=sv=1&sig=abc%2Bdef',
      'the-key',
      'sv=1&sig=abc%2Bdef',
      'abc+def',
      'a-secret-key',
    ]);
    expect(resolveAzureConfig(location, { accountKey: 'a-secret-key' }).secrets).toEqual(['a-secret-key']);
  });

  it('refuses a credential that is not a TokenCredential at open, naming the option, never echoing it', async () => {
    const { openRepository } = await import('@artifacts/core');
    await import('../../src/index.js');
    const credential = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    expect(resolveAzureConfig(location, { credential }).credential).toBe(credential);
    const bad = [
      { token: 's3cr3t-token' },
      { getToken: 's3cr3t-token' },
      's3cr3t-token',
      async () => 's3cr3t',
    ];
    for (const value of bad) {
      const error = await openRepository('wasbs://models@acct.blob.core.windows.net/exp', {
        credential: value as never,
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({
        code: 'invalid_argument',
        message:
          '@artifacts/azure: option credential must be a `TokenCredential`: an object with a getToken() method',
      });
      expect((error as Error).message).not.toContain('s3cr3t');
    }
  });
});
