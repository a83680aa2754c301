import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['test/integration/**', '**/node_modules/**'],
    // The tests spawn the built CLI (dist/bin.js); this builds it first when it is missing or stale.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
  },
});
