import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
/** Azurite's address, from the BlobEndpoint of the connection string. */
const endpoint = () => new URL(/BlobEndpoint=([^;]+)/.exec(env('AZURE_STORAGE_CONNECTION_STRING'))![1]!);
const through = (proxy: { host: string; port: number }) => {
  const url = endpoint();
  return env('AZURE_STORAGE_CONNECTION_STRING').replace(url.host, `${proxy.host}:${proxy.port}`);
};

// 24 MiB as one Put Blob, then as three 8 MiB blocks (one in flight, so the proxy's pace holds).
describeTimeouts('azure single request', {
  get target() {
    return { host: endpoint().hostname, port: Number(endpoint().port) };
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), {
      connectionString: through(proxy),
      timeoutMs,
      blockSize: 32 * MiB,
    }),
});

describeTimeouts('azure blocks', {
  get target() {
    return { host: endpoint().hostname, port: Number(endpoint().port) };
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts-blocks'), {
      connectionString: through(proxy),
      timeoutMs,
      blockSize: 8 * MiB,
      uploadConcurrency: 1,
    }),
});
