import { openRepository } from '@artifacts/core';
import { describeConnectFailures } from '@artifacts/testkit';
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
    trusted: {
      caFile: () => env('ARTIFACTS_IT_GCS_CA_FILE'),
      variable: 'ARTIFACTS_GCS_CA_FILE',
      // Resumable uploads above 1 KiB: the big file takes the streamed resumable path.
      open: (extra) =>
        openRepository(uniqueRoot('trusted'), {
          endpoint: env('ARTIFACTS_IT_GCS_TLS_ENDPOINT'),
          anonymous: true,
          resumableThreshold: 1024,
          ...extra,
        }),
    },
  },
});
