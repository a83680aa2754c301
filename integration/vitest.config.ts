import { defineConfig } from 'vitest/config';
import { ServerLogTailReporter } from './src/vitest.ts';

// The smoke suite: each file starts its server through its launcher (src/testing.ts) and talks to it
// with the server's own SDK or client. One file at a time: a 2-core machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 5 * 60_000,
    hookTimeout: 60 * 60_000,
    fileParallelism: false,
    reporters: ['default', new ServerLogTailReporter()],
  },
});
