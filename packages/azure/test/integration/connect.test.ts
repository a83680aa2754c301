import { openRepository } from '@artifacts/core';
import { describeConnectFailures } from '@artifacts/testkit';
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
    trusted: {
      caFile: () => env('ARTIFACTS_IT_AZURE_CA_FILE'),
      variable: 'ARTIFACTS_AZURE_CA_FILE',
      // 1 KiB blocks: the big file takes Put Block / Put Block List.
      open: (extra) =>
        openRepository(uniqueRoot('trusted'), { connectionString: tls(), blockSize: 1024, ...extra }),
    },
  },
});
