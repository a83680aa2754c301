import { openRepository } from '@artifacts/core';
import { describeConnectFailures } from '@artifacts/testkit';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

// The endpoint moved to a closed port or a name that does not resolve; the untrusted certificate is
// the TLS MinIO's (its CA not given).
describeConnectFailures('s3', {
  openAt: (host, port) => openRepository(uniqueRoot('connect'), { endpointUrl: `http://${host}:${port}` }),
  secrets: () => [env('AWS_SECRET_ACCESS_KEY')],
  untrusted: {
    open: () => openRepository(uniqueRoot('connect'), { endpointUrl: env('ARTIFACTS_IT_S3_TLS_ENDPOINT') }),
    hint: /AWS_CA_BUNDLE.*MLFLOW_S3_IGNORE_TLS/,
  },
});
