import { defineConfig } from 'vitest/config';

// Unit tests only (no server): the integration suites run through vitest.integration.config.ts.
export default defineConfig({ test: { include: ['src/**/*.test.ts'] } });
