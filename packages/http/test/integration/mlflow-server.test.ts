import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import { dataBytes, hashFile, readAll } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';

// This project's client against MLflow's own `mlflow server --artifacts-only` (from PyPI, started by
// the integration setup) over a local destination.

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

const MiB = 1024 * 1024;
let work: string;
let prefix: string;
let destination: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-http-mlflow-'));
  prefix = `http-client-${randomUUID().slice(0, 8)}`;
  destination = join(env('ARTIFACTS_IT_MLFLOW_ARTIFACTS_DESTINATION'), prefix);
  await writeFile(join(work, 'model.bin'), dataBytes(3 * MiB, { seed: 'mlflow-model' }));
  await mkdir(join(work, 'plots', 'sub'), { recursive: true });
  await writeFile(join(work, 'plots', 'loss.png'), dataBytes(4096, { seed: 'loss' }));
  await writeFile(join(work, 'plots', 'été 100%.txt'), 'awkward name');
  await writeFile(join(work, 'plots', 'sub', 'deep.json'), '{"deep":true}');
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe.each([
  ['an http(s) URI', () => `${env('ARTIFACTS_IT_MLFLOW_URI')}/${prefix}/http`],
  [
    'an mlflow-artifacts: URI resolved against MLFLOW_TRACKING_URI',
    () => `mlflow-artifacts:/${prefix}/mlflow-artifacts`,
  ],
])('@artifacts/http → mlflow server --artifacts-only → local disk, through %s', (label, uri) => {
  let repo: ArtifactRepository;
  const sub = label.startsWith('an http') ? 'http' : 'mlflow-artifacts';

  beforeAll(async () => {
    repo = await openRepository(uri(), {
      trackingUri: env('ARTIFACTS_IT_MLFLOW_TRACKING_URI'),
      maxRetries: 1,
      backoffFactor: 0.1,
      // MLflow's local destination has no multipart: the client must fall back to one PUT.
      multipartUpload: true,
      multipartMinimumFileSize: 1 * MiB,
      multipartChunkSize: 5 * MiB,
    });
  });
  afterAll(() => repo.close());

  it('logs a file and a directory that land byte for byte in MLflow destination', async () => {
    await repo.logArtifact(join(work, 'model.bin'), 'model');
    await repo.logArtifacts(join(work, 'plots'), 'plots');
    const stored = join(destination, sub);
    expect((await hashFile(join(stored, 'model', 'model.bin'))).digest).toBe(
      (await hashFile(join(work, 'model.bin'))).digest,
    );
    expect(await readFile(join(stored, 'plots', 'été 100%.txt'), 'utf8')).toBe('awkward name');
    expect(await readFile(join(stored, 'plots', 'sub', 'deep.json'), 'utf8')).toBe('{"deep":true}');
  });

  it('lists as MLflow does: direct children, root-relative, sorted, sizes for files, [] for a file', async () => {
    expect(await repo.listArtifacts()).toEqual([
      { path: 'model', isDir: true },
      { path: 'plots', isDir: true },
    ]);
    expect(await repo.listArtifacts('plots')).toEqual([
      { path: 'plots/loss.png', isDir: false, fileSize: 4096 },
      { path: 'plots/sub', isDir: true },
      { path: 'plots/été 100%.txt', isDir: false, fileSize: 12 },
    ]);
    expect(await repo.listArtifacts('model/model.bin')).toEqual([]);
    expect(await repo.listArtifacts('nothing')).toEqual([]);
  });

  it('downloads a file and a directory', async () => {
    const dst = await mkdtemp(join(work, 'dl-'));
    const model = await repo.downloadArtifacts('model/model.bin', dst);
    expect(model).toBe(join(dst, 'model', 'model.bin'));
    expect((await hashFile(model)).digest).toBe((await hashFile(join(work, 'model.bin'))).digest);
    const plots = await repo.downloadArtifacts('plots', dst);
    expect(await readFile(join(plots, 'sub', 'deep.json'), 'utf8')).toBe('{"deep":true}');
    expect((await readFile(join(plots, 'loss.png'))).equals(dataBytes(4096, { seed: 'loss' }))).toBe(true);
  });

  it('reads a byte range although MLflow server ignores Range', async () => {
    const bytes = await readAll(
      await repo.openRead('model/model.bin', { range: { start: MiB, end: MiB + 99 } }),
    );
    expect(bytes.equals(dataBytes(3 * MiB, { seed: 'mlflow-model' }).subarray(MiB, MiB + 100))).toBe(true);
  });

  it('a missing artifact is not_found', async () => {
    await expect(repo.openRead('model/none.bin')).rejects.toMatchObject({ code: 'not_found' });
  });

  it('deletes a directory and nothing beside it', async () => {
    await repo.deleteArtifacts('plots');
    expect(await repo.listArtifacts()).toEqual([{ path: 'model', isDir: true }]);
    await repo.deleteArtifacts('plots');
    await repo.deleteArtifacts();
    expect(await repo.listArtifacts()).toEqual([]);
  });
});
