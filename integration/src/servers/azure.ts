/**
 * Azure Blob: Azurite from npm (a dependency of @artifacts/integration, so `pnpm install` is the
 * install step). Two `azurite-blob` instances, each with its data under stateDir and the container
 * `artifacts-it`:
 *  - plain HTTP on 127.0.0.1:<free port> (every suite);
 *  - HTTPS (`--cert/--key`) with a self-signed certificate for 127.0.0.1 generated into stateDir, for
 *    "an untrusted certificate fails / trusting it with the CA option works"
 *    (`ARTIFACTS_IT_AZURE_TLS_ENDPOINT`, `ARTIFACTS_IT_AZURE_CA_FILE`).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { selfSignedCert } from '../certs.js';
import { engine, startServerContainer, urlHost } from '../containers.js';
import { serverImage } from '../images.js';
import type { LaunchContext, Launcher, RunningServer } from '../types.js';
import {
  freePorts,
  httpStatus,
  ManagedProcess,
  ServerError,
  started,
  startInstances,
  waitForHttp,
} from '../util.js';

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

function envFor(endpoint: string, tls: { endpoint: string; ca: string }): Record<string, string> {
  const account = ACCOUNT;
  const accountKey = ACCOUNT_KEY;
  return {
    ARTIFACTS_IT_AZURE_TLS_ENDPOINT: tls.endpoint,
    ARTIFACTS_IT_AZURE_CA_FILE: tls.ca,
    ARTIFACTS_IT_AZURE_URI: `wasbs://${CONTAINER}@${account}.blob.core.windows.net/root`,
    AZURE_STORAGE_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${account};AccountKey=${accountKey};BlobEndpoint=${endpoint};`,
    ARTIFACTS_IT_AZURE_BLOB_ENDPOINT: endpoint,
    ARTIFACTS_IT_AZURE_ACCOUNT: account,
    ARTIFACTS_IT_AZURE_ACCOUNT_KEY: accountKey,
    ARTIFACTS_IT_AZURE_CONTAINER: CONTAINER,
  };
}

/** Creates the container at `endpoint`; `ca` trusts a TLS instance's certificate. */
async function createContainer(endpoint: string, ca?: string): Promise<void> {
  const { BlobServiceClient, StorageSharedKeyCredential } = await import('@azure/storage-blob');
  // `tlsOptions` reaches the SDK's core pipeline (its TLS policy) though its type does not declare it.
  const options = ca ? ({ tlsOptions: { ca } } as object) : {};
  const svc = new BlobServiceClient(endpoint, new StorageSharedKeyCredential(ACCOUNT, ACCOUNT_KEY), options);
  await svc.getContainerClient(CONTAINER).createIfNotExists();
}

/** Azurite's arguments for one instance (`tls`: its certificate and key). */
function azuriteArgs(
  host: string,
  port: number,
  location: string,
  tls?: { certFile: string; keyFile: string },
) {
  return [
    '--blobHost',
    host,
    '--blobPort',
    String(port),
    '--location',
    location,
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--loose',
    ...(tls ? ['--cert', tls.certFile, '--key', tls.keyFile] : []),
  ];
}

const createFailed = (err: Error) =>
  new ServerError(`azurite: creating container ${CONTAINER} failed: ${err.message}`);

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
    const [port, tlsPort] = (await freePorts(2)) as [number, number];
    const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
    const tlsEndpoint = `https://127.0.0.1:${tlsPort}/${ACCOUNT}`;
    const cert = selfSignedCert(join(ctx.stateDir, 'certs'));
    const ca = readFileSync(cert.certFile, 'utf8');
    const instance = (what: string, p: number, data: string, tls?: typeof cert) =>
      new ManagedProcess({
        what,
        command: process.execPath,
        args: [blobBin, ...azuriteArgs('127.0.0.1', p, join(ctx.stateDir, data), tls)],
        logFile: ctx.logFile,
        ports: [p],
        // Azurite answers 400 (no account/container query) on its root once it listens
        ready: (proc) =>
          waitForHttp(`${tls ? 'https' : 'http'}://127.0.0.1:${p}/`, {
            proc,
            accept: (s) => s > 0,
            timeoutMs: 60_000,
            what,
            ...(tls ? { ca } : {}),
          }),
      });
    const plain = instance('azurite-blob', port, 'data');
    const secure = instance('azurite-blob (https)', tlsPort, 'data-tls', cert);
    const both = await startInstances(
      [started(plain), started(secure)],
      () => Promise.all([createContainer(endpoint), createContainer(tlsEndpoint, ca)]),
      createFailed,
    );
    const pids: number[] = [];
    const syncPids = () => pids.splice(0, pids.length, ...plain.pids, ...secure.pids);
    syncPids();
    return {
      name: 'azure',
      mode: 'native',
      env: envFor(endpoint, { endpoint: tlsEndpoint, ca: cert.certFile }),
      pids,
      logFile: ctx.logFile,
      stop: both.stop,
      async restart() {
        await both.restart();
        syncPids();
      },
    };
  },

  async startContainer(ctx: LaunchContext): Promise<RunningServer> {
    // the native command lines in containers of the Azurite image (local build or official)
    const eng = await engine();
    const host = urlHost(eng.host);
    const [port, tlsPort] = (await freePorts(2)) as [number, number];
    const endpoint = `http://${host}:${port}/${ACCOUNT}`;
    const tlsEndpoint = `https://${host}:${tlsPort}/${ACCOUNT}`;
    const cert = selfSignedCert(join(ctx.stateDir, 'certs'), { host: eng.host });
    const ca = readFileSync(cert.certFile, 'utf8');
    const image = await serverImage('azure');
    const run = (what: string, p: number, data: string, tls?: typeof cert) =>
      startServerContainer({
        server: 'azure',
        what,
        image,
        entrypoint: ['azurite-blob'],
        command: azuriteArgs(eng.bindHost, p, join(ctx.stateDir, data), tls),
        ports: [p],
        binds: [ctx.stateDir],
        logFile: ctx.logFile,
        // Azurite answers 400 (no account/container query) on its root once it listens
        ready: async () =>
          (await httpStatus(`${tls ? 'https' : 'http'}://${host}:${p}/`, tls ? ca : undefined)) > 0,
      });
    const containers = await startInstances(
      [() => run('azurite-blob', port, 'data'), () => run('azurite-blob (https)', tlsPort, 'data-tls', cert)],
      () => Promise.all([createContainer(endpoint), createContainer(tlsEndpoint, ca)]),
      createFailed,
    );
    return {
      name: 'azure',
      mode: 'containers',
      env: envFor(endpoint, { endpoint: tlsEndpoint, ca: cert.certFile }),
      pids: [],
      processes: () => containers.instances.flatMap((c) => c.processes()),
      logFile: ctx.logFile,
      stop: containers.stop,
      restart: containers.restart,
    };
  },
};
