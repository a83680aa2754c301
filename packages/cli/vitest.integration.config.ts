import { integrationConfig } from '@artifacts/integration/vitest';

// MinIO from the integration servers; the suite starts its own MLflow tracking servers over it.
export default integrationConfig(['s3'], { test: { globalSetup: ['test/global-setup.ts'] } });
