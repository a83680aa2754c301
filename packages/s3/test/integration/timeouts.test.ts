import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
const target = () => {
  const url = new URL(env('MLFLOW_S3_ENDPOINT_URL'));
  return { host: url.hostname, port: Number(url.port) };
};

// 24 MiB as one PutObject, then as three 8 MiB parts (one in flight, so the proxy's pace holds).
describeTimeouts('s3 single request', {
  get target() {
    return target();
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), {
      endpointUrl: `http://${proxy.host}:${proxy.port}`,
      timeoutMs,
      partSizeBytes: 32 * MiB,
    }),
});

describeTimeouts('s3 multipart', {
  get target() {
    return target();
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts-mp'), {
      endpointUrl: `http://${proxy.host}:${proxy.port}`,
      timeoutMs,
      partSizeBytes: 8 * MiB,
      uploadQueueSize: 1,
    }),
});
