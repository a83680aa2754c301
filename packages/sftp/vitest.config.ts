import { defineConfig } from 'vitest/config';

// Unit tests only: the suites under test/integration need the real servers (test:integration).
export default defineConfig({ test: { include: ['src/**/*.test.ts'] } });
