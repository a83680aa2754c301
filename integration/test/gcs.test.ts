import { readFileSync } from 'node:fs';
import { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';
import { httpStatus } from '../src/util.ts';

let srv: LaunchedForTest;
let env: Record<string, string>;
let storage: Storage;

beforeAll(async () => {
  srv = await launchForTest('gcs');
  env = srv.env;
  // apiEndpoint, not STORAGE_EMULATOR_HOST: see src/servers/gcs.ts
  storage = new Storage({ apiEndpoint: env.ARTIFACTS_IT_GCS_ENDPOINT, projectId: env.GOOGLE_CLOUD_PROJECT });
});
afterAll(() => srv?.stop());

describe('fake-gcs-server (gcs)', () => {
  it('exports the documented variables', () => {
    expect(env.ARTIFACTS_IT_GCS_URI).toBe('gs://artifacts-it/root');
    expect(env.ARTIFACTS_IT_GCS_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.STORAGE_EMULATOR_HOST).toBe(env.ARTIFACTS_IT_GCS_ENDPOINT);
    expect(env.GOOGLE_CLOUD_PROJECT).toBe('test');
    expect(env.ARTIFACTS_IT_GCS_TLS_ENDPOINT).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('the https instance answers with its self-signed certificate, trusted by its CA file only', async () => {
    const url = `${env.ARTIFACTS_IT_GCS_TLS_ENDPOINT}/_internal/healthcheck`;
    expect(await httpStatus(url, readFileSync(env.ARTIFACTS_IT_GCS_CA_FILE!))).toBe(200);
    await expect(httpStatus(url)).rejects.toThrow(/self-signed|self signed/);
  });

  it('put, get (whole and ranged), list with delimiter, delete', async () => {
    const bucket = storage.bucket(env.ARTIFACTS_IT_GCS_BUCKET!);
    await bucket.file('root/a/one.txt').save('one', { resumable: false });
    await bucket.file('root/a/two.txt').save('two', { resumable: false });
    await bucket.file('root/a/sub/three.txt').save('three', { resumable: false });
    const [two] = await bucket.file('root/a/two.txt').download();
    expect(two.toString()).toBe('two');
    const [ranged] = await bucket.file('root/a/sub/three.txt').download({ start: 1, end: 3 });
    expect(ranged.toString()).toBe('hre');
    const [files, , api] = await bucket.getFiles({ prefix: 'root/a/', delimiter: '/', autoPaginate: false });
    expect(files.map((f) => f.name).sort()).toEqual(['root/a/one.txt', 'root/a/two.txt']);
    expect((api as { prefixes?: string[] }).prefixes).toEqual(['root/a/sub/']);
    for (const n of ['root/a/one.txt', 'root/a/two.txt', 'root/a/sub/three.txt'])
      await bucket.file(n).delete();
    const [left] = await bucket.getFiles({ prefix: 'root/a/' });
    expect(left).toEqual([]);
  });

  it('resumable upload from the Node client', async () => {
    const bucket = storage.bucket(env.ARTIFACTS_IT_GCS_BUCKET!);
    const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    await bucket.file('root/resumable.bin').save(data, { resumable: true, chunkSize: 1024 * 1024 });
    const [back] = await bucket.file('root/resumable.bin').download();
    expect(back.equals(data)).toBe(true);
    await bucket.file('root/resumable.bin').delete();
  });

  it('listens on loopback only', () => {
    expect(srv.server.listening.length).toBeGreaterThanOrEqual(1);
    for (const l of srv.server.listening) expect(l.address).toMatch(/^(127\.|::1$)/);
  });
});
