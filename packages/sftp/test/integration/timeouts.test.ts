import { openRepository } from '@artifacts/core';
import { describeTimeouts } from '@artifacts/testkit';
import '../../src/index.js';
import { env, unique } from './helpers.js';

// The SSH connection through the proxy; the host key is pinned by fingerprint (known_hosts names the
// server's own port).
describeTimeouts('sftp', {
  get target() {
    return { host: env('ARTIFACTS_IT_SFTP_HOST'), port: Number(env('ARTIFACTS_IT_SFTP_PORT')) };
  },
  open: (proxy, timeoutMs) =>
    openRepository(
      unique(env('ARTIFACTS_IT_SFTP_URI').replace(/@[^/]+\//, `@${proxy.host}:${proxy.port}/`), 'timeouts'),
      { timeoutMs, hostFingerprint: env('ARTIFACTS_IT_SFTP_HOST_FINGERPRINT'), sshConfig: false },
    ),
});
