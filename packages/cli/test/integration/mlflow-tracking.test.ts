import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ArtifactsError, openRepository, TrackingClient } from '@artifacts/core';
import '@artifacts/http';
import '@artifacts/s3';
import { MLFLOW_VERSION, type MlflowServer, mlflowVenv, startMlflowServer } from '@artifacts/integration';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers.js';

// runs:/ and models:/ URIs and `artifacts gc` against real MLflow tracking servers (PyPI, SQLite
// backend stores, artifacts on MinIO): one that stores runs' artifacts straight to S3 and one that
// proxies them (`--serve-artifacts`, run roots `mlflow-artifacts:/…`). Runs, model versions and
// aliases are made with MLflow's own Python client; afterwards `mlflow gc` must still succeed.

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('./mlflow_tracking.py', import.meta.url));
const BIG_FILES = 1001;

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

interface Made {
  mlflow_version: string;
  experiment_id: string;
  model: string;
  versions: string[];
  runs: Record<'kept' | 'second' | 'big' | 'small' | 'empty', { id: string; artifact_uri: string }>;
}

interface GcJson {
  dryRun: boolean;
  runs: { runId: string; files: number; bytes: number; status: string; reason?: string }[];
  orphans: { runId: string; files: number; bytes: number; status: string; artifactUri: string }[];
  totals: { runs: number; orphans: number; files: number; bytes: number; failed: number; skipped: number };
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

let work: string;
let model: Buffer;
let model2: Buffer;
let loss: Buffer;
const servers: Record<'direct' | 'proxy', { server: MlflowServer; db: string; made: Made }> = {} as never;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-cli-mlflow-'));
  model = Buffer.from(`weights ${randomUUID()} `.repeat(20_000));
  model2 = Buffer.from(`other weights ${randomUUID()}`);
  loss = Buffer.from(`loss curve ${randomUUID()}`);
  await writeFile(join(work, 'model.bin'), model);
  await writeFile(join(work, 'model2.bin'), model2);
  await mkdir(join(work, 'plots', 'sub'), { recursive: true });
  await writeFile(join(work, 'plots', 'loss.png'), loss);
  await writeFile(join(work, 'plots', 'sub', 'deep.json'), '{"deep":true}');
  await mkdir(join(work, 'many', 'nested'), { recursive: true });
  for (let i = 0; i < BIG_FILES; i++) {
    await writeFile(
      join(work, 'many', i % 2 ? 'nested' : '', `f${String(i).padStart(4, '0')}.txt`),
      `${i}\n`,
    );
  }
  const prefix = `${env('ARTIFACTS_IT_S3_URI')}/cli-mlflow-${randomUUID().slice(0, 8)}`;
  const start = async (kind: 'direct' | 'proxy') => {
    const db = join(work, `${kind}.db`);
    const server = await startMlflowServer({
      destination: `${prefix}/${kind}`,
      tracking: { backendStoreUri: `sqlite:///${db}`, artifacts: kind },
      logFile: join(work, `mlflow-${kind}.log`),
      cwd: join(work, kind),
      env: {
        MLFLOW_S3_ENDPOINT_URL: env('MLFLOW_S3_ENDPOINT_URL'),
        AWS_ACCESS_KEY_ID: env('AWS_ACCESS_KEY_ID'),
        AWS_SECRET_ACCESS_KEY: env('AWS_SECRET_ACCESS_KEY'),
        AWS_DEFAULT_REGION: env('AWS_DEFAULT_REGION'),
      },
    });
    const { stdout } = await run(mlflowVenv().python, [SCRIPT, work], {
      env: { ...process.env, MLFLOW_TRACKING_URI: server.url, MLFLOW_DISABLE_TELEMETRY: 'true' },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 20 * 60_000,
    });
    servers[kind] = { server, db, made: JSON.parse(stdout.trim().split('\n').at(-1)!) as Made };
  };
  await Promise.all([start('direct'), start('proxy')]);
}, 40 * 60_000);

afterAll(async () => {
  await Promise.all(Object.values(servers).map(({ server }) => server.stop()));
  await rm(work, { recursive: true, force: true });
});

describe.each(['direct', 'proxy'] as const)('MLflow %s tracking server', (kind) => {
  const ctx = () => servers[kind];
  const withTracking = () => ({ MLFLOW_TRACKING_URI: ctx().server.url });
  const gc = async (...args: string[]) => {
    const result = await cli(['gc', '--json', ...args], { env: withTracking(), timeoutMs: 10 * 60_000 });
    expect(result.stderr.replace(/^deleted run .*\n/gm, '')).toBe('');
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout) as GcJson;
  };
  // the tracking URI only for a root on the tracking server itself (an S3 backend refuses the option)
  const open = (uri: string) =>
    openRepository(uri, uri.startsWith('mlflow-artifacts:') ? { trackingUri: ctx().server.url } : {});
  const filesUnder = async (uri: string) => {
    const repo = await open(uri);
    try {
      return (await repo.listArtifactsRecursive('')).filter((f) => !f.isDir).length;
    } finally {
      await repo.close();
    }
  };

  it(`runs on MLflow ${MLFLOW_VERSION} with the expected artifact roots`, () => {
    const { made } = ctx();
    expect(made.mlflow_version).toBe(MLFLOW_VERSION);
    for (const { artifact_uri } of Object.values(made.runs)) {
      expect(artifact_uri).toMatch(kind === 'proxy' ? /^mlflow-artifacts:\// : /^s3:\/\//);
    }
  });

  it('ls, cat and download runs:/ URIs return exactly what MLflow logged', async () => {
    const { made } = ctx();
    const kept = made.runs.kept.id;
    const ls = await cli(['ls', '-r', '--json', `runs:/${kept}`], { env: withTracking() });
    expect(ls.stderr).toBe('');
    expect(JSON.parse(ls.stdout)).toEqual([
      { path: 'model/model.bin', is_dir: false, file_size: model.length },
      { path: 'plots/loss.png', is_dir: false, file_size: loss.length },
      { path: 'plots/sub/deep.json', is_dir: false, file_size: 13 },
    ]);
    const cat = await cli(['cat', `runs:/${kept}/model/model.bin`], { env: withTracking() });
    expect(cat.code).toBe(0);
    expect(sha256(cat.stdoutBytes)).toBe(sha256(model));
    const dst = join(work, `dl-run-${kind}`);
    const dl = await cli(['download', `runs:/${kept}/plots`, dst], { env: withTracking() });
    expect(dl.code).toBe(0);
    expect(dl.stdout.trim()).toBe(join(dst, 'plots'));
    expect(sha256(await readFile(join(dst, 'plots', 'loss.png')))).toBe(sha256(loss));
    expect(await readFile(join(dst, 'plots', 'sub', 'deep.json'), 'utf8')).toBe('{"deep":true}');
  });

  it('models:/<name>@<alias>, /<version> and /latest resolve through get-download-uri', async () => {
    const { made } = ctx();
    const dst = join(work, `dl-model-${kind}`);
    const dl = await cli(['download', `models:/${made.model}@champion`, dst], { env: withTracking() });
    expect(dl.stderr).toBe('');
    expect(sha256(await readFile(join(dl.stdout.trim(), 'model.bin')))).toBe(sha256(model));
    const v1 = await cli(['cat', `models:/${made.model}/${made.versions[0]}/model.bin`], {
      env: withTracking(),
    });
    expect(sha256(v1.stdoutBytes)).toBe(sha256(model));
    const latest = await cli(['cat', `models:/${made.model}/latest/model2.bin`], { env: withTracking() });
    expect(latest.stdout).toBe(model2.toString());
    const missing = await cli(['ls', `models:/${made.model}@no-such-alias`], { env: withTracking() });
    expect(missing.code).toBe(3); // not found (the CLI's exit codes)
    expect(missing.stderr).toMatch(/no-such-alias.*not found/);
  });

  it('openRepository resolves runs:/ itself', async () => {
    const repo = await openRepository(`runs:/${ctx().made.runs.kept.id}/plots`, {
      trackingUri: ctx().server.url,
    });
    try {
      expect(await repo.listArtifacts()).toEqual([
        { path: 'loss.png', isDir: false, fileSize: loss.length },
        { path: 'sub', isDir: true },
      ]);
    } finally {
      await repo.close();
    }
  });

  it('gc refuses an active run and deletes nothing', async () => {
    const { made } = ctx();
    const result = await cli(['gc', '--run-ids', made.runs.kept.id], { env: withTracking() });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not in the deleted lifecycle stage/);
    expect(await filesUnder(made.runs.kept.artifact_uri)).toBe(3);
  });

  it('gc --dry-run reports the deleted runs and deletes nothing', async () => {
    const { made } = ctx();
    const report = await gc('--dry-run', '--experiment-ids', made.experiment_id);
    const byId = Object.fromEntries(report.runs.map((r) => [r.runId, r]));
    expect(Object.keys(byId).sort()).toEqual(
      [made.runs.big.id, made.runs.small.id, made.runs.empty.id].sort(),
    );
    expect(byId[made.runs.big.id]).toMatchObject({ status: 'would-delete', files: BIG_FILES });
    expect(byId[made.runs.small.id]).toMatchObject({ files: 3, bytes: model.length + loss.length + 13 });
    expect(byId[made.runs.empty.id]).toMatchObject({ files: 0, bytes: 0 });
    expect(report.totals).toMatchObject({ runs: 3, files: BIG_FILES + 3, failed: 0 });
    expect(await filesUnder(made.runs.big.artifact_uri)).toBe(BIG_FILES);
    expect(await filesUnder(made.runs.small.artifact_uri)).toBe(3);
  });

  it('gc removes exactly the deleted runs’ artifacts, again is a no-op, and mlflow gc still succeeds', async () => {
    const { made, server, db } = ctx();
    const report = await gc();
    const mine = report.runs.filter((r) => Object.values(made.runs).some((m) => m.id === r.runId));
    expect(mine.map((r) => [r.runId, r.status, r.files]).sort()).toEqual(
      [
        [made.runs.big.id, 'deleted', BIG_FILES],
        [made.runs.small.id, 'deleted', 3],
        [made.runs.empty.id, 'deleted', 0],
      ].sort(),
    );
    expect(await filesUnder(made.runs.big.artifact_uri)).toBe(0);
    expect(await filesUnder(made.runs.small.artifact_uri)).toBe(0);
    expect(await filesUnder(made.runs.kept.artifact_uri)).toBe(3);
    expect(await filesUnder(made.runs.second.artifact_uri)).toBe(1);

    const again = await gc('--experiment-ids', made.experiment_id);
    expect(again.totals).toMatchObject({ runs: 3, files: 0, bytes: 0, failed: 0 });

    const venv = mlflowVenv();
    const mlflowGc = await run(
      venv.mlflow,
      ['gc', '--backend-store-uri', `sqlite:///${db}`, '--tracking-uri', server.url],
      { env: { ...process.env, MLFLOW_TRACKING_URI: server.url }, timeout: 10 * 60_000 },
    ).catch((error: { stderr?: string; message: string }) => {
      throw new Error(`mlflow gc failed: ${error.stderr ?? error.message}`);
    });
    expect(mlflowGc.stdout).toContain(made.runs.big.id);
    const client = new TrackingClient({ trackingUri: server.url });
    const gone = await client.getRun(made.runs.big.id).catch((error: unknown) => error);
    expect(ArtifactsError.is(gone, 'not_found')).toBe(true);
    expect(await filesUnder(made.runs.kept.artifact_uri)).toBe(3);
  });

  it('finds orphan run directories, and removes them only with --delete-orphans', async () => {
    const { made } = ctx();
    const orphanId = randomUUID().replaceAll('-', '');
    const location = made.runs.kept.artifact_uri.replace(/\/[0-9a-f]{32}\/artifacts$/, '');
    const orphanRoot = `${location}/${orphanId}`;
    const repo = await open(orphanRoot);
    await repo.write('artifacts/left-behind.txt', 'left behind');
    await repo.close();

    const found = await gc('--orphans', '--experiment-ids', made.experiment_id);
    expect(found.orphans).toEqual([
      expect.objectContaining({ runId: orphanId, status: 'found', files: 1, bytes: 11 }),
    ]);
    expect(await filesUnder(orphanRoot)).toBe(1);

    const removed = await gc('--delete-orphans', '--experiment-ids', made.experiment_id);
    expect(removed.orphans).toEqual([
      expect.objectContaining({ runId: orphanId, status: 'deleted', files: 1 }),
    ]);
    expect(await filesUnder(orphanRoot)).toBe(0);
    expect(await filesUnder(made.runs.kept.artifact_uri)).toBe(3);
  });
});
