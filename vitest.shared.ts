import { defineConfig } from 'vitest/config';

/**
 * The unit-test config every package extends. Generous timeouts: CI machines have 2 cores shared
 * by builds and servers, where importing an SDK alone can take 10-20 s. A hung test still fails.
 */
export function unitTestConfig(
  include: string[],
  extra: { globalSetup?: string[]; setupFiles?: string[] } = {},
) {
  // scripts/test-node-matrix.mjs names the Node it means to test on; never test on another silently.
  const wanted = process.env.ARTIFACTS_TEST_NODE;
  if (wanted && process.version !== `v${wanted}`) {
    throw new Error(`ARTIFACTS_TEST_NODE=${wanted} but vitest runs on Node ${process.version}`);
  }
  return defineConfig({ test: { include, testTimeout: 60_000, hookTimeout: 60_000, ...extra } });
}
