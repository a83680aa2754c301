import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { env, unique } from './helpers.js';

describeConformance('ftp on pure-ftpd (plain FTP)', {
  open: () => openRepository(unique(env('ARTIFACTS_IT_FTP_URI'), 'conformance')),
  largeFileBytes: 256 * 1024 * 1024,
  manyFiles: 1000,
});

// Explicit FTPS (AUTH TLS), the certificate verified against ARTIFACTS_FTP_CA_FILE.
describeConformance('ftp on pure-ftpd (explicit FTPS)', {
  open: () => openRepository(unique(env('ARTIFACTS_IT_FTP_URI'), 'conformance-tls'), { tls: 'explicit' }),
  largeFileBytes: 256 * 1024 * 1024,
  manyFiles: 1000,
});
