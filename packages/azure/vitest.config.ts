import { defineConfig } from 'vitest/config';

// Importing @azure/identity alone takes seconds on a busy 2-core machine: 5 s is too tight.
export default defineConfig({
  test: { include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'], testTimeout: 60_000 },
});
