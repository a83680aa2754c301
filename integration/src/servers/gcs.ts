/**
 * GCS: fake-gcs-server, built with `go install` into the cache (keyed by version). Two instances,
 * memory backend, each with the bucket `artifacts-it`: plain HTTP on 127.0.0.1:<free port> (every
 * suite), and HTTPS (`-scheme https`) with a self-signed certificate for 127.0.0.1 generated into
 * stateDir, for "an untrusted certificate fails / trusting it with the CA option works"
 * (`ARTIFACTS_IT_GCS_TLS_ENDPOINT`, `ARTIFACTS_IT_GCS_CA_FILE`). No restart(): the memory backend
 * would lose the objects, and the object-store suites do not need it.
 *
 * Node client: `new Storage({ apiEndpoint: ARTIFACTS_IT_GCS_ENDPOINT, projectId: GOOGLE_CLOUD_PROJECT })`.
 * STORAGE_EMULATOR_HOST is exported too because backends read it, but nodejs-storage derives its
 * upload URL wrongly from it (nodejs-storage issue 2069): pass apiEndpoint explicitly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedCert } from '../certs.js';
import { engine, startServerContainer, urlHost } from '../containers.js';
import { serverImage } from '../images.js';
import type { LaunchContext, Launcher, RunningServer } from '../types.js';
import {
  cacheDirFor,
  freePorts,
  type GoBuild,
  goInstall,
  httpStatus,
  ManagedProcess,
  ServerError,
  started,
  startInstances,
  waitForHttp,
} from '../util.js';

export const FAKE_GCS_MODULE = 'github.com/fsouza/fake-gcs-server';
export const FAKE_GCS_VERSION = 'v1.55.1';
export const BUCKET = 'artifacts-it';
export const PROJECT = 'test';

function envFor(endpoint: string, tls: { endpoint: string; ca: string }): Record<string, string> {
  return {
    ARTIFACTS_IT_GCS_TLS_ENDPOINT: tls.endpoint,
    ARTIFACTS_IT_GCS_CA_FILE: tls.ca,
    ARTIFACTS_IT_GCS_URI: `gs://${BUCKET}/root`,
    ARTIFACTS_IT_GCS_ENDPOINT: endpoint,
    ARTIFACTS_IT_GCS_BUCKET: BUCKET,
    STORAGE_EMULATOR_HOST: endpoint,
    GOOGLE_CLOUD_PROJECT: PROJECT,
  };
}

/** Creates the bucket at `endpoint`; `ca` trusts a TLS instance's certificate. */
async function createBucket(endpoint: string, ca?: string): Promise<void> {
  const { request } = (await import(
    endpoint.startsWith('https:') ? 'node:https' : 'node:http'
  )) as typeof import('node:http');
  const body = JSON.stringify({ name: BUCKET });
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      `${endpoint}/storage/v1/b?project=${PROJECT}`,
      { method: 'POST', headers: { 'content-type': 'application/json' }, ...(ca ? { ca } : {}) },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text })).on('error', reject);
      },
    );
    req.on('error', reject).end(body);
  });
  if ((status < 200 || status >= 300) && status !== 409) {
    throw new ServerError(`fake-gcs-server: creating bucket ${BUCKET}: HTTP ${status} ${text}`);
  }
}

/** fake-gcs-server's arguments for one instance (`tls`: its certificate and key). */
function fakeGcsArgs(bind: string, host: string, port: number, tls?: { certFile: string; keyFile: string }) {
  const url = `${tls ? 'https' : 'http'}://${host}:${port}`;
  return [
    '-scheme',
    tls ? 'https' : 'http',
    '-host',
    bind,
    '-port',
    String(port),
    '-backend',
    'memory',
    '-public-host',
    `${host}:${port}`,
    '-external-url',
    url,
    '-log-level',
    'info',
    ...(tls ? ['-cert-location', tls.certFile, '-private-key-location', tls.keyFile] : []),
  ];
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
    const [port, tlsPort] = (await freePorts(2)) as [number, number];
    const endpoint = `http://127.0.0.1:${port}`;
    const tlsEndpoint = `https://127.0.0.1:${tlsPort}`;
    const cert = selfSignedCert(join(ctx.stateDir, 'certs'));
    const ca = readFileSync(cert.certFile, 'utf8');
    const instance = (what: string, url: string, p: number, tls?: typeof cert) =>
      new ManagedProcess({
        what,
        command: bin,
        args: fakeGcsArgs('127.0.0.1', '127.0.0.1', p, tls),
        cwd: ctx.stateDir,
        logFile: ctx.logFile,
        ports: [p],
        ready: (proc) =>
          waitForHttp(`${url}/_internal/healthcheck`, {
            proc,
            timeoutMs: 60_000,
            what,
            ...(tls ? { ca } : {}),
          }),
      });
    const plain = instance('fake-gcs-server', endpoint, port);
    const secure = instance('fake-gcs-server (https)', tlsEndpoint, tlsPort, cert);
    const both = await startInstances([started(plain), started(secure)], () =>
      Promise.all([createBucket(endpoint), createBucket(tlsEndpoint, ca)]),
    );
    return {
      name: 'gcs',
      mode: 'native',
      env: envFor(endpoint, { endpoint: tlsEndpoint, ca: cert.certFile }),
      pids: [...plain.pids, ...secure.pids],
      logFile: ctx.logFile,
      stop: both.stop,
    };
  },

  async startContainer(ctx: LaunchContext): Promise<RunningServer> {
    // the native command lines in containers of the fake-gcs-server image (local build or official)
    const eng = await engine();
    const host = urlHost(eng.host);
    const [port, tlsPort] = (await freePorts(2)) as [number, number];
    const endpoint = `http://${host}:${port}`;
    const tlsEndpoint = `https://${host}:${tlsPort}`;
    const cert = selfSignedCert(join(ctx.stateDir, 'certs'), { host: eng.host });
    const ca = readFileSync(cert.certFile, 'utf8');
    const image = await serverImage('gcs');
    const run = (what: string, url: string, p: number, tls?: typeof cert) =>
      startServerContainer({
        server: 'gcs',
        what,
        image,
        entrypoint: ['/bin/fake-gcs-server'],
        command: fakeGcsArgs(eng.bindHost, host, p, tls),
        ports: [p],
        ...(tls ? { binds: [ctx.stateDir] } : {}),
        logFile: ctx.logFile,
        ready: async () => (await httpStatus(`${url}/_internal/healthcheck`, tls ? ca : undefined)) === 200,
      });
    const containers = await startInstances(
      [
        () => run('fake-gcs-server', endpoint, port),
        () => run('fake-gcs-server (https)', tlsEndpoint, tlsPort, cert),
      ],
      () => Promise.all([createBucket(endpoint), createBucket(tlsEndpoint, ca)]),
    );
    return {
      name: 'gcs',
      mode: 'containers',
      env: envFor(endpoint, { endpoint: tlsEndpoint, ca: cert.certFile }),
      pids: [],
      processes: () => containers.instances.flatMap((c) => c.processes()),
      logFile: ctx.logFile,
      stop: containers.stop,
    };
  },
};
