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
      connectionString: 'AccountKey=x',
    });
    expect(secrets).toEqual(['AccountKey=x', 'a-secret-key']);
  });
});
