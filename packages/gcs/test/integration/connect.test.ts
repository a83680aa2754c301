import { openRepository } from '@artifacts/core';
import { describeConnectFailures, readAll } from '@artifacts/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

// fake-gcs-server takes no credentials: there is no secret to keep out of the messages. Its https
// instance has a self-signed certificate (integration/src/servers/gcs.ts).
describeConnectFailures('gcs', {
  openAt: (host, port) => openRepository(uniqueRoot('connect'), { endpoint: `http://${host}:${port}` }),
  secrets: () => [],
  untrusted: {
    open: () =>
      openRepository(uniqueRoot('untrusted'), {
        endpoint: env('ARTIFACTS_IT_GCS_TLS_ENDPOINT'),
        anonymous: true,
      }),
    hint: /caFile option or ARTIFACTS_GCS_CA_FILE/,
  },
});

describe('gcs: an endpoint with its own CA', () => {
  const saved = process.env.ARTIFACTS_GCS_CA_FILE;
  afterEach(() => {
    if (saved === undefined) delete process.env.ARTIFACTS_GCS_CA_FILE;
    else process.env.ARTIFACTS_GCS_CA_FILE = saved;
  });

  it.each([
    ['the caFile option', () => ({ caFile: env('ARTIFACTS_IT_GCS_CA_FILE') })],
    [
      'ARTIFACTS_GCS_CA_FILE',
      () => {
        process.env.ARTIFACTS_GCS_CA_FILE = env('ARTIFACTS_IT_GCS_CA_FILE');
        return {};
      },
    ],
  ])(
    'is trusted with %s: simple and resumable writes, reads, lists and deletes work over TLS',
    async (_, options) => {
      const repo = await openRepository(uniqueRoot('trusted'), {
        endpoint: env('ARTIFACTS_IT_GCS_TLS_ENDPOINT'),
        anonymous: true,
        resumableThreshold: 1024,
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
