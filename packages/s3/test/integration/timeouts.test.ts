import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const minio = new URL(env('MLFLOW_S3_ENDPOINT_URL'));

// MinIO behind a pacing/stalling TCP proxy: the SDK signs for the proxy's address, which MinIO
// verifies against the Host header it receives.
describeTimeouts('s3 on MinIO', {
  target: { host: minio.hostname, port: Number(minio.port) },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), { endpointUrl: `http://${proxy.host}:${proxy.port}`, timeoutMs }),
});
