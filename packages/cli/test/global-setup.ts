import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function mtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * The tests run the built CLI as a user does (`node dist/bin.js`). turbo builds it first
 * (packages/cli/turbo.json); a bare `vitest run` after editing src/ rebuilds it here.
 */
export default async function setup(): Promise<void> {
  const built = Math.min(mtime(join(root, 'dist/bin.js')), mtime(join(root, 'dist/index.js')));
  if (built > newest(join(root, 'src'))) return;
  const { build } = await import('tsup');
  const { default: configs } = await import('../tsup.config.ts');
  for (const config of configs) await build({ ...config, config: false, silent: true });
}
