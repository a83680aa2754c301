import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const server = () => new URL(env('ARTIFACTS_IT_GCS_ENDPOINT'));

// 24 MiB through one streamed resumable session (above the 8 MiB simple-upload threshold).
describeTimeouts('gcs', {
  get target() {
    return { host: server().hostname, port: Number(server().port) };
  },
  open: (proxy, timeoutMs) =>
    openRepository(uniqueRoot('timeouts'), { endpoint: `http://${proxy.host}:${proxy.port}`, timeoutMs }),
});
