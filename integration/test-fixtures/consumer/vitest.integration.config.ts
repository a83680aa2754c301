// A backend package's integration config, as packages wire it (used by test/framework.test.ts).
import { integrationConfig } from '@artifacts/integration/vitest';

export default integrationConfig(['s3', 'azure']);
