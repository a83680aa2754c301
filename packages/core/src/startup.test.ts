import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The built-in modules a fresh process has loaded after importing core: Node's own list,
 * `process.moduleLoadList`. Run through tsx, the workspace's loader (Node 20 cannot strip types).
 */
function builtinsLoaded(): string[] {
  const index = fileURLToPath(new URL('./index.ts', import.meta.url));
  const script = `
    import(${JSON.stringify(index)}).then(() => {
      console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.startsWith('NativeModule '))));
    });`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8' });
  return (JSON.parse(out) as string[]).map((m) => m.slice('NativeModule '.length));
}

describe('start-up', () => {
  it('loads node:zlib only when a CRC-32 falls back to it, not on import (about 2 ms of CPU per process)', () => {
    expect(builtinsLoaded()).not.toContain('zlib');
  });
});
