import { integrationConfig } from '@artifacts/integration/vitest';

export default integrationConfig(['s3', 'azure', 'mlflow'], { test: { setupFiles: ['test/setup.ts'] } });
