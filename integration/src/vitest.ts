/**
 * `@artifacts/integration/vitest`: vitest config for a backend package's integration suite.
 *
 *   // packages/s3/vitest.integration.config.ts
 *   import { integrationConfig } from '@artifacts/integration/vitest';
 *   export default integrationConfig(['s3']);
 *
 *   // packages/s3/package.json
 *   "test:integration": "vitest run --config vitest.integration.config.ts"
 *
 * Test files (test/integration/**\/*.test.ts) see the servers' variables in process.env
 * (ARTIFACTS_IT_S3_URI, MLFLOW_S3_ENDPOINT_URL, …) and can restart a server with
 * `(await getServer('sftp')).restart()` or `await restartServer('sftp')`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig, type ViteUserConfig } from 'vitest/config';
import type { Reporter, TestModule } from 'vitest/node';
import type { ServerHandle } from './client.ts';
import type { ServerName } from './types.ts';

// This module is loaded natively by Node when a package's vitest config imports it (vitest bundles
// the config but keeps packages external), so it imports nothing of ours at run time but lazily:
// only erasable TypeScript and node: / vitest modules here.

export type { ServerHandle } from './client.ts';
export type { ServerName } from './types.ts';

/**
 * Inside a test file: a handle on a running server (env, logFile, logTail(), restart()). Works across
 * the globalSetup/worker boundary through the owner's control API (see client.ts).
 */
export async function getServer(name: ServerName): Promise<ServerHandle> {
  const { serverHandle } = await import('./client.js');
  return serverHandle(name);
}

/** Inside a test file: stops and starts a server again on the same ports with the same data. */
export async function restartServer(name: ServerName): Promise<void> {
  await (await getServer(name)).restart();
}

function logTail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

/** On a failed run, prints the tail of each server's log (the globalSetup records them). */
export class ServerLogTailReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<unknown>): void {
    const failed = errors.length > 0 || modules.some((m) => m.state() === 'failed');
    if (!failed) return;
    let logs: Record<string, string> = {};
    try {
      logs = JSON.parse(process.env.ARTIFACTS_IT_LOG_FILES ?? '{}') as Record<string, string>;
    } catch {}
    for (const [name, file] of Object.entries(logs)) {
      process.stderr.write(
        `\n--- ${name} server log (last 30 lines of ${file}) ---\n${logTail(file, 30) || '(empty)'}\n`,
      );
    }
  }
}

/**
 * A vitest config for an integration suite against real `names` servers: includes
 * test/integration/**\/*.test.ts, minutes-long timeouts, one file at a time, and a globalSetup that
 * reuses or starts the servers (a server that cannot start fails the run). `overrides` are merged last.
 */
export function integrationConfig(names: ServerName[], overrides: ViteUserConfig = {}): ViteUserConfig {
  const base = defineConfig({
    test: {
      include: ['test/integration/**/*.test.ts'],
      testTimeout: 5 * 60_000,
      hookTimeout: 30 * 60_000,
      teardownTimeout: 2 * 60_000,
      fileParallelism: false,
      globalSetup: [here('./global-setup.ts')],
      setupFiles: [here('./worker-setup.ts')],
      provide: { artifactsItServers: names },
      reporters: ['default', new ServerLogTailReporter()],
    },
  });
  return mergeConfig(base, overrides);
}
