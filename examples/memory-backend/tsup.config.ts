import { defineConfig } from 'tsup';

// ESM only, like @artifacts/testkit: a third-party backend may ship CJS too (see @artifacts/s3).
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  platform: 'node',
});
