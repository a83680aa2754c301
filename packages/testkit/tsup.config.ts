import { packageConfig } from '../../tsup.base.ts';

// ESM only: the suite imports vitest, which cannot be loaded from CommonJS.
export default packageConfig({ format: ['esm'] });
