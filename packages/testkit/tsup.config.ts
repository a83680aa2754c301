import { packageConfig } from '../../tsup.base.ts';

// ESM only: the suite imports vitest, which cannot be loaded from CommonJS. `./data` is its own entry
// so benchmarks and scripts get the data generators without loading a test runner.
export default packageConfig({ format: ['esm'], entry: ['src/index.ts', 'src/data.ts'] });
