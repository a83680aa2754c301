import { defineConfig } from 'vitest/config';

// One file at a time (a 2-core machine); every test bounds its own time, the timeouts here only
// catch a hang, which is itself a failure of the suite.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 10 * 60_000,
    hookTimeout: 30 * 60_000,
    fileParallelism: false,
  },
});
