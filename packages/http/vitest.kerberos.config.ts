import { integrationConfig } from '@artifacts/integration/vitest';

// SPNEGO against a real KDC: the `hdfs-kerberos` server's (integration/src/servers/kdc.ts), its
// service keytab checking the tokens in front of our own server (test/kerberos/).
const config = integrationConfig(['hdfs-kerberos']);
if (config.test) config.test.include = ['test/kerberos/**/*.test.ts'];
export default config;
