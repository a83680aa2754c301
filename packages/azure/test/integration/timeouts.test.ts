import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const azurite = new URL(env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT'));

describeTimeouts('azure on Azurite', {
  target: { host: azurite.hostname, port: Number(azurite.port) },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), {
      endpoint: `http://${proxy.host}:${proxy.port}${azurite.pathname.replace(/\/+$/, '')}`,
      accountKey: env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY'),
      timeoutMs,
    }),
});
