/**
 * The real servers the fault suites put a proxy in front of, and how a repository reaches one
 * through a given port. The servers are started once for the whole run by the integration
 * globalSetup (vitest.config.ts: `integrationConfig`), shared by every fault file (each test works
 * under its own fresh prefix) and stopped after the last file; the artifact server runs in-process
 * over a local destination, one per file.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import { freePort } from '@artifacts/integration';
import { getServer, type ServerName } from '@artifacts/integration/vitest';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import '@artifacts/azure';
import '@artifacts/ftp';
import '@artifacts/gcs';
import '@artifacts/hdfs';
import '@artifacts/local';
import '@artifacts/http';
import '@artifacts/s3';
import '@artifacts/sftp';
import { type StartedServer, startServer } from '@artifacts/server';
import { type RedirectRewriter, startRedirectRewriter, webhdfsDataNodePort } from '@artifacts/testkit';

export interface FaultBackend {
  name: string;
  /** Port of the real server (the proxy's upstream). */
  port: number;
  /** The URI of a repository at `root` (a fresh prefix per test) reached through 127.0.0.1:`port`. */
  uri(port: number, root: string): string;
  /**
   * Options for openRepository reaching the server through 127.0.0.1:`port` (JSON: a child process
   * gets them too).
   */
  options(timeoutMs: number, port: number): Record<string, unknown>;
  /**
   * Everything the server stores below `root`, relative to it, hidden and temporary names included,
   * as the server itself shows it (its disk, or its own listing API without our driver).
   */
  stored(root: string): Promise<string[]>;
  /**
   * Unfinished uploads of `key` below `root` the server keeps out of sight: S3 multipart uploads,
   * Azure uncommitted blocks. Absent where the server has no such state or no way to list it.
   */
  pendingUploads?(root: string, key: string): Promise<string[]>;
  /**
   * More proxies the same faults apply to, for the other addresses a server sends the client to
   * (WebHDFS's DataNode): each listens on 127.0.0.1:`listenPort` in front of `upstreamHost`:`upstreamPort`.
   */
  sideProxies?: Array<{ listenPort: number; upstreamHost: string; upstreamPort: number }>;
  /** Restarts the real server on the same port with the same data, where the launcher can. */
  restart?(): Promise<void>;
  stop(): Promise<void>;
}

/** Every file below `dir` on disk, relative, hidden ones included. */
export async function onDisk(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

function withPort(uri: string, port: number): string {
  return uri.replace(/@127\.0\.0\.1:\d+\//, `@127.0.0.1:${port}/`);
}

export async function artifactServerBackend(): Promise<FaultBackend> {
  const dir = await mkdtemp(join(tmpdir(), 'artifacts-faults-server-'));
  let server: StartedServer = await start(0);
  async function start(port: number): Promise<StartedServer> {
    return startServer({
      artifactsDestination: dir,
      host: '127.0.0.1',
      port,
      auth: { allowUnauthenticated: true },
      handleSignals: false,
      accessLog: false,
      shutdownTimeoutMs: 0,
      onMessage: () => undefined,
    });
  }
  const port = server.address.port;
  return {
    name: 'http (@artifacts/server over a local destination)',
    port,
    uri: (proxyPort, root) => `http://127.0.0.1:${proxyPort}/api/2.0/mlflow-artifacts/artifacts/${root}`,
    options: (timeoutMs) => ({
      timeoutMs,
      requestTimeoutSeconds: timeoutMs / 1000,
      maxRetries: 3,
      backoffFactor: 0.2,
      backoffJitter: 0.1,
    }),
    stored: (root) => onDisk(join(dir, root)),
    async restart() {
      await server.close();
      server = await start(port);
    },
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A server the globalSetup started for the run: its variables, a restart through its owner (same
 * ports, same data), and `stop`, which leaves it to the globalSetup (the next fault file uses it).
 */
interface Shared {
  env: Record<string, string>;
  stateDir: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Each server's variables, taken out of `process.env` when this module loads: every client here gets
 * its address and credentials from the backend's options only, as when each file started its own
 * servers (`STORAGE_EMULATOR_HOST`, for one, would send Google's client around the proxy), and the
 * kill suite's child processes inherit none of them.
 */
const serverEnv: Record<string, Record<string, string>> = (() => {
  const keys = JSON.parse(process.env.ARTIFACTS_IT_ENV_KEYS ?? '{}') as Record<string, string[]>;
  const byServer: Record<string, Record<string, string>> = {};
  for (const [name, list] of Object.entries(keys)) {
    const env: Record<string, string> = {};
    for (const key of list) if (process.env[key] !== undefined) env[key] = process.env[key] as string;
    byServer[name] = env;
  }
  for (const list of Object.values(keys)) for (const key of list) delete process.env[key];
  return byServer;
})();

async function shared(name: ServerName): Promise<Shared> {
  const handle = await getServer(name);
  const env = serverEnv[name];
  if (!env || Object.keys(env).length === 0)
    throw new Error(
      `no variables of the ${name} server: the globalSetup (vitest.config.ts) did not start it`,
    );
  return {
    env,
    stateDir: handle.stateDir,
    restart: () => handle.restart(),
    stop: async () => undefined,
  };
}

export async function sftpBackend(): Promise<FaultBackend> {
  const srv = await shared('sftp');
  const env = srv.env;
  return {
    name: 'sftp (OpenSSH sshd)',
    port: Number(env.ARTIFACTS_IT_SFTP_PORT),
    uri: (proxyPort, root) => `${withPort(env.ARTIFACTS_IT_SFTP_URI as string, proxyPort)}/${root}`,
    options: (timeoutMs) => ({
      timeoutMs,
      identityFile: env.ARTIFACTS_SFTP_IDENTITY_FILE,
      hostFingerprint: env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT,
      sshConfig: false,
      agent: false,
      connectTimeoutMs: timeoutMs,
      keepaliveIntervalMs: 1000,
    }),
    stored: (root) => onDisk(join(new URL(env.ARTIFACTS_IT_SFTP_URI as string).pathname, root)),
    restart: srv.restart,
    stop: srv.stop,
  };
}

export async function ftpBackend(): Promise<FaultBackend> {
  const srv = await shared('ftp');
  const env = srv.env;
  return {
    name: 'ftp (pure-ftpd; the proxy carries the control connection, passive data goes direct)',
    port: Number(env.ARTIFACTS_IT_FTP_PORT),
    uri: (proxyPort, root) => `${withPort(env.ARTIFACTS_IT_FTP_URI as string, proxyPort)}/${root}`,
    options: (timeoutMs) => ({ timeoutMs, socketTimeoutMs: timeoutMs }),
    stored: (root) => onDisk(join(srv.stateDir, 'ftp-home', 'root', root)),
    restart: srv.restart,
    stop: srv.stop,
  };
}

/** A repository of `backend` at `root` through 127.0.0.1:`port`. */
export function openThrough(
  backend: FaultBackend,
  port: number,
  root: string,
  timeoutMs: number,
): Promise<ArtifactRepository> {
  return openRepository(backend.uri(port, root), backend.options(timeoutMs, port) as never);
}

/** The local backend (no server): for the kill -9 suite. */
export async function localBackend(): Promise<FaultBackend> {
  const dir = await mkdtemp(join(tmpdir(), 'artifacts-faults-local-'));
  return {
    name: 'local',
    port: 0,
    uri: (_port, root) => join(dir, root),
    options: (timeoutMs) => ({ timeoutMs }),
    stored: (root) => onDisk(join(dir, root)),
    stop: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function s3Backend(): Promise<FaultBackend> {
  const srv = await shared('s3');
  const env = srv.env;
  const bucket = env.ARTIFACTS_IT_S3_BUCKET as string;
  const credentials = {
    accessKeyId: env.AWS_ACCESS_KEY_ID as string,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string,
  };
  const endpoint = env.MLFLOW_S3_ENDPOINT_URL as string;
  // the server's own view, straight to MinIO (never through the proxy)
  const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  return {
    name: 's3 (MinIO)',
    port: Number(new URL(endpoint).port),
    uri: (_port, root) => `s3://${bucket}/${root}`,
    options: (timeoutMs, port) => ({
      timeoutMs,
      endpointUrl: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials,
      connectTimeoutMs: timeoutMs,
      socketTimeoutMs: timeoutMs,
    }),
    async stored(root) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await admin.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: `${root}/`, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) keys.push((object.Key as string).slice(root.length + 1));
        token = page.NextContinuationToken;
      } while (token);
      return keys.sort();
    },
    async pendingUploads(root, key) {
      // MinIO lists the multipart uploads of one object name only (a prefix of several matches none)
      const page = await admin.send(
        new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: `${root}/${key}` }),
      );
      return (page.Uploads ?? []).map((u) => `${(u.Key as string).slice(root.length + 1)} (${u.UploadId})`);
    },
    restart: srv.restart,
    async stop() {
      admin.destroy();
      await srv.stop();
    },
  };
}

export async function azureBackend(): Promise<FaultBackend> {
  const srv = await shared('azure');
  const env = srv.env;
  const account = env.ARTIFACTS_IT_AZURE_ACCOUNT as string;
  const container = env.ARTIFACTS_IT_AZURE_CONTAINER as string;
  const endpoint = new URL(env.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT as string);
  const admin = BlobServiceClient.fromConnectionString(
    env.AZURE_STORAGE_CONNECTION_STRING as string,
  ).getContainerClient(container);
  return {
    name: 'azure (Azurite)',
    port: Number(endpoint.port),
    uri: (_port, root) => `wasbs://${container}@${account}.blob.core.windows.net/${root}`,
    options: (timeoutMs, port) => ({
      timeoutMs,
      endpoint: `http://127.0.0.1:${port}${endpoint.pathname}`,
      accountKey: env.ARTIFACTS_IT_AZURE_ACCOUNT_KEY,
      requestTimeoutMs: timeoutMs,
    }),
    async stored(root) {
      const names: string[] = [];
      for await (const blob of admin.listBlobsFlat({ prefix: `${root}/` }))
        names.push(blob.name.slice(root.length + 1));
      return names.sort();
    },
    async pendingUploads(root, key) {
      // blocks staged for the blob and not committed (the blob itself may not exist yet)
      const list = await admin
        .getBlockBlobClient(`${root}/${key}`)
        .getBlockList('uncommitted')
        .catch((error: { statusCode?: number }) => {
          if (error.statusCode === 404) return undefined;
          throw error;
        });
      return (list?.uncommittedBlocks ?? []).map(
        (block) => `${key} (uncommitted block of ${block.size} bytes)`,
      );
    },
    restart: srv.restart,
    stop: () => srv.stop(),
  };
}

export async function gcsBackend(): Promise<FaultBackend> {
  const srv = await shared('gcs');
  const env = srv.env;
  const endpoint = env.ARTIFACTS_IT_GCS_ENDPOINT as string;
  const bucket = env.ARTIFACTS_IT_GCS_BUCKET as string;
  return {
    name: 'gcs (fake-gcs-server)',
    port: Number(new URL(endpoint).port),
    uri: (_port, root) => `gs://${bucket}/${root}`,
    options: (timeoutMs, port) => ({
      timeoutMs,
      endpoint: `http://127.0.0.1:${port}`,
      anonymous: true,
      projectId: env.GOOGLE_CLOUD_PROJECT,
    }),
    async stored(root) {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const query = new URLSearchParams({ prefix: `${root}/`, ...(token ? { pageToken: token } : {}) });
        const response = await fetch(`${endpoint}/storage/v1/b/${bucket}/o?${query}`);
        if (!response.ok) throw new Error(`fake-gcs-server listing: HTTP ${response.status}`);
        const page = (await response.json()) as { items?: { name: string }[]; nextPageToken?: string };
        for (const item of page.items ?? []) names.push(item.name.slice(root.length + 1));
        token = page.nextPageToken;
      } while (token);
      return names.sort();
    },
    restart: srv.restart,
    stop: () => srv.stop(),
  };
}

/**
 * HDFS (MiniDFSCluster over WebHDFS). The NameNode redirects every read and write to the
 * DataNode's HTTP address, which the client then reaches directly. With `datanodeBehindProxy`, the
 * backend's `port` is a hop that rewrites those redirects (testkit's startRedirectRewriter) to a second
 * proxy, `sideProxies`, in front of the DataNode: every byte then crosses a proxy with the faults.
 */
export async function hdfsBackend(opts: { datanodeBehindProxy?: boolean } = {}): Promise<FaultBackend> {
  const srv = await shared('hdfs');
  const env = srv.env;
  const webhdfs = env.ARTIFACTS_IT_HDFS_WEBHDFS_URL as string;
  const base = new URL(env.ARTIFACTS_IT_HDFS_URI as string);
  const user = env.HADOOP_USER_NAME as string;
  const namenodePort = Number(new URL(webhdfs).port);
  let port = namenodePort;
  let rewriter: RedirectRewriter | undefined;
  let sideProxies: FaultBackend['sideProxies'];
  if (opts.datanodeBehindProxy) {
    const datanodePort = await webhdfsDataNodePort(webhdfs, `${base.pathname}/.probe`, user);
    const listenPort = await freePort();
    rewriter = await startRedirectRewriter(namenodePort, (p) =>
      p === datanodePort ? listenPort : undefined,
    );
    port = rewriter.port;
    sideProxies = [{ listenPort, upstreamHost: '127.0.0.1', upstreamPort: datanodePort }];
  }
  async function list(path: string): Promise<string[]> {
    const query = new URLSearchParams({ op: 'LISTSTATUS', 'user.name': user });
    const response = await fetch(`${webhdfs}/webhdfs/v1${path}?${query}`);
    if (response.status === 404) return [];
    if (!response.ok) throw new Error(`WebHDFS LISTSTATUS ${path}: HTTP ${response.status}`);
    const body = (await response.json()) as {
      FileStatuses: { FileStatus: { pathSuffix: string; type: string }[] };
    };
    const found: string[] = [];
    for (const status of body.FileStatuses.FileStatus) {
      if (status.type === 'DIRECTORY') {
        for (const below of await list(`${path}/${status.pathSuffix}`))
          found.push(`${status.pathSuffix}/${below}`);
      } else found.push(status.pathSuffix);
    }
    return found;
  }
  return {
    name: opts.datanodeBehindProxy
      ? 'hdfs (MiniDFSCluster; the proxy fronts the NameNode and, through rewritten redirects, the DataNode)'
      : 'hdfs (MiniDFSCluster, WebHDFS)',
    port,
    uri: (_port, root) => `${base.href.replace(/\/$/, '')}/${root}`,
    options: (timeoutMs, through) => ({
      timeoutMs,
      webhdfsUrl: `http://127.0.0.1:${through}`,
      hadoopConfDir: false,
      user,
    }),
    stored: async (root) => (await list(`${base.pathname}/${root}`)).sort(),
    ...(sideProxies ? { sideProxies } : {}),
    restart: srv.restart,
    async stop() {
      await rewriter?.close();
      await srv.stop();
    },
  };
}

/** The DataNode port the NameNode redirects a CREATE of `path` to (nothing is created). */
export const BACKENDS: Record<string, () => Promise<FaultBackend>> = {
  http: artifactServerBackend,
  sftp: sftpBackend,
  ftp: ftpBackend,
  s3: s3Backend,
  azure: azureBackend,
  gcs: gcsBackend,
  hdfs: () => hdfsBackend(),
};
