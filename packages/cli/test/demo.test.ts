import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from './helpers.js';

const repoRoot = dirname(dirname(packageRoot));

describe("the README's main command (scripts/demo.sh)", () => {
  it('prints "demo: OK", returns 0 and leaves no server running', async () => {
    const child = spawn('bash', [join(repoRoot, 'scripts', 'demo.sh')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ARTIFACTS_PLUGINS: '' },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect(out).toContain('demo: OK');
    expect(code, out).toBe(0);
    // The server it started is gone: its address no longer answers.
    const url = /listening on (http\S+?),/.exec(out)?.[1];
    expect(url).toBeDefined();
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  }, 180_000);
});
