import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { env, unique } from './helpers.js';

// Key user (ARTIFACTS_SFTP_IDENTITY_FILE) with the pinned known_hosts (ARTIFACTS_SFTP_KNOWN_HOSTS):
// host-key checking stays on for the whole suite.
describeConformance('sftp on OpenSSH (key login)', {
  open: () => openRepository(unique(env('ARTIFACTS_IT_SFTP_URI'), 'conformance')),
  largeFileBytes: 256 * 1024 * 1024,
  manyFiles: 1000,
});

describeConformance('sftp on OpenSSH (password login, one connection)', {
  open: () =>
    openRepository(unique(env('ARTIFACTS_IT_SFTP_PASSWORD_URI'), 'conformance'), {
      password: env('ARTIFACTS_IT_SFTP_PASSWORD'),
      identityFile: [],
      maxConnections: 1,
    }),
  largeFileBytes: 64 * 1024 * 1024,
  manyFiles: 200,
});
