import { integrationConfig } from '@artifacts/integration/vitest';

export default integrationConfig(['hdfs']);
