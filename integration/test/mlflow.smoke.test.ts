import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSockets } from '../src/runtime.ts';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';
import { isLoopback } from '../src/util.ts';

const run = promisify(execFile);
let srv: LaunchedForTest;
let env: Record<string, string>;

/**
 * MLflow's own client against the server: HttpArtifactRepository on the REST URI and the
 * mlflow-artifacts:/ scheme resolved through MLFLOW_TRACKING_URI. Prints one JSON line.
 */
const SCRIPT = String.raw`
import json, os, sys, tempfile
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

tracking, check_file = sys.argv[1], sys.argv[2]
src = tempfile.mkdtemp()
with open(os.path.join(src, "hello.txt"), "w") as f:
    f.write("hello mlflow")
os.makedirs(os.path.join(src, "plots", "sub"))
with open(os.path.join(src, "plots", "sub", "p.txt"), "w") as f:
    f.write("plot")

out = {}
repo = HttpArtifactRepository(tracking + "/api/2.0/mlflow-artifacts/artifacts/smoke/run1")
repo.log_artifact(os.path.join(src, "hello.txt"), "model")
repo.log_artifacts(os.path.join(src, "plots"), "plots")
out["root"] = [[f.path, f.is_dir, f.file_size] for f in repo.list_artifacts()]
out["model"] = [[f.path, f.is_dir, f.file_size] for f in repo.list_artifacts("model")]
out["missing"] = [f.path for f in repo.list_artifacts("nope")]
dst = repo.download_artifacts("model/hello.txt", tempfile.mkdtemp())
out["downloaded"] = open(dst).read()
out["on_disk"] = os.path.exists(check_file)
repo.delete_artifacts("model")
out["after_delete"] = [f.path for f in repo.list_artifacts()]

os.environ["MLFLOW_TRACKING_URI"] = tracking
scheme_repo = get_artifact_repository("mlflow-artifacts:/smoke/run1")
out["scheme_list"] = [f.path for f in scheme_repo.list_artifacts("plots")]
d = scheme_repo.download_artifacts("plots", tempfile.mkdtemp())
out["scheme_download"] = open(os.path.join(d, "sub", "p.txt")).read()
scheme_repo.delete_artifacts()
out["scheme_after_delete"] = [f.path for f in scheme_repo.list_artifacts()]
print(json.dumps(out))
`;

beforeAll(async () => {
  srv = await launchForTest('mlflow');
  env = srv.env;
});
afterAll(async () => {
  await srv?.stop();
});

describe('MLflow artifact server (mlflow)', () => {
  it('exports the documented variables and listens on loopback only', async () => {
    expect(env.ARTIFACTS_IT_MLFLOW_TRACKING_URI).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.ARTIFACTS_IT_MLFLOW_URI).toBe(
      `${env.ARTIFACTS_IT_MLFLOW_TRACKING_URI}/api/2.0/mlflow-artifacts/artifacts`,
    );
    expect(existsSync(env.ARTIFACTS_IT_MLFLOW_PYTHON!)).toBe(true);
    expect(existsSync(env.ARTIFACTS_IT_MLFLOW_BIN!)).toBe(true);
    expect(existsSync(env.ARTIFACTS_IT_MLFLOW_ARTIFACTS_DESTINATION!)).toBe(true);
    const health = await fetch(`${env.ARTIFACTS_IT_MLFLOW_TRACKING_URI}/health`);
    expect(health.status).toBe(200);
    const sockets = serverSockets(srv.server.running);
    expect(sockets.length).toBeGreaterThan(0);
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
  });

  it("MLflow's client logs, lists, downloads and deletes through the server", async () => {
    const checkFile = join(
      env.ARTIFACTS_IT_MLFLOW_ARTIFACTS_DESTINATION!,
      'smoke',
      'run1',
      'model',
      'hello.txt',
    );
    const { stdout } = await run(
      env.ARTIFACTS_IT_MLFLOW_PYTHON!,
      ['-c', SCRIPT, env.ARTIFACTS_IT_MLFLOW_TRACKING_URI!, checkFile],
      { env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true' }, timeout: 240_000 },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(out).toEqual({
      root: [
        ['model', true, null],
        ['plots', true, null],
      ],
      model: [['model/hello.txt', false, 12]],
      missing: [],
      downloaded: 'hello mlflow',
      on_disk: true,
      after_delete: ['plots'],
      scheme_list: ['plots/sub'],
      scheme_download: 'plot',
      scheme_after_delete: [],
    });
  });

  it('the REST API answers directly (PUT, GET, list, DELETE)', async () => {
    const base = env.ARTIFACTS_IT_MLFLOW_URI!;
    expect((await fetch(`${base}/rest/a.txt`, { method: 'PUT', body: 'via rest' })).status).toBe(200);
    expect(readFileSync(join(env.ARTIFACTS_IT_MLFLOW_ARTIFACTS_DESTINATION!, 'rest', 'a.txt'), 'utf8')).toBe(
      'via rest',
    );
    expect(await (await fetch(`${base}/rest/a.txt`)).text()).toBe('via rest');
    expect(await (await fetch(`${base}?path=rest`)).json()).toEqual({
      files: [{ path: 'a.txt', is_dir: false, file_size: 8 }],
    });
    expect((await fetch(`${base}/rest/a.txt`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetch(`${base}/rest/a.txt`)).status).toBe(404);
  });
});
