/**
 * S3: MinIO, built with `go install` into the cache (keyed by version). Two instances:
 *  - plain HTTP on 127.0.0.1:P (bucket `artifacts-it`, a static KMS key so SSE-S3 / SSE-KMS work);
 *  - HTTPS on 127.0.0.1:P3 with a self-signed certificate for IP 127.0.0.1 generated into stateDir
 *    (for "self-signed fails by default / works with AWS_CA_BUNDLE / works with MLFLOW_S3_IGNORE_TLS").
 *
 * Version: the Go module proxy these machines reach serves only MinIO's last commit (the repository
 * stopped in February 2026; its non-semver RELEASE.* tags are refused), so the pin is that commit's
 * pseudo-version, which is the RELEASE.2025-10-15T17-29-55Z code line plus its last fixes.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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
  waitUntil,
} from '../util.js';

export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';
export const BUCKET = 'artifacts-it';
export const KMS_KEY_ID = 'artifacts-it-key';
const ACCESS_KEY = 'artifacts-it';

function minioBin(): string {
  return join(cacheDirFor('minio', MINIO_VERSION), 'bin', 'minio');
}

/** Self-signed certificate for `host` (+ DNS:localhost) as MinIO's certs dir expects it. */
function makeCert(certsDir: string, host = '127.0.0.1'): string {
  return selfSignedCert(certsDir, { host, keyName: 'private.key', certName: 'public.crt' }).certFile;
}

async function createBucket(endpoint: string, secret: string, ca?: string): Promise<void> {
  const { S3Client, CreateBucketCommand, HeadBucketCommand } = await import('@aws-sdk/client-s3');
  // the SDK accepts handler options in place of a handler instance
  const requestHandler = ca ? { httpsAgent: new (await import('node:https')).Agent({ ca }) } : undefined;
  const s3 = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: secret },
    ...(requestHandler ? { requestHandler: requestHandler as never } : {}),
  });
  try {
    await s3.send(new HeadBucketCommand({ Bucket: BUCKET }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } finally {
    s3.destroy();
  }
}

/** What `go install` builds for MinIO, and where the binary goes. */
export function minioBuild(): GoBuild {
  return {
    pkg: MINIO_MODULE,
    version: MINIO_VERSION,
    installDir: cacheDirFor('minio', MINIO_VERSION),
    binary: 'minio',
  };
}

/** The bucket on the http instance and on the https one (whose certificate `caPem` signs). */
async function createBuckets([plain, tls]: [string, string], secret: string, caPem: string): Promise<void> {
  await createBucket(plain, secret);
  await createBucket(tls, secret, caPem);
}

const createFailed = (err: Error) =>
  new ServerError(`minio: creating bucket ${BUCKET} failed: ${err.message}`);

export const launcher: Launcher = {
  name: 's3',
  version: MINIO_VERSION,

  async install(ctx) {
    await goInstall({ ...minioBuild(), logFile: ctx.logFile });
  },

  async start(ctx: LaunchContext): Promise<RunningServer> {
    const bin = minioBin();
    const [port, consolePort, tlsPort, tlsConsolePort] = (await freePorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const secret = randomBytes(18).toString('hex');
    const kmsKey = randomBytes(32).toString('base64');
    const certsPlain = join(ctx.stateDir, 'certs-none');
    await mkdir(certsPlain, { recursive: true });
    const ca = makeCert(join(ctx.stateDir, 'certs'));
    const caPem = readFileSync(ca, 'utf8');
    const minioEnv = {
      MINIO_ROOT_USER: ACCESS_KEY,
      MINIO_ROOT_PASSWORD: secret,
      MINIO_BROWSER: 'off',
      MINIO_CI_CD: '1',
      MINIO_UPDATE: 'off',
      MINIO_KMS_SECRET_KEY: `${KMS_KEY_ID}:${kmsKey}`,
      HOME: ctx.stateDir,
    };
    const live = (url: string, caText?: string) => async () => (await httpStatus(url, caText)) === 200;
    const plain = new ManagedProcess({
      what: 'minio (http)',
      command: bin,
      args: [
        'server',
        join(ctx.stateDir, 'data'),
        '--address',
        `127.0.0.1:${port}`,
        '--console-address',
        `127.0.0.1:${consolePort}`,
        '--certs-dir',
        certsPlain,
        '--quiet',
      ],
      extraEnv: minioEnv,
      logFile: ctx.logFile,
      ports: [port, consolePort],
      ready: (proc) =>
        waitUntil(live(`http://127.0.0.1:${port}/minio/health/live`), {
          proc,
          timeoutMs: 90_000,
          what: 'minio',
        }),
    });
    const tls = new ManagedProcess({
      what: 'minio (https)',
      command: bin,
      args: [
        'server',
        join(ctx.stateDir, 'data-tls'),
        '--address',
        `127.0.0.1:${tlsPort}`,
        '--console-address',
        `127.0.0.1:${tlsConsolePort}`,
        '--certs-dir',
        join(ctx.stateDir, 'certs'),
        '--quiet',
      ],
      extraEnv: minioEnv,
      logFile: ctx.logFile,
      ports: [tlsPort, tlsConsolePort],
      ready: (proc) =>
        waitUntil(live(`https://127.0.0.1:${tlsPort}/minio/health/live`, caPem), {
          proc,
          timeoutMs: 90_000,
          what: 'minio (https)',
        }),
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const tlsEndpoint = `https://127.0.0.1:${tlsPort}`;
    const both = await startInstances(
      [started(plain), started(tls)],
      () => createBuckets([endpoint, tlsEndpoint], secret, caPem),
      createFailed,
    );
    const pids: number[] = [];
    const syncPids = () => pids.splice(0, pids.length, ...plain.pids, ...tls.pids);
    syncPids();
    return {
      name: 's3',
      mode: 'native',
      env: {
        ARTIFACTS_IT_S3_URI: `s3://${BUCKET}/root`,
        ARTIFACTS_IT_S3_BUCKET: BUCKET,
        MLFLOW_S3_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_DEFAULT_REGION: 'us-east-1',
        ARTIFACTS_IT_S3_TLS_ENDPOINT: tlsEndpoint,
        ARTIFACTS_IT_S3_CA_FILE: ca,
        ARTIFACTS_IT_S3_KMS_KEY_ID: KMS_KEY_ID,
      },
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
    // the native command lines, in containers of the MinIO image (local build or the official one)
    const eng = await engine();
    const image = await serverImage('s3');
    const [port, consolePort, tlsPort, tlsConsolePort] = (await freePorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const secret = randomBytes(18).toString('hex');
    const certsPlain = join(ctx.stateDir, 'certs-none');
    await mkdir(certsPlain, { recursive: true });
    const ca = makeCert(join(ctx.stateDir, 'certs'), eng.host);
    const caPem = readFileSync(ca, 'utf8');
    const env = {
      MINIO_ROOT_USER: ACCESS_KEY,
      MINIO_ROOT_PASSWORD: secret,
      MINIO_BROWSER: 'off',
      MINIO_CI_CD: '1',
      MINIO_UPDATE: 'off',
      MINIO_KMS_SECRET_KEY: `${KMS_KEY_ID}:${randomBytes(32).toString('base64')}`,
      HOME: ctx.stateDir,
    };
    const host = urlHost(eng.host);
    const endpoint = `http://${host}:${port}`;
    const tlsEndpoint = `https://${host}:${tlsPort}`;
    const run = (
      what: string,
      data: string,
      p: number,
      cp: number,
      certs: string,
      url: string,
      caText?: string,
    ) =>
      startServerContainer({
        server: 's3',
        what,
        image,
        entrypoint: ['/usr/bin/minio'],
        command: [
          'server',
          join(ctx.stateDir, data),
          '--address',
          `${eng.bindHost}:${p}`,
          '--console-address',
          `${eng.bindHost}:${cp}`,
          '--certs-dir',
          certs,
          '--quiet',
        ],
        env,
        ports: [p, cp],
        binds: [ctx.stateDir],
        logFile: ctx.logFile,
        ready: async () => (await httpStatus(`${url}/minio/health/live`, caText)) === 200,
      });
    const containers = await startInstances(
      [
        () => run('minio (http)', 'data', port, consolePort, certsPlain, endpoint),
        () =>
          run(
            'minio (https)',
            'data-tls',
            tlsPort,
            tlsConsolePort,
            join(ctx.stateDir, 'certs'),
            tlsEndpoint,
            caPem,
          ),
      ],
      () => createBuckets([endpoint, tlsEndpoint], secret, caPem),
      createFailed,
    );
    return {
      name: 's3',
      mode: 'containers',
      env: {
        ARTIFACTS_IT_S3_URI: `s3://${BUCKET}/root`,
        ARTIFACTS_IT_S3_BUCKET: BUCKET,
        MLFLOW_S3_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_DEFAULT_REGION: 'us-east-1',
        ARTIFACTS_IT_S3_TLS_ENDPOINT: tlsEndpoint,
        ARTIFACTS_IT_S3_CA_FILE: ca,
        ARTIFACTS_IT_S3_KMS_KEY_ID: KMS_KEY_ID,
      },
      pids: [],
      processes: () => containers.instances.flatMap((c) => c.processes()),
      logFile: ctx.logFile,
      stop: containers.stop,
      restart: containers.restart,
    };
  },
};
