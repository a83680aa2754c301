import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempDir } from '../helpers.js';

// `presign` against MinIO (only the s3 server: no MLflow here), through the real `artifacts` binary.

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

/** A fresh prefix of the MinIO bucket for one test. */
const s3Prefix = (label: string) => `${env('ARTIFACTS_IT_S3_URI')}/cli-${label}-${randomUUID().slice(0, 8)}`;

async function ok(args: string[]): Promise<string> {
  const result = await cli(args, { timeoutMs: 60_000 });
  if (result.code !== 0)
    throw new Error(`artifacts ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  expect(result.stderr).not.toMatch(/Warning|Error/);
  return result.stdout;
}

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T;
}

describe('presign on S3', () => {
  it('signs a GET URL that reads the bytes and a PUT URL that writes them, with plain fetch', async () => {
    const work = await tempDir();
    const prefix = s3Prefix('presign');
    const body = randomBytes(300_000);
    await writeFile(join(work, 'model.bin'), body);
    await ok(['cp', join(work, 'model.bin'), `${prefix}/model.bin`]);

    const get = (await ok(['presign', `${prefix}/model.bin`])).trim();
    expect(get).toMatch(/^http:\/\/.*X-Amz-Signature=/);
    const response = await fetch(get);
    expect(response.status).toBe(200);
    expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);

    const put = await json<{ url: string; method: string; expires_in: number }>([
      'presign',
      '--method',
      'PUT',
      '--expires-in',
      '600',
      `${prefix}/uploaded/weights.bin`,
    ]);
    expect(put).toMatchObject({ method: 'PUT', expires_in: 600 });
    const sent = randomBytes(123_457);
    const written = await fetch(put.url, { method: 'PUT', body: sent });
    expect(written.status).toBe(200);
    const back = await cli(['cat', `${prefix}/uploaded/weights.bin`], { timeoutMs: 60_000 });
    expect(back.code).toBe(0);
    expect(back.stdoutBytes.equals(sent)).toBe(true);

    // The GET URL is bound to its object: another key with the same signature is refused.
    const tampered = await fetch(get.replace('/model.bin?', '/uploaded/weights.bin?'));
    expect(tampered.status).toBe(403);
    await tampered.body?.cancel();

    // A missing object cannot be presigned for reading (it would only fail in someone else's hands).
    const missing = await cli(['presign', `${prefix}/nothing.bin`], { timeoutMs: 60_000 });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/nothing\.bin/);
  });
});
