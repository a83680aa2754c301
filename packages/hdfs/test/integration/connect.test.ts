import { openRepository } from '@artifacts/core';
import { describeConnectFailures } from '@artifacts/testkit';
import '../../src/index.js';

// The WebHDFS endpoint at a closed port or a name that does not resolve (no NameNode ever answers).
describeConnectFailures('hdfs', {
  openAt: (host, port) => openRepository(`webhdfs://${host}:${port}/artifacts/connect`),
  secrets: () => [],
});
