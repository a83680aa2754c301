import { integrationConfig } from '@artifacts/integration/vitest';

// The servers are started once for the whole run by integration's globalSetup (not once per fault
// file and backend): every file runs against the same MinIO, Azurite, fake-gcs-server, sshd,
// pure-ftpd and MiniDFSCluster, each test under its own fresh prefix, and they are stopped after
// the last file. One file at a time (a 2-core machine); every test bounds its own time, the
// timeouts here only catch a hang, which is itself a failure of the suite.
export default integrationConfig(['s3', 'azure', 'gcs', 'sftp', 'ftp', 'hdfs'], {
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 10 * 60_000,
  },
});
