import { integrationConfig } from '@artifacts/integration/vitest';

export default integrationConfig(['s3', 'mlflow'], { test: { setupFiles: ['test/setup.ts'] } });
