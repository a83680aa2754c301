/**
 * MLflow's container path: `mlflow server` exactly as mlflow.ts runs it natively (artifacts-only for the
 * launcher, or a full tracking server for startMlflowServer()), in a container of the mlflow image
 * (integration/images/mlflow: the same pinned MLflow and boto3 from PyPI).
 *
 * Files: the server's working directory, its log directory, a local destination, the temporary
 * directory and the repository are mounted at their own paths, so a test's SQLite store, script and
 * files resolve alike on both sides.
 *
 * MLflow's own Python and `mlflow` command (ARTIFACTS_IT_MLFLOW_PYTHON / _BIN, and mlflowVenv() in
 * container mode) are small scripts that run the image's /opt/mlflow/bin/<program> in a throw-away
 * container (`docker run --rm --network host`, same mounts, the caller's working directory and user;
 * MLFLOW_*, AWS_*, AZURE_*, ARTIFACTS_* variables passed through). The image comes from
 * ARTIFACTS_IT_MLFLOW_IMAGE, which the run sets once it has resolved it (global-setup.ts, and every
 * server start here). Kept apart from mlflow.ts so the native launcher's owner can change it freely.
 */
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { engine, startServerContainer, urlHost } from '../containers.js';
import { serverImage } from '../images.js';
import type { LaunchContext, RunningServer } from '../types.js';
import { freePort, httpStatus, IT_ROOT, ServerError, shellQuote } from '../util.js';
import type { MlflowServer, MlflowServerOptions } from './mlflow.js';

const REPO = resolve(IT_ROOT, '..');
const SERVER_ENV = {
  MLFLOW_DISABLE_TELEMETRY: 'true',
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
  DO_NOT_TRACK: 'true',
  PYTHONUNBUFFERED: '1',
};

/** Directories every MLflow container mounts at their own path (deduplicated, existing ones). */
function mounts(extra: string[]): string[] {
  return [...new Set([REPO, tmpdir(), ...extra].map((d) => resolve(d)))].filter((d) => existsSync(d));
}

/** A local directory named by a destination or SQLite store URI, if any. */
function localDirOf(uri: string): string | undefined {
  const sqlite = /^sqlite:\/\/\/(.+)$/.exec(uri);
  if (sqlite) return dirname(sqlite[1]!.startsWith('/') ? sqlite[1]! : `/${sqlite[1]}`);
  if (uri.startsWith('file://')) return new URL(uri).pathname;
  if (!/^[a-z][a-z0-9+.-]*:/i.test(uri)) return resolve(uri);
  return undefined;
}

/**
 * `mlflow server <modeArgs>` in a container; same contract as the native startMlflowServer (url on the
 * engine's host, stop() once the port is closed), plus restart() and the container id.
 */
export async function startMlflowServerContainer(
  opts: MlflowServerOptions,
  modeArgs: string[],
): Promise<MlflowServer & { restart(): Promise<void>; processes(): number[] }> {
  const eng = await engine();
  const image = await serverImage('mlflow');
  process.env.ARTIFACTS_IT_MLFLOW_IMAGE ??= image;
  const port = opts.port ?? (await freePort());
  const cwd = opts.cwd ?? dirname(opts.logFile);
  await mkdir(cwd, { recursive: true });
  const local = [opts.destination, opts.tracking?.backendStoreUri ?? '']
    .filter(Boolean)
    .map(localDirOf)
    .filter((d): d is string => d !== undefined);
  for (const d of local) await mkdir(d, { recursive: true });
  const url = `http://${urlHost(eng.host)}:${port}`;
  const c = await startServerContainer({
    server: 'mlflow',
    what: `mlflow server on ${url}`,
    image,
    entrypoint: ['/opt/mlflow/bin/mlflow'],
    command: [
      'server',
      ...modeArgs,
      '--host',
      eng.bindHost,
      '--port',
      String(port),
      '--workers',
      '1',
      ...(opts.extraArgs ?? []),
    ],
    env: { ...SERVER_ENV, ...(opts.env ?? {}) },
    workingDir: cwd,
    ports: [port],
    binds: mounts([cwd, dirname(opts.logFile), ...local]),
    logFile: opts.logFile,
    ready: async () => (await httpStatus(`${url}/health`)) === 200,
    // importing MLflow takes seconds idle, a minute or more on a loaded 2-core machine
    readyTimeoutMs: 300_000,
  });
  return { url, port, stop: () => c.stop(), restart: () => c.restart(), processes: () => c.processes() };
}

/**
 * A script running /opt/mlflow/bin/<program> of the MLflow image in a throw-away container (see the
 * file comment); written once per process under the temporary directory.
 */
export function mlflowClientCommand(
  program: 'python' | 'mlflow',
  dir = join(tmpdir(), `artifacts-it-mlflow-client-${process.pid}`),
): string {
  const file = join(dir, program);
  if (existsSync(file)) return file;
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    // the per-process default under the temporary directory goes with the process
    if (dir.startsWith(join(tmpdir(), 'artifacts-it-mlflow-client-'))) {
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
  }
  const volumes = mounts([])
    .map((d) => `-v ${shellQuote(`${d}:${d}`)}`)
    .join(' ');
  writeFileSync(
    file,
    `#!/bin/sh
# generated by integration/src/servers/mlflow-container.ts: MLflow's ${program} in a container of the mlflow image
# (every -e NAME goes before the image: docker run reads no option after it)
image=\${ARTIFACTS_IT_MLFLOW_IMAGE:?no MLflow image resolved in this run: build one with \\\`pnpm servers images mlflow\\\` (or set ARTIFACTS_IT_IMAGE_MLFLOW)}
set -- "$image" /opt/mlflow/bin/${program} "$@"
for v in $(env | sed -n 's/^\\(MLFLOW_[A-Za-z0-9_]*\\|AWS_[A-Za-z0-9_]*\\|AZURE_[A-Za-z0-9_]*\\|ARTIFACTS_[A-Za-z0-9_]*\\)=.*/\\1/p'); do
  set -- -e "$v" "$@"
done
exec docker run --rm -i --network host --user "$(id -u):$(id -g)" -e HOME=/tmp -e PYTHONUNBUFFERED=1 \\
  ${volumes} -w "$PWD" \\
  --label artifacts-it.server=mlflow-client --label artifacts-it.pid=$$ --label artifacts-it.host=${shellQuote(hostname())} \\
  --entrypoint "" "$@"
`,
  );
  chmodSync(file, 0o755);
  return file;
}

/** The `mlflow` launcher's container path (`--artifacts-only` over a destination in the state dir). */
export async function startMlflowContainer(ctx: LaunchContext): Promise<RunningServer> {
  const { serverModeArgs } = await import('./mlflow.js');
  const destination = join(ctx.stateDir, 'mlartifacts');
  const opts = { destination, logFile: ctx.logFile, cwd: ctx.stateDir };
  const server = await startMlflowServerContainer(opts, serverModeArgs(opts));
  if (!server.url.startsWith('http')) throw new ServerError(`unexpected MLflow URL ${server.url}`);
  return {
    name: 'mlflow',
    mode: 'containers',
    env: {
      ARTIFACTS_IT_MLFLOW_TRACKING_URI: server.url,
      ARTIFACTS_IT_MLFLOW_URI: `${server.url}/api/2.0/mlflow-artifacts/artifacts`,
      ARTIFACTS_IT_MLFLOW_ARTIFACTS_DESTINATION: destination,
      ARTIFACTS_IT_MLFLOW_IMAGE: process.env.ARTIFACTS_IT_MLFLOW_IMAGE ?? '',
      ARTIFACTS_IT_MLFLOW_PYTHON: mlflowClientCommand('python', ctx.stateDir),
      ARTIFACTS_IT_MLFLOW_BIN: mlflowClientCommand('mlflow', ctx.stateDir),
    },
    pids: [],
    processes: () => server.processes(),
    logFile: ctx.logFile,
    stop: () => server.stop(),
    restart: () => server.restart(),
  };
}
