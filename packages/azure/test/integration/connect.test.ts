import { openRepository } from '@artifacts/core';
import { describeConnectFailures, readAll } from '@artifacts/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

/** Azurite's connection string with its blob endpoint moved to `endpoint` (scheme, host and port). */
function movedTo(endpoint: string): string {
  return env('AZURE_STORAGE_CONNECTION_STRING').replace(
    /BlobEndpoint=https?:\/\/[^/;]+/,
    `BlobEndpoint=${new URL(endpoint).origin}`,
  );
}

/** The Azurite instance that serves https with a self-signed certificate (integration/src/servers/azure.ts). */
const tls = () => movedTo(env('ARTIFACTS_IT_AZURE_TLS_ENDPOINT'));

describeConnectFailures('azure', {
  openAt: (host, port) =>
    openRepository(uniqueRoot('connect'), {
      connectionString: movedTo(`http://${host}:${port}`),
      maxTries: 1,
    }),
  secrets: () => [/AccountKey=([^;]+)/.exec(env('AZURE_STORAGE_CONNECTION_STRING'))?.[1] ?? ''],
  untrusted: {
    open: () => openRepository(uniqueRoot('untrusted'), { connectionString: tls() }),
    hint: /caFile option or ARTIFACTS_AZURE_CA_FILE/,
  },
});

describe('azure: a blob endpoint with its own CA', () => {
  const saved = process.env.ARTIFACTS_AZURE_CA_FILE;
  afterEach(() => {
    if (saved === undefined) delete process.env.ARTIFACTS_AZURE_CA_FILE;
    else process.env.ARTIFACTS_AZURE_CA_FILE = saved;
  });

  it.each([
    ['the caFile option', () => ({ caFile: env('ARTIFACTS_IT_AZURE_CA_FILE') })],
    [
      'ARTIFACTS_AZURE_CA_FILE',
      () => {
        process.env.ARTIFACTS_AZURE_CA_FILE = env('ARTIFACTS_IT_AZURE_CA_FILE');
        return {};
      },
    ],
  ])(
    'is trusted with %s: writes (Put Blob and blocks), reads, lists and deletes work over TLS',
    async (_, options) => {
      const repo = await openRepository(uniqueRoot('trusted'), {
        connectionString: tls(),
        blockSize: 1024,
        ...options(),
      });
      try {
        const big = Buffer.alloc(3000, 7);
        await repo.write('small.txt', 'over tls');
        await repo.write('dir/big.bin', big);
        expect((await readAll(await repo.openRead('small.txt'))).toString()).toBe('over tls');
        expect((await readAll(await repo.openRead('dir/big.bin'))).equals(big)).toBe(true);
        expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['dir', 'small.txt']);
        await repo.deleteArtifacts('dir');
        expect(await repo.exists('dir/big.bin')).toBe(false);
      } finally {
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close();
      }
    },
  );
});
