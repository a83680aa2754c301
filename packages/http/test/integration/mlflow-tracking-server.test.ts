import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import { MLFLOW_VERSION, type MlflowServer, startMlflowServer } from '@artifacts/integration';
import '@artifacts/s3';
import { dataBytes, hashFile, hashStream } from '@artifacts/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';

// This project's client against MLflow's full `mlflow server` (the pinned release, a SQLite backend
// store), as MLflow users run it: with `--serve-artifacts` proxying to MinIO — log, list, download,
// delete, and a proxied multipart upload configured only through MLflow's environment variables,
// whose parts MLflow's server hands to MinIO — and with `--no-serve-artifacts`, where MLflow answers
// every artifact route with 503: the client fails `unavailable` naming the status (it retries 503 as
// MLflow's client does, so the test turns MLflow's retry variable off) and writes nothing.

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

const MiB = 1024 * 1024;
const VARIABLES = [
  'MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD',
  'MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE',
  'MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE',
  'MLFLOW_HTTP_REQUEST_MAX_RETRIES',
] as const;
const saved = Object.fromEntries(VARIABLES.map((name) => [name, process.env[name]]));

let work: string;
let bucketRoot: string;
let direct: ArtifactRepository;
const servers: Partial<Record<'proxy' | 'direct', MlflowServer>> = {};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-http-mlflow-tracking-'));
  bucketRoot = `${env('ARTIFACTS_IT_S3_URI')}/http-mlflow-tracking-${randomUUID().slice(0, 8)}`;
  direct = await openRepository(bucketRoot);
  await writeFile(join(work, 'big.bin'), dataBytes(12 * MiB, { seed: 'tracking-big' }));
  await writeFile(join(work, 'small.bin'), dataBytes(300_000, { seed: 'tracking-small' }));
  await mkdir(join(work, 'plots', 'sub'), { recursive: true });
  await writeFile(join(work, 'plots', 'loss.png'), dataBytes(4096, { seed: 'loss' }));
  await writeFile(join(work, 'plots', 'sub', 'deep.json'), '{"deep":true}');
  const start = (kind: 'proxy' | 'direct') =>
    startMlflowServer({
      destination: `${bucketRoot}/${kind}`,
      tracking: { backendStoreUri: `sqlite:///${join(work, `${kind}.db`)}`, artifacts: kind },
      logFile: join(work, `mlflow-${kind}.log`),
      cwd: join(work, kind),
      env: {
        MLFLOW_S3_ENDPOINT_URL: env('MLFLOW_S3_ENDPOINT_URL'),
        AWS_ACCESS_KEY_ID: env('AWS_ACCESS_KEY_ID'),
        AWS_SECRET_ACCESS_KEY: env('AWS_SECRET_ACCESS_KEY'),
        AWS_DEFAULT_REGION: env('AWS_DEFAULT_REGION'),
      },
    }).then((server) => {
      servers[kind] = server;
    });
  await Promise.all([start('proxy'), start('direct')]);
}, 600_000);

afterEach(() => {
  for (const name of VARIABLES) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((server) => server?.stop()));
  await direct?.deleteArtifacts().catch(() => undefined);
  await direct?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Waits (up to 15 s: a container's log arrives a little later) until MLflow's proxy server logged a line. */
async function logShows(line: RegExp): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const log = await readFile(join(work, 'mlflow-proxy.log'), 'utf8');
    if (line.test(log)) return;
    if (Date.now() > deadline) expect(log).toMatch(line);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe(`@artifacts/http → mlflow server ${MLFLOW_VERSION} --serve-artifacts → MinIO`, () => {
  const prefix = `run-${randomUUID().slice(0, 8)}`;
  const open = () =>
    openRepository(`mlflow-artifacts:/${prefix}`, {
      trackingUri: servers.proxy!.url,
      maxRetries: 1,
      backoffFactor: 0.1,
    });

  it('logs a file and a directory that land byte for byte in MinIO, lists, downloads and deletes', async () => {
    const repo = await open();
    try {
      await repo.logArtifact(join(work, 'small.bin'), 'model');
      await repo.logArtifacts(join(work, 'plots'), 'plots');
      const stored = (path: string) => direct.openRead(`proxy/${prefix}/${path}`).then(hashStream);
      expect((await stored('model/small.bin')).digest).toBe((await hashFile(join(work, 'small.bin'))).digest);
      expect((await stored('plots/sub/deep.json')).digest).toBe(
        (await hashFile(join(work, 'plots', 'sub', 'deep.json'))).digest,
      );
      expect(await repo.listArtifacts()).toEqual([
        { path: 'model', isDir: true },
        { path: 'plots', isDir: true },
      ]);
      expect(await repo.listArtifacts('plots')).toEqual([
        { path: 'plots/loss.png', isDir: false, fileSize: 4096 },
        { path: 'plots/sub', isDir: true },
      ]);
      const dst = await mkdtemp(join(work, 'dl-'));
      const plots = await repo.downloadArtifacts('plots', dst);
      expect(await readFile(join(plots, 'sub', 'deep.json'), 'utf8')).toBe('{"deep":true}');
      await repo.deleteArtifacts('plots');
      expect(await repo.listArtifacts()).toEqual([{ path: 'model', isDir: true }]);
      expect(await direct.listArtifacts(`proxy/${prefix}/plots`)).toEqual([]);
    } finally {
      await repo.close();
    }
  });

  it('MLflow’s multipart variables alone send a 12 MiB file in 5 MiB parts straight to MinIO', async () => {
    process.env.MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD = 'true';
    process.env.MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE = String(10 * MiB);
    process.env.MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE = String(5 * MiB);
    const repo = await open();
    try {
      await repo.logArtifact(join(work, 'big.bin'), 'big');
      await repo.logArtifact(join(work, 'small.bin'), 'big');
    } finally {
      await repo.close();
    }
    await logShows(new RegExp(`"POST /api/2\\.0/mlflow-artifacts/mpu/create/${prefix}/big HTTP/1\\.1" 200`));
    await logShows(
      new RegExp(`"POST /api/2\\.0/mlflow-artifacts/mpu/complete/${prefix}/big HTTP/1\\.1" 200`),
    );
    // S3 names a multipart object's ETag "<md5 of the parts' md5s>-<number of parts>"
    const big = await direct.stat(`proxy/${prefix}/big/big.bin`);
    expect(big.fileSize).toBe(12 * MiB);
    expect(big.etag).toMatch(/-3"?$/);
    expect((await hashStream(await direct.openRead(`proxy/${prefix}/big/big.bin`))).digest).toBe(
      (await hashFile(join(work, 'big.bin'))).digest,
    );
    // under MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE: one proxied PUT
    await logShows(
      new RegExp(`"PUT /api/2\\.0/mlflow-artifacts/artifacts/${prefix}/big/small\\.bin HTTP/1\\.1" 200`),
    );
  });

  it('without MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD the same file is one proxied PUT', async () => {
    process.env.MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE = String(10 * MiB);
    process.env.MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE = String(5 * MiB);
    const repo = await open();
    try {
      await repo.logArtifact(join(work, 'big.bin'), 'single');
    } finally {
      await repo.close();
    }
    expect((await direct.stat(`proxy/${prefix}/single/big.bin`)).fileSize).toBe(12 * MiB);
    // what the client sent, from MLflow's access log (MLflow's own upload to S3 may go multipart)
    await logShows(
      new RegExp(`"PUT /api/2\\.0/mlflow-artifacts/artifacts/${prefix}/single/big\\.bin HTTP/1\\.1" 200`),
    );
    expect(await readFile(join(work, 'mlflow-proxy.log'), 'utf8')).not.toContain(
      `mpu/create/${prefix}/single`,
    );
  });
});

describe(`@artifacts/http → mlflow server ${MLFLOW_VERSION} --no-serve-artifacts`, () => {
  it('listing, reading and logging fail as unavailable (HTTP 503) and write nothing', async () => {
    process.env.MLFLOW_HTTP_REQUEST_MAX_RETRIES = '0';
    const repo = await openRepository('mlflow-artifacts:/anything', {
      trackingUri: servers.direct!.url,
      maxRetries: 0,
    });
    try {
      for (const attempt of [
        () => repo.listArtifacts(),
        () => repo.openRead('model/small.bin'),
        () => repo.logArtifact(join(work, 'small.bin'), 'model'),
      ]) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e as { code?: string; message: string },
        );
        expect(error?.code).toBe('unavailable');
        expect(error?.message).toContain('HTTP 503');
      }
    } finally {
      await repo.close();
    }
    // nothing reached the bucket through it
    expect(await direct.listArtifacts('direct')).toEqual([]);
  });
});
