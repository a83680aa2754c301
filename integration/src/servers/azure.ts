/**
 * Azure Blob: Azurite from npm (a dependency of @artifacts/integration, so `pnpm install` is the
 * install step). Runs `azurite-blob` on 127.0.0.1:<free port> with its data under stateDir; creates
 * the container `artifacts-it`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { engine, startServerContainer, urlHost } from '../containers.js';
import { serverImage } from '../images.js';
import type { LaunchContext, Launcher, RunningServer } from '../types.js';
import { freePort, httpStatus, ManagedProcess, ServerError, waitForHttp } from '../util.js';

const require = createRequire(import.meta.url);
export const ACCOUNT = 'devstoreaccount1';
/** Azurite's well-known development account key (public, documented by Microsoft). */
export const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
export const CONTAINER = 'artifacts-it';

function azuritePackage(): { dir: string; version: string; blobBin: string } {
  const pkgFile = require.resolve('azurite/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string; bin: Record<string, string> };
  const rel = pkg.bin['azurite-blob'];
  if (!rel) throw new ServerError('the azurite package has no azurite-blob bin');
  return { dir: dirname(pkgFile), version: pkg.version, blobBin: join(dirname(pkgFile), rel) };
}

function envFor(endpoint: string, accountKey = ACCOUNT_KEY, account = ACCOUNT): Record<string, string> {
  return {
    ARTIFACTS_IT_AZURE_URI: `wasbs://${CONTAINER}@${account}.blob.core.windows.net/root`,
    AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${accountKey};BlobEndpoint=${endpoint};`,
    ARTIFACTS_IT_AZURE_BLOB_ENDPOINT: endpoint,
    ARTIFACTS_IT_AZURE_ACCOUNT: account,
    ARTIFACTS_IT_AZURE_ACCOUNT_KEY: accountKey,
    ARTIFACTS_IT_AZURE_CONTAINER: CONTAINER,
  };
}

async function createContainer(connectionString: string): Promise<void> {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const svc = BlobServiceClient.fromConnectionString(connectionString);
  await svc.getContainerClient(CONTAINER).createIfNotExists();
}

export const launcher: Launcher = {
  name: 'azure',
  get version() {
    return azuritePackage().version;
  },

  async install() {
    // an npm dependency: present after `pnpm install`
    try {
      azuritePackage();
    } catch (err) {
      throw new ServerError(`azurite is not installed (run pnpm install): ${(err as Error).message}`);
    }
  },

  async start(ctx: LaunchContext): Promise<RunningServer> {
    const { blobBin } = azuritePackage();
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
    const mp = new ManagedProcess({
      what: 'azurite-blob',
      command: process.execPath,
      args: [
        blobBin,
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--location',
        join(ctx.stateDir, 'data'),
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--loose',
      ],
      logFile: ctx.logFile,
      ports: [port],
      // Azurite answers 400 (no account/container query) on its root once it listens
      ready: (proc) =>
        waitForHttp(`http://127.0.0.1:${port}/`, {
          proc,
          accept: (s) => s > 0,
          timeoutMs: 60_000,
          what: 'azurite',
        }),
    });
    await mp.start();
    const env = envFor(endpoint);
    try {
      await createContainer(env.AZURE_STORAGE_CONNECTION_STRING as string);
    } catch (err) {
      await mp.stop();
      throw new ServerError(`azurite: creating container ${CONTAINER} failed: ${(err as Error).message}`);
    }
    return {
      name: 'azure',
      mode: 'native',
      env,
      pids: mp.pids,
      logFile: ctx.logFile,
      stop: () => mp.stop(),
      restart: () => mp.restart(),
    };
  },

  async startContainer(ctx: LaunchContext): Promise<RunningServer> {
    // the native command line in a container of the Azurite image (local build or official)
    const eng = await engine();
    const port = await freePort();
    const endpoint = `http://${urlHost(eng.host)}:${port}/${ACCOUNT}`;
    const c = await startServerContainer({
      server: 'azure',
      what: 'azurite-blob',
      image: await serverImage('azure'),
      entrypoint: ['azurite-blob'],
      command: [
        '--blobHost',
        eng.bindHost,
        '--blobPort',
        String(port),
        '--location',
        join(ctx.stateDir, 'data'),
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--loose',
      ],
      ports: [port],
      binds: [ctx.stateDir],
      logFile: ctx.logFile,
      // Azurite answers 400 (no account/container query) on its root once it listens
      ready: async () => (await httpStatus(`http://${urlHost(eng.host)}:${port}/`)) > 0,
    });
    const env = envFor(endpoint);
    try {
      await createContainer(env.AZURE_STORAGE_CONNECTION_STRING as string);
    } catch (err) {
      await c.stop();
      throw new ServerError(`azurite: creating container ${CONTAINER} failed: ${(err as Error).message}`);
    }
    return {
      name: 'azure',
      mode: 'containers',
      env,
      pids: [],
      processes: () => c.processes(),
      logFile: ctx.logFile,
      stop: () => c.stop(),
      restart: () => c.restart(),
    };
  },
};
