/**
 * The real servers the fault suites put a proxy in front of, and how a repository reaches one
 * through a given port. Each backend starts its server with the integration launchers (or, for the
 * artifact server, in-process over a local destination).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import { type LaunchedForTest, launchForTest } from '@artifacts/integration';
import '@artifacts/ftp';
import '@artifacts/http';
import '@artifacts/sftp';
import { type StartedServer, startServer } from '@artifacts/server';

export interface FaultBackend {
  name: string;
  /** Port of the real server (the proxy's upstream). */
  port: number;
  /** A repository at `root` (a fresh prefix per test) reached through 127.0.0.1:`port`. */
  open(port: number, root: string, timeoutMs: number): Promise<ArtifactRepository>;
  /** Restarts the real server on the same port with the same data, where the launcher can. */
  restart?(): Promise<void>;
  stop(): Promise<void>;
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
    open: (proxyPort, root, timeoutMs) =>
      openRepository(`http://127.0.0.1:${proxyPort}/api/2.0/mlflow-artifacts/artifacts/${root}`, {
        timeoutMs,
        requestTimeoutSeconds: timeoutMs / 1000,
        maxRetries: 3,
        backoffFactor: 0.2,
        backoffJitter: 0.1,
      } as never),
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

export async function sftpBackend(): Promise<FaultBackend> {
  const srv: LaunchedForTest = await launchForTest('sftp');
  const env = srv.env;
  return {
    name: 'sftp (OpenSSH sshd)',
    port: Number(env.ARTIFACTS_IT_SFTP_PORT),
    open: (proxyPort, root, timeoutMs) =>
      openRepository(`${withPort(env.ARTIFACTS_IT_SFTP_URI as string, proxyPort)}/${root}`, {
        timeoutMs,
        identityFile: env.ARTIFACTS_SFTP_IDENTITY_FILE,
        hostFingerprint: env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT,
        sshConfig: false,
        agent: false,
        connectTimeoutMs: timeoutMs,
        keepaliveIntervalMs: 1000,
      } as never),
    ...(srv.server.running.restart ? { restart: () => srv.server.running.restart?.() as Promise<void> } : {}),
    stop: () => srv.stop(),
  };
}

export async function ftpBackend(): Promise<FaultBackend> {
  const srv: LaunchedForTest = await launchForTest('ftp');
  const env = srv.env;
  return {
    name: 'ftp (pure-ftpd; the proxy carries the control connection, passive data goes direct)',
    port: Number(env.ARTIFACTS_IT_FTP_PORT),
    open: (proxyPort, root, timeoutMs) =>
      openRepository(`${withPort(env.ARTIFACTS_IT_FTP_URI as string, proxyPort)}/${root}`, {
        timeoutMs,
        socketTimeoutMs: timeoutMs,
      } as never),
    ...(srv.server.running.restart ? { restart: () => srv.server.running.restart?.() as Promise<void> } : {}),
    stop: () => srv.stop(),
  };
}

export const BACKENDS: Record<string, () => Promise<FaultBackend>> = {
  http: artifactServerBackend,
  sftp: sftpBackend,
  ftp: ftpBackend,
};
