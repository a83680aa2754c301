import { defineConfig } from 'vitest/config';

/**
 * The unit-test config every package extends. Generous timeouts: CI machines have 2 cores shared
 * by builds and servers, where importing an SDK alone can take 10-20 s. A hung test still fails.
 */
export function unitTestConfig(include: string[], extra: { globalSetup?: string[] } = {}) {
  return defineConfig({ test: { include, testTimeout: 60_000, hookTimeout: 60_000, ...extra } });
}
