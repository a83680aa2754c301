import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
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

  function startServe(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ARTIFACTS_PLUGINS: '', ...env },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let stderr = '';
    const url = new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const match = /listening on (http\S+?),/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      void exited.then(() => reject(new Error(`serve exited early: ${stderr}`)));
    });
    return { child, exited, url };
  }

  it('takes auth and limits as flags: --tokens-file, --max-upload-bytes; a refused token exits 4', async () => {
    const dest = await tempDir();
    const work = await tempDir();
    await writeFile(join(work, 'tokens.txt'), 'a-long-enough-token\n');
    await writeFile(join(work, 'small.txt'), 'abc');
    await writeFile(join(work, 'large.txt'), 'abcdefghij');
    const server = startServe([
      '--artifacts-destination',
      dest,
      '--tokens-file',
      join(work, 'tokens.txt'),
      '--max-upload-bytes',
      '5',
    ]);
    try {
      const env = { MLFLOW_TRACKING_URI: await server.url };
      const anonymous = await cli(['ls', 'mlflow-artifacts:/0'], { env });
      expect(anonymous.code).toBe(4);
      const authed = { ...env, MLFLOW_TRACKING_TOKEN: 'a-long-enough-token' };
      expect(
        (await cli(['log', join(work, 'small.txt'), 'mlflow-artifacts:/0/r'], { env: authed })).code,
      ).toBe(0);
      const large = await cli(['log', join(work, 'large.txt'), 'mlflow-artifacts:/0/r'], { env: authed });
      expect(large.code).not.toBe(0);
      expect(await readFile(join(dest, '0', 'r', 'small.txt'), 'utf8')).toBe('abc');
      await expect(readFile(join(dest, '0', 'r', 'large.txt'))).rejects.toThrow();
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('--allowed-hosts sets the Host names the server answers', async () => {
    const server = startServe([
      '--artifacts-destination',
      await tempDir(),
      '--allow-unauthenticated',
      '--allowed-hosts',
      'artifacts.example',
    ]);
    const get = (url: URL, host: string) =>
      new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: '/api/2.0/mlflow-artifacts/artifacts',
            headers: { host },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end();
      });
    try {
      const url = new URL(await server.url);
      expect(await get(url, 'artifacts.example')).toBe(200);
      expect(await get(url, 'evil.example')).toBe(403);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect(await server.exited).toBe(0);
  });

  it('reads each setting from its variable too, and a bad variable is a usage error naming it', async () => {
    const bad = await cli(['serve'], { cwd: await tempDir(), env: { ARTIFACTS_SERVER_PORT: 'abc' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ARTIFACTS_SERVER_PORT');
    const help = await cli(['serve', '--help']);
    for (const flag of [
      '--users-file',
      '--tokens-file',
      '--tls-cert',
      '--tls-key',
      '--allowed-hosts',
      '--allowed-origins',
      '--max-connections',
      '--max-upload-bytes',
      '--request-timeout',
    ]) {
      expect(help.stdout).toContain(flag);
    }
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('[env: ARTIFACTS_SERVER_TOKENS_FILE]');
  });

  it('without authentication configured, the refusal names the flags', async () => {
    const result = await cli(['serve', '--port', '0'], { cwd: await tempDir() });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--allow-unauthenticated');
    expect(result.stderr).toContain('--tokens-file');
  });
});
