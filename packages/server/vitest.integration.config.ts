import { integrationConfig } from '@artifacts/integration/vitest';

export default integrationConfig(['s3', 'azure', 'gcs', 'ftp', 'sftp', 'hdfs', 'mlflow'], {
  test: { setupFiles: ['test/setup.ts'] },
});
