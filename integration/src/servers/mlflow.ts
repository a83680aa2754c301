/**
 * MLflow itself (PyPI), for compatibility tests: a venv in the cache with `mlflow` (the full package;
 * mlflow-skinny lacks the server) and `boto3` (so MLflow can reach an s3:// MinIO location).
 *
 * The launcher runs `mlflow server --artifacts-only` over a local destination in the state directory.
 * `startMlflowServer` starts one over any destination (e.g. s3://bucket/prefix with
 * MLFLOW_S3_ENDPOINT_URL and AWS_* in `env`) for the proxy-server suites, and with `tracking` a full
 * tracking server (SQLite backend store) that either stores runs' artifacts straight to a location
 * (`--no-serve-artifacts --default-artifact-root s3://…`) or proxies them (`--serve-artifacts`,
 * run roots `mlflow-artifacts:/…`).
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { containerModeSelected, resolveMode } from '../mode.js';
import type { LaunchContext, Launcher, RunningServer } from '../types.js';
import {
  appendLog,
  cacheRoot,
  freePort,
  killProcessGroup,
  runLogged,
  ServerError,
  type SpawnedProcess,
  spawnLogged,
  waitForHttp,
  waitForPortClosed,
  withLock,
} from '../util.js';
import { mlflowClientCommand, startMlflowServerContainer } from './mlflow-container.js';

export const MLFLOW_VERSION = '3.18.0';
/**
 * MLflow 3.18.0's wheel is on PyPI but the mlflow-skinny and mlflow-tracing 3.18.0 it pins are not
 * (yet) installable from it, so the venv gets the dependency set of this release first and the
 * 3.18.0 wheel on top with --no-deps. The full `mlflow` wheel holds every module of skinny and
 * tracing, so nothing of the older release is imported. When `pip install mlflow==3.18.0` resolves,
 * that is used instead.
 */
export const DEPENDENCIES_FROM = '3.17.2';
export const BOTO3_VERSION = '1.44.5';
/**
 * The venv's packages are installed with uv (from PyPI, into `uv-<version>/` of the cache with pip's
 * `--target`), not pip: the same wheels from the same index, but a cold install took 941 s of wall
 * and 174 CPU-s with pip (resolving, unpacking and byte-compiling some 90 wheels), 479 s and 99 CPU-s
 * with uv (`nice 10`, load 13–28, empty caches). When uv cannot be installed, pip does it as before.
 */
export const UV_VERSION = '0.13.8';

/**
 * MLflow's Python and `mlflow` command for tests (running its client, `mlflow gc`): the cached venv's,
 * or in container mode scripts that run the mlflow image's (see mlflow-container.ts; `dir` is then the
 * venv's path inside the image).
 */
export function mlflowVenv(cacheDir: string = cacheRoot()): { dir: string; python: string; mlflow: string } {
  if (containerModeSelected()) {
    return {
      dir: '/opt/mlflow',
      python: mlflowClientCommand('python'),
      mlflow: mlflowClientCommand('mlflow'),
    };
  }
  const dir = join(cacheDir, `mlflow-${MLFLOW_VERSION}`, 'venv');
  return { dir, python: join(dir, 'bin', 'python'), mlflow: join(dir, 'bin', 'mlflow') };
}

async function install(ctx: { cacheDir: string; logFile: string }): Promise<void> {
  const venv = mlflowVenv(ctx.cacheDir);
  const marker = join(dirname(venv.dir), 'complete');
  if (existsSync(marker)) return;
  await withLock(dirname(venv.dir), async () => {
    if (existsSync(marker)) return;
    const started = Date.now();
    // a venv is not relocatable: build it in place, marked complete only at the end
    await rm(venv.dir, { recursive: true, force: true });
    await mkdir(dirname(venv.dir), { recursive: true });
    const python = process.env.ARTIFACTS_IT_PYTHON ?? 'python3';
    appendLog(ctx.logFile, `creating the MLflow ${MLFLOW_VERSION} venv in ${venv.dir} with ${python}\n`);
    await runLogged(python, ['-m', 'venv', venv.dir], { logFile: ctx.logFile, timeoutMs: 5 * 60_000 });
    const pipCommand = (...args: string[]) =>
      runLogged(venv.python, ['-m', 'pip', '--disable-pip-version-check', '--no-input', ...args], {
        logFile: ctx.logFile,
        timeoutMs: 30 * 60_000,
      });
    const uv = await installUv(venv.python, ctx).catch((error: Error) => {
      appendLog(ctx.logFile, `uv not available (${error.message.split('\n')[0]}); installing with pip\n`);
      return undefined;
    });
    // `uv pip` takes pip's arguments for what is used here, and the venv's interpreter to install into;
    // it compiles the installed modules as pip does (`--compile-bytecode`), or the first `mlflow server`
    // would compile its imports while a test waits for it to answer (4 minutes at load 27, not 1 s)
    const pip = uv
      ? (command: string, ...args: string[]) =>
          runLogged(
            uv,
            [
              'pip',
              command,
              ...(command === 'install' ? ['--compile-bytecode'] : []),
              ...args,
              '--python',
              venv.python,
            ],
            {
              logFile: ctx.logFile,
              timeoutMs: 30 * 60_000,
            },
          )
      : pipCommand;
    try {
      await pip('install', '--quiet', `mlflow==${MLFLOW_VERSION}`, `boto3==${BOTO3_VERSION}`);
    } catch {
      appendLog(
        ctx.logFile,
        `mlflow==${MLFLOW_VERSION} does not resolve (its mlflow-skinny/mlflow-tracing pins); installing ${DEPENDENCIES_FROM}'s dependencies and the ${MLFLOW_VERSION} wheel over them\n`,
      );
      await pip('install', '--quiet', `mlflow==${DEPENDENCIES_FROM}`, `boto3==${BOTO3_VERSION}`);
      // (pip asks before it uninstalls unless told --yes; uv never asks and has no such flag)
      await pip(
        'uninstall',
        '--quiet',
        ...(uv ? [] : ['--yes']),
        'mlflow',
        'mlflow-skinny',
        'mlflow-tracing',
      );
      await pip('install', '--quiet', '--no-deps', `mlflow==${MLFLOW_VERSION}`);
    }
    await runLogged(
      venv.python,
      [
        '-c',
        `import mlflow, mlflow.server; assert mlflow.__version__ == "${MLFLOW_VERSION}", mlflow.__version__`,
      ],
      { logFile: ctx.logFile, timeoutMs: 5 * 60_000 },
    );
    await writeFile(marker, `${new Date().toISOString()}\n`);
    appendLog(
      ctx.logFile,
      `installed MLflow ${MLFLOW_VERSION} in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  });
}

/** uv's binary, installed once into the cache from PyPI with the venv's pip (`--target`, no venv of its own). */
async function installUv(python: string, ctx: { cacheDir: string; logFile: string }): Promise<string> {
  const dir = join(ctx.cacheDir, `uv-${UV_VERSION}`);
  const bin = join(dir, 'bin', 'uv');
  const marker = join(dir, 'complete');
  if (existsSync(marker)) return bin;
  await withLock(dir, async () => {
    if (existsSync(marker)) return;
    await rm(join(dir, 'target'), { recursive: true, force: true });
    await runLogged(
      python,
      [
        '-m',
        'pip',
        '--disable-pip-version-check',
        '--no-input',
        'install',
        '--quiet',
        '--target',
        join(dir, 'target'),
        `uv==${UV_VERSION}`,
      ],
      { logFile: ctx.logFile, timeoutMs: 10 * 60_000 },
    );
    await rm(join(dir, 'bin'), { recursive: true, force: true });
    await rename(join(dir, 'target', 'bin'), join(dir, 'bin'));
    await runLogged(bin, ['--version'], { logFile: ctx.logFile, timeoutMs: 60_000 });
    await writeFile(marker, `${new Date().toISOString()}\n`);
  });
  return bin;
}

/** A full tracking server (instead of `--artifacts-only`). */
export interface MlflowTrackingOptions {
  /** `--backend-store-uri`, e.g. `sqlite:////abs/path/mlflow.db`. */
  backendStoreUri: string;
  /**
   * `proxy`: `--serve-artifacts` with `destination` as `--artifacts-destination` (run roots are
   * `mlflow-artifacts:/…`); `direct`: `--no-serve-artifacts --default-artifact-root <destination>`
   * (clients read and write the storage themselves).
   */
  artifacts: 'proxy' | 'direct';
}

export interface MlflowServerOptions {
  /**
   * --artifacts-destination (or, for a `direct` tracking server, --default-artifact-root): a local
   * directory or any URI MLflow supports (s3://…, …).
   */
  destination: string;
  /** Run a tracking server (SQLite or another backend store) instead of `--artifacts-only`. */
  tracking?: MlflowTrackingOptions;
  /** Extra environment for the server (MLFLOW_S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …). */
  env?: Record<string, string>;
  logFile: string;
  /** More `mlflow server` arguments. */
  extraArgs?: string[];
  /** Working directory (MLflow may create files there); default: the log file's directory. */
  cwd?: string;
  /** Reuse this port (restart); default: a free one. */
  port?: number;
  /** Install cache root; default `${XDG_CACHE_HOME:-~/.cache}/artifacts-it`. */
  cacheDir?: string;
}

export interface MlflowServer {
  /** `http://127.0.0.1:PORT` (the tracking URI; in container mode the engine's host). */
  url: string;
  port: number;
  /** The server's process (native mode only). */
  pid?: number;
  stop(): Promise<void>;
}

export function serverModeArgs(opts: MlflowServerOptions): string[] {
  if (!opts.tracking) return ['--artifacts-only', '--artifacts-destination', opts.destination];
  const store = ['--backend-store-uri', opts.tracking.backendStoreUri];
  if (opts.tracking.artifacts === 'proxy') {
    return [...store, '--serve-artifacts', '--artifacts-destination', opts.destination];
  }
  return [...store, '--no-serve-artifacts', '--default-artifact-root', opts.destination];
}

/**
 * Starts `mlflow server --artifacts-only` (or, with `tracking`, a tracking server) on a free 127.0.0.1 port (installing MLflow first if the
 * cache has none) and waits for GET /health.
 */
export async function startMlflowServer(opts: MlflowServerOptions): Promise<MlflowServer> {
  if ((await resolveMode()) === 'containers') return startMlflowServerContainer(opts, serverModeArgs(opts));
  const cacheDir = opts.cacheDir ?? cacheRoot();
  await install({ cacheDir, logFile: opts.logFile });
  const venv = mlflowVenv(cacheDir);
  const port = opts.port ?? (await freePort());
  const cwd = opts.cwd ?? dirname(opts.logFile);
  await mkdir(cwd, { recursive: true });
  if (!/^[a-z][a-z0-9+.-]*:/i.test(opts.destination)) await mkdir(opts.destination, { recursive: true });
  const proc: SpawnedProcess = spawnLogged(
    venv.mlflow,
    [
      'server',
      ...serverModeArgs(opts),
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      // one worker: each imports all of MLflow (seconds of CPU on a 2-core machine); a later
      // `--workers N` in extraArgs wins
      '--workers',
      '1',
      ...(opts.extraArgs ?? []),
    ],
    {
      logFile: opts.logFile,
      cwd,
      extraEnv: {
        MLFLOW_DISABLE_TELEMETRY: 'true',
        // no background job runner: it starts extra processes (and, artifacts-only, a sqlite database
        // it never uses)
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
        DO_NOT_TRACK: 'true',
        PYTHONUNBUFFERED: '1',
        ...(opts.env ?? {}),
      },
    },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    // importing MLflow takes seconds on an idle 2-core machine, a minute or more on a loaded one
    await waitForHttp(`${url}/health`, { proc, what: `mlflow server on ${url}`, timeoutMs: 300_000 });
  } catch (err) {
    await killProcessGroup(proc.pid);
    throw err;
  }
  return {
    url,
    port,
    pid: proc.pid,
    async stop() {
      await killProcessGroup(proc.pid);
      await waitForPortClosed(port, { logFile: opts.logFile });
    },
  };
}

async function start(ctx: LaunchContext): Promise<RunningServer> {
  await install(ctx);
  const venv = mlflowVenv(ctx.cacheDir);
  const destination = join(ctx.stateDir, 'mlartifacts');
  const base = { destination, logFile: ctx.logFile, cwd: ctx.stateDir, cacheDir: ctx.cacheDir };
  let server = await startMlflowServer(base);
  const url = server.url;
  if (!url.startsWith('http://127.0.0.1:')) throw new ServerError(`unexpected MLflow URL ${url}`);
  return {
    name: 'mlflow',
    env: {
      ARTIFACTS_IT_MLFLOW_TRACKING_URI: url,
      ARTIFACTS_IT_MLFLOW_URI: `${url}/api/2.0/mlflow-artifacts/artifacts`,
      ARTIFACTS_IT_MLFLOW_ARTIFACTS_DESTINATION: destination,
      ARTIFACTS_IT_MLFLOW_PYTHON: venv.python,
      ARTIFACTS_IT_MLFLOW_BIN: venv.mlflow,
    },
    get pids() {
      return server.pid === undefined ? [] : [server.pid];
    },
    logFile: ctx.logFile,
    stop: () => server.stop(),
    async restart() {
      appendLog(ctx.logFile, '--- restart ---\n');
      await server.stop();
      server = await startMlflowServer({ ...base, port: server.port });
    },
  };
}

export const launcher: Launcher = { name: 'mlflow', install, start };
