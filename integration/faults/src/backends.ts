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
import '@artifacts/local';
import '@artifacts/http';
import '@artifacts/sftp';
import { type StartedServer, startServer } from '@artifacts/server';

export interface FaultBackend {
  name: string;
  /** Port of the real server (the proxy's upstream). */
  port: number;
  /** The URI of a repository at `root` (a fresh prefix per test) reached through 127.0.0.1:`port`. */
  uri(port: number, root: string): string;
  /** Options for openRepository (JSON: a child process gets them too). */
  options(timeoutMs: number): Record<string, unknown>;
  /** Where the repository at `root` is on this machine's disk (all these servers store locally). */
  diskRoot(root: string): string;
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
    uri: (proxyPort, root) => `http://127.0.0.1:${proxyPort}/api/2.0/mlflow-artifacts/artifacts/${root}`,
    options: (timeoutMs) => ({
      timeoutMs,
      requestTimeoutSeconds: timeoutMs / 1000,
      maxRetries: 3,
      backoffFactor: 0.2,
      backoffJitter: 0.1,
    }),
    diskRoot: (root) => join(dir, root),
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
    diskRoot: (root) => join(new URL(env.ARTIFACTS_IT_SFTP_URI as string).pathname, root),
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
    uri: (proxyPort, root) => `${withPort(env.ARTIFACTS_IT_FTP_URI as string, proxyPort)}/${root}`,
    options: (timeoutMs) => ({ timeoutMs, socketTimeoutMs: timeoutMs }),
    diskRoot: (root) => join(srv.server.stateDir, 'ftp-home', 'root', root),
    ...(srv.server.running.restart ? { restart: () => srv.server.running.restart?.() as Promise<void> } : {}),
    stop: () => srv.stop(),
  };
}

/** A repository of `backend` at `root` through 127.0.0.1:`port`. */
export function openThrough(
  backend: FaultBackend,
  port: number,
  root: string,
  timeoutMs: number,
): Promise<ArtifactRepository> {
  return openRepository(backend.uri(port, root), backend.options(timeoutMs) as never);
}

/** The local backend (no server): for the kill -9 suite. */
export async function localBackend(): Promise<FaultBackend> {
  const dir = await mkdtemp(join(tmpdir(), 'artifacts-faults-local-'));
  return {
    name: 'local',
    port: 0,
    uri: (_port, root) => join(dir, root),
    options: (timeoutMs) => ({ timeoutMs }),
    diskRoot: (root) => join(dir, root),
    stop: () => rm(dir, { recursive: true, force: true }),
  };
}

export const BACKENDS: Record<string, () => Promise<FaultBackend>> = {
  http: artifactServerBackend,
  sftp: sftpBackend,
  ftp: ftpBackend,
};
