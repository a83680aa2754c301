import { openRepository } from '@artifacts/core';
import { describeConnectFailures } from '@artifacts/testkit';
import '../../src/index.js';
import { uniqueRoot } from './helpers.js';

// fake-gcs-server takes no credentials: there is no secret to keep out of the messages.
describeConnectFailures('gcs', {
  openAt: (host, port) => openRepository(uniqueRoot('connect'), { endpoint: `http://${host}:${port}` }),
  secrets: () => [],
});
