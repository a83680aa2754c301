import { openRepository } from '@artifacts/core';
import { describeTimeouts, startFtpProxy } from '@artifacts/testkit';
import '../../src/index.js';
import { env, unique } from './helpers.js';

// Plain FTP: the control connection through the proxy, and every passive data connection through a
// route of it (startFtpProxy rewrites the server's 227/229 replies), so file bytes are paced and
// stalled too.
describeTimeouts('ftp', {
  get target() {
    return { host: env('ARTIFACTS_IT_FTP_HOST'), port: Number(env('ARTIFACTS_IT_FTP_PORT')) };
  },
  startProxy: startFtpProxy,
  open: (proxy, timeoutMs) =>
    openRepository(
      unique(env('ARTIFACTS_IT_FTP_URI').replace(/@[^/]+\//, `@${proxy.host}:${proxy.port}/`), 'timeouts'),
      { timeoutMs },
    ),
});
