import { integrationConfig } from '@artifacts/integration/vitest';

// The Kerberos suite runs apart from the main one: a secure MiniDFSCluster and its KDC
// (integration/src/servers/hdfs.ts, kdc.ts), never at the same time as the plain cluster.
const config = integrationConfig(['hdfs-kerberos']);
if (config.test) config.test.include = ['test/kerberos/**/*.test.ts'];
export default config;
