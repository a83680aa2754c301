import { openRepository } from '@artifacts/core';
import { describeServerSideCopy } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

// Read when the suite starts: the servers' addresses are known only then.
const server = () => new URL(env('ARTIFACTS_IT_GCS_ENDPOINT'));

describeServerSideCopy('gcs on fake-gcs-server (rewrite)', {
  get target() {
    return { host: server().hostname, port: Number(server().port) };
  },
  open: (via, root = uniqueRoot('copy')) =>
    openRepository(root, {
      endpoint: via ? `${server().protocol}//${via.host}:${via.port}` : env('ARTIFACTS_IT_GCS_ENDPOINT'),
      anonymous: true,
    }),
});
