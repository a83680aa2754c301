import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
/** Azurite's address, from the BlobEndpoint of the connection string. */
const endpoint = () => new URL(/BlobEndpoint=([^;]+)/.exec(env('AZURE_STORAGE_CONNECTION_STRING'))![1]!);
const through = (proxy: { host: string; port: number }) =>
  env('AZURE_STORAGE_CONNECTION_STRING').replace(endpoint().host, `${proxy.host}:${proxy.port}`);
const target = () => ({ host: endpoint().hostname, port: Number(endpoint().port) });

// Azurite answers a request only after reading the stored bytes back and hashing them in JavaScript
// (MD5 for Put Blob, CRC64 for Put Block): 0.5–1.9 s for 8–24 MiB on a busy machine, time in which
// the client rightly sees no answer. The timeout leaves room for that and for the few MiB of
// loopback socket buffers that drain unseen (see describeTimeouts); a real stall still fails
// within it plus a few seconds.
const timeoutMs = 4000;

// 24 MiB as one Put Blob, then as 4 MiB blocks (the default size; one in flight, so the pace holds).
describeTimeouts('azure single request', {
  get target() {
    return target();
  },
  timeoutMs,
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), {
      connectionString: through(proxy),
      timeoutMs,
      blockSize: 32 * MiB,
    }),
});

describeTimeouts('azure blocks', {
  get target() {
    return target();
  },
  timeoutMs,
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts-blocks'), {
      connectionString: through(proxy),
      timeoutMs,
      blockSize: 4 * MiB,
      uploadConcurrency: 1,
    }),
});
