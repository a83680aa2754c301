/**
 * GCS: fake-gcs-server, built with `go install` into the cache (keyed by version). Memory backend,
 * plain HTTP on 127.0.0.1:<free port>; creates the bucket `artifacts-it`. No restart(): the memory
 * backend would lose the objects, and the object-store suites do not need it.
 *
 * Node client: `new Storage({ apiEndpoint: ARTIFACTS_IT_GCS_ENDPOINT, projectId: GOOGLE_CLOUD_PROJECT })`.
 * STORAGE_EMULATOR_HOST is exported too because backends read it, but nodejs-storage derives its
 * upload URL wrongly from it (nodejs-storage issue 2069): pass apiEndpoint explicitly.
 */
import { join } from 'node:path';
import { engine, startServerContainer, urlHost } from '../containers.js';
import { serverImage } from '../images.js';
import type { LaunchContext, Launcher, RunningServer } from '../types.js';
import {
  cacheDirFor,
  freePort,
  type GoBuild,
  goInstall,
  httpStatus,
  ManagedProcess,
  ServerError,
  waitForHttp,
} from '../util.js';

export const FAKE_GCS_MODULE = 'github.com/fsouza/fake-gcs-server';
export const FAKE_GCS_VERSION = 'v1.55.1';
export const BUCKET = 'artifacts-it';
export const PROJECT = 'test';

function envFor(endpoint: string): Record<string, string> {
  return {
    ARTIFACTS_IT_GCS_URI: `gs://${BUCKET}/root`,
    ARTIFACTS_IT_GCS_ENDPOINT: endpoint,
    ARTIFACTS_IT_GCS_BUCKET: BUCKET,
    STORAGE_EMULATOR_HOST: endpoint,
    GOOGLE_CLOUD_PROJECT: PROJECT,
  };
}

async function createBucket(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/storage/v1/b?project=${PROJECT}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: BUCKET }),
  });
  if (!res.ok && res.status !== 409) {
    throw new ServerError(
      `fake-gcs-server: creating bucket ${BUCKET}: HTTP ${res.status} ${await res.text()}`,
    );
  }
}

/** What `go install` builds for fake-gcs-server, and where the binary goes. */
export function fakeGcsBuild(): GoBuild {
  return {
    pkg: FAKE_GCS_MODULE,
    version: FAKE_GCS_VERSION,
    installDir: cacheDirFor('fake-gcs-server', FAKE_GCS_VERSION),
    binary: 'fake-gcs-server',
  };
}

export const launcher: Launcher = {
  name: 'gcs',
  version: FAKE_GCS_VERSION,

  async install(ctx) {
    await goInstall({ ...fakeGcsBuild(), logFile: ctx.logFile });
  },

  async start(ctx: LaunchContext): Promise<RunningServer> {
    const bin = join(cacheDirFor('fake-gcs-server', FAKE_GCS_VERSION), 'bin', 'fake-gcs-server');
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const mp = new ManagedProcess({
      what: 'fake-gcs-server',
      command: bin,
      args: [
        '-scheme',
        'http',
        '-host',
        '127.0.0.1',
        '-port',
        String(port),
        '-backend',
        'memory',
        '-public-host',
        `127.0.0.1:${port}`,
        '-external-url',
        endpoint,
        '-log-level',
        'info',
      ],
      cwd: ctx.stateDir,
      logFile: ctx.logFile,
      ports: [port],
      ready: (proc) =>
        waitForHttp(`${endpoint}/_internal/healthcheck`, {
          proc,
          timeoutMs: 60_000,
          what: 'fake-gcs-server',
        }),
    });
    await mp.start();
    try {
      await createBucket(endpoint);
    } catch (err) {
      await mp.stop();
      throw err;
    }
    return {
      name: 'gcs',
      mode: 'native',
      env: envFor(endpoint),
      pids: mp.pids,
      logFile: ctx.logFile,
      stop: () => mp.stop(),
    };
  },

  async startContainer(ctx: LaunchContext): Promise<RunningServer> {
    // the native command line in a container of the fake-gcs-server image (local build or official)
    const eng = await engine();
    const port = await freePort();
    const endpoint = `http://${urlHost(eng.host)}:${port}`;
    const c = await startServerContainer({
      server: 'gcs',
      what: 'fake-gcs-server',
      image: await serverImage('gcs'),
      entrypoint: ['/bin/fake-gcs-server'],
      command: [
        '-scheme',
        'http',
        '-host',
        eng.bindHost,
        '-port',
        String(port),
        '-backend',
        'memory',
        '-public-host',
        `${urlHost(eng.host)}:${port}`,
        '-external-url',
        endpoint,
        '-log-level',
        'info',
      ],
      ports: [port],
      logFile: ctx.logFile,
      ready: async () => (await httpStatus(`${endpoint}/_internal/healthcheck`)) === 200,
    });
    try {
      await createBucket(endpoint);
    } catch (err) {
      await c.stop();
      throw err;
    }
    return {
      name: 'gcs',
      mode: 'containers',
      env: envFor(endpoint),
      pids: [],
      processes: () => c.processes(),
      logFile: ctx.logFile,
      stop: () => c.stop(),
    };
  },
};
