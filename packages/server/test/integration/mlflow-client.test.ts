import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import '@artifacts/azure';
import '@artifacts/s3';
import { dataBytes, hashData, hashStream } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AccessLogEntry, type ArtifactServer, createArtifactServer } from '../../src/index.js';

// MLflow's own Python client (from PyPI, installed by the integration setup, the version the
// launcher pins) against this server over three destinations — MinIO, Azurite and a local directory:
// log a file and a directory, list, download, delete, and a proxied multipart upload whose parts go
// straight to storage (S3, Azure), or, where the destination cannot (local), MLflow's own fallback to
// one proxied PUT after mpu/create answers 501.

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./mlflow_client.py', import.meta.url));
const MiB = 1024 * 1024;

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

interface ClientReport {
  repository: string;
  list_root: Array<[string, boolean, number | null]>;
  list_plots: Array<[string, boolean, number | null]>;
  list_sub: Array<[string, boolean, number | null]>;
  list_file: unknown[];
  model_sha256: string;
  big_sha256: string;
  plots_files: Array<[string, string]>;
  list_after_delete: Array<[string, boolean, number | null]>;
}

const USER = 'mlflow-user';
const PASSWORD = 'mlflow-interop-password';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-mlflow-interop-'));
  await writeFile(join(work, 'model.bin'), dataBytes(300_000, { seed: 'model' }));
  await writeFile(join(work, 'big.bin'), dataBytes(12 * MiB, { seed: 'big' }));
  await mkdir(join(work, 'plots', 'sub'), { recursive: true });
  await writeFile(join(work, 'plots', 'loss.png'), dataBytes(5000, { seed: 'loss' }));
  await writeFile(join(work, 'plots', 'notes été.txt'), 'accuracy went up');
  await writeFile(join(work, 'plots', 'sub', 'deep.json'), '{"deep": true}');
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function mlflowClient(
  url: string,
  root: string,
  extraEnv: Record<string, string>,
): Promise<ClientReport> {
  const downloads = await mkdtemp(join(work, 'downloads-'));
  const { stdout } = await run(env('ARTIFACTS_IT_MLFLOW_PYTHON'), [SCRIPT, root, work, downloads], {
    env: {
      ...process.env,
      MLFLOW_TRACKING_URI: url,
      MLFLOW_TRACKING_USERNAME: USER,
      MLFLOW_TRACKING_PASSWORD: PASSWORD,
      MLFLOW_HTTP_REQUEST_MAX_RETRIES: '0',
      ...extraEnv,
    },
    maxBuffer: 16 * MiB,
    timeout: 240_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ClientReport;
}

async function sha256Of(repo: ArtifactRepository, path: string): Promise<string> {
  return (await hashStream(await repo.openRead(path))).digest;
}

describe.each([
  { name: 'MinIO', multipart: true, destination: () => env('ARTIFACTS_IT_S3_URI') },
  { name: 'Azurite', multipart: true, destination: () => env('ARTIFACTS_IT_AZURE_URI') },
  { name: 'a local directory', multipart: false, destination: () => join(work, 'destination') },
])('@artifacts/server over $name', ({ multipart, destination: base }) => {
  let server: ArtifactServer;
  let url: string;
  let direct: ArtifactRepository;
  const access: AccessLogEntry[] = [];

  beforeAll(async () => {
    const destination = `${base()}/server-interop-${randomUUID()}`;
    server = await createArtifactServer({
      artifactsDestination: destination,
      port: 0,
      auth: { users: { [USER]: PASSWORD } },
      accessLog: (entry) => access.push(entry),
    });
    ({ url } = await server.listen());
    direct = await openRepository(destination);
  });

  afterAll(async () => {
    await direct?.deleteArtifacts().catch(() => undefined);
    await direct?.close();
    await server?.close();
  });

  describe.each([
    // HttpArtifactRepository with MLflow's documented switch.
    [
      'http URI, MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD=true',
      'http',
      { MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD: 'true' },
    ],
    // MlflowArtifactsRepository, which asks the server's /api/3.0/mlflow/server-info whether to go multipart.
    ['mlflow-artifacts URI, multipart as server-info advertises it', 'mlflow-artifacts', {}],
  ] as const)('MLflow client (%s)', (_, scheme, extraEnv) => {
    let report: ClientReport;
    let prefix: string;
    let seen: AccessLogEntry[];

    beforeAll(async () => {
      prefix = `mlflow-${scheme}-${randomUUID().slice(0, 8)}`;
      const root =
        scheme === 'http'
          ? `${url}/api/2.0/mlflow-artifacts/artifacts/${prefix}`
          : `mlflow-artifacts:/${prefix}`;
      const before = access.length;
      report = await mlflowClient(url, root, {
        ...extraEnv,
        // Small thresholds so a 12 MiB file goes multipart; S3 parts must be ≥ 5 MiB but the last.
        MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE: String(10 * MiB),
        MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE: String(5 * MiB),
      });
      seen = access.slice(before);
    }, 300_000);

    it('uses the repository class of that scheme', () => {
      expect(report.repository).toBe(
        scheme === 'http' ? 'HttpArtifactRepository' : 'MlflowArtifactsRepository',
      );
    });

    it('lists what it logged, as MLflow lists: root-relative paths, sizes for files, [] for a file', () => {
      expect(report.list_root).toEqual([
        ['big', true, null],
        ['model', true, null],
        ['plots', true, null],
      ]);
      expect(report.list_plots).toEqual([
        ['plots/loss.png', false, 5000],
        ['plots/notes été.txt', false, 16],
        ['plots/sub', true, null],
      ]);
      expect(report.list_sub).toEqual([['plots/sub/deep.json', false, 14]]);
      expect(report.list_file).toEqual([]);
    });

    it('the bytes MLflow uploaded are in the destination, and the bytes it downloaded are those', async () => {
      const model = (await hashData(300_000, { seed: 'model' })).digest;
      const big = (await hashData(12 * MiB, { seed: 'big' })).digest;
      expect(await sha256Of(direct, `${prefix}/model/model.bin`)).toBe(model);
      expect(await sha256Of(direct, `${prefix}/big/big.bin`)).toBe(big);
      expect(report.model_sha256).toBe(model);
      expect(report.big_sha256).toBe(big);
      expect(report.plots_files.map(([path]) => path)).toEqual([
        'loss.png',
        'notes été.txt',
        'sub/deep.json',
      ]);
      expect(report.plots_files[0]![1]).toBe((await hashData(5000, { seed: 'loss' })).digest);
    });

    const bigPuts = () =>
      seen
        .filter((entry) => entry.method === 'PUT' && entry.artifactPath?.endsWith('big.bin'))
        .map((entry) => entry.status);
    const routes = () => seen.map((entry) => `${entry.method} ${entry.route} ${entry.status}`);

    if (multipart) {
      it('the 12 MiB file went through mpu/create and mpu/complete, its parts straight to storage', () => {
        expect(routes()).toContain('POST /api/2.0/mlflow-artifacts/mpu/create/* 200');
        expect(routes()).toContain('POST /api/2.0/mlflow-artifacts/mpu/complete/* 200');
        // No PUT of big.bin reached the server: its bytes did not pass through it.
        expect(bigPuts()).toEqual([]);
      });
    } else if (scheme === 'http') {
      it('mpu/create answers 501, and MLflow falls back to one proxied PUT of the 12 MiB file', () => {
        expect(routes()).toContain('POST /api/2.0/mlflow-artifacts/mpu/create/* 501');
        expect(routes().filter((r) => r.includes('/mpu/complete/'))).toEqual([]);
        expect(bigPuts()).toEqual([200]);
      });
    } else {
      it('server-info advertises no multipart, so MLflow sends the 12 MiB file as one proxied PUT', () => {
        expect(routes().filter((r) => r.includes('/mpu/'))).toEqual([]);
        expect(bigPuts()).toEqual([200]);
      });
    }

    it('delete removed the directory and nothing else', async () => {
      expect(report.list_after_delete).toEqual([
        ['big', true, null],
        ['model', true, null],
      ]);
      expect(await direct.listArtifacts(`${prefix}/plots`)).toEqual([]);
    });
  });
});
