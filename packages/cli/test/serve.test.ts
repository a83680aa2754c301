import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bin, cli, tempDir } from './helpers.js';

describe('artifacts serve', () => {
  it('serves a local destination the CLI then uses through mlflow-artifacts: URIs, and stops on SIGINT', async () => {
    const dest = await tempDir();
    const work = await tempDir();
    await writeFile(join(work, 'model.pkl'), 'weights');
    const child = spawn(
      process.execPath,
      [bin, 'serve', '--artifacts-destination', dest, '--port', '0', '--allow-unauthenticated'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ARTIFACTS_PLUGINS: '' } },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let stderr = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (http\S+?),/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      void exited.then(() => reject(new Error(`serve exited early: ${stderr}`)));
    });
    try {
      const env = { MLFLOW_TRACKING_URI: url };
      const logged = await cli(['log', join(work, 'model.pkl'), 'mlflow-artifacts:/0/run1/artifacts/model'], {
        env,
      });
      expect(logged.stderr).toBe('');
      expect(logged.code).toBe(0);
      expect(await readFile(join(dest, '0', 'run1', 'artifacts', 'model', 'model.pkl'), 'utf8')).toBe(
        'weights',
      );
      const listed = await cli(['ls', '--json', 'mlflow-artifacts:/0/run1/artifacts/model'], { env });
      expect(listed.code).toBe(0);
      expect(listed.stdout).toContain('model.pkl');
      const cat = await cli(['cat', 'mlflow-artifacts:/0/run1/artifacts/model/model.pkl'], { env });
      expect(cat.stdout).toBe('weights');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('refuses to serve without authentication beyond loopback', async () => {
    const result = await cli(['serve', '--host', '0.0.0.0', '--port', '0', '--allow-unauthenticated'], {
      cwd: await tempDir(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^artifacts: .*loopback/);
  });

  it('names a bad port as a usage problem', async () => {
    const result = await cli(['serve', '--port', 'http'], { cwd: await tempDir() });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--port must be an integer between 0 and 65535, got "http"');
  });
});
