import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import '@artifacts/azure';
import '@artifacts/s3';
import { type AccessLogEntry, type ArtifactServer, createArtifactServer } from '@artifacts/server';
import { dataBytes, hashData, hashStream } from '@artifacts/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';

// @artifacts/http → @artifacts/server → Azurite and MinIO: proxied multipart uploads whose parts go
// straight to storage, configured the way MLflow users configure them, through MLflow's variables.
// Azure's Put Block answers without an ETag; the upload must still complete.

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

const MiB = 1024 * 1024;
const TOKEN = 'http-multipart-destinations-token';
const VARIABLES = [
  'MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD',
  'MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE',
  'MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE',
] as const;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-http-mpu-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe.each([
  { name: 'Azure (Azurite)', root: () => env('ARTIFACTS_IT_AZURE_URI') },
  { name: 'S3 (MinIO)', root: () => env('ARTIFACTS_IT_S3_URI') },
])('proxied multipart to $name, configured through MLflow variables', ({ root }) => {
  let server: ArtifactServer;
  let direct: ArtifactRepository;
  let url: string;
  const access: AccessLogEntry[] = [];
  const partsAsked: number[] = [];
  const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));

  beforeAll(async () => {
    direct = await openRepository(`${root()}/http-mpu-${randomUUID()}`);
    // The server's repository, watched: how many parts each mpu/create asked for.
    const watched = new Proxy(direct, {
      get(target, property) {
        if (property === 'createMultipartUpload') {
          return (key: string, numParts: number, options: unknown) => {
            partsAsked.push(numParts);
            return target.createMultipartUpload(key, numParts, options as never);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    server = await createArtifactServer({
      repository: watched,
      port: 0,
      auth: { tokens: [TOKEN] },
      accessLog: (entry) => access.push(entry),
    });
    ({ url } = await server.listen());
  });

  afterEach(() => {
    for (const name of VARIABLES) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  afterAll(async () => {
    await direct?.deleteArtifacts().catch(() => undefined);
    await server?.close();
    await direct?.close();
  });

  const open = () =>
    openRepository(`${url}/api/2.0/mlflow-artifacts/artifacts/run`, { token: TOKEN, maxRetries: 1 });

  it('MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD with the size variables sends parts straight to storage', async () => {
    process.env.MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD = 'true';
    process.env.MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE = String(8 * MiB);
    process.env.MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE = String(5 * MiB);
    const size = 17 * MiB + 3;
    const file = join(work, `weights-${randomUUID()}.bin`);
    await writeFile(file, dataBytes(size, { seed: 'mpu-env' }));
    const repo = await open();
    try {
      const before = access.length;
      partsAsked.length = 0;
      await repo.logArtifact(file, 'model');
      expect(access.slice(before).map((entry) => `${entry.method} ${entry.route} ${entry.status}`)).toEqual([
        'POST /api/2.0/mlflow-artifacts/mpu/create/* 200',
        'POST /api/2.0/mlflow-artifacts/mpu/complete/* 200',
      ]);
      // ceil(17 MiB + 3 / 5 MiB): the chunk size came from the environment.
      expect(partsAsked).toEqual([4]);
      const name = file.slice(work.length + 1);
      expect((await hashStream(await direct.openRead(`run/model/${name}`))).digest).toBe(
        (await hashData(size, { seed: 'mpu-env' })).digest,
      );
      expect(await repo.listArtifacts('model')).toContainEqual({
        path: `model/${name}`,
        isDir: false,
        fileSize: size,
      });
    } finally {
      await repo.close();
    }
  });

  it('a file under MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE, or with multipart off, is one PUT', async () => {
    const file = join(work, 'small.bin');
    await writeFile(file, dataBytes(2 * MiB, { seed: 'small' }));
    process.env.MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD = 'true';
    process.env.MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE = String(4 * MiB);
    const under = await open();
    let before = access.length;
    await under.logArtifact(file, 'under');
    await under.close();
    expect(access.slice(before).map((entry) => `${entry.method} ${entry.status}`)).toEqual(['PUT 200']);

    process.env.MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD = 'false';
    process.env.MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE = '1';
    const off = await open();
    before = access.length;
    await off.logArtifact(file, 'off');
    await off.close();
    expect(access.slice(before).map((entry) => `${entry.method} ${entry.status}`)).toEqual(['PUT 200']);
    expect((await hashStream(await direct.openRead('run/off/small.bin'))).digest).toBe(
      (await hashData(2 * MiB, { seed: 'small' })).digest,
    );
  });
});
