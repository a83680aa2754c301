import { mkdtemp, readdir, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Readable } from 'node:stream';
import { openRepository, registerBackend, type StorageDriver } from '@artifacts/core';
import { type ArtifactServer, createArtifactServer } from '../src/index.js';
import type { ArtifactServerOptions } from '../src/options.js';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): Record<string, unknown>;
}

export interface CallOptions {
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
  /** Credentials sent as HTTP basic. */
  auth?: string;
}

/**
 * One request with the path sent exactly as given (fetch and undici normalize `..` and `%2e%2e`
 * away, which would hide the attacks these tests send).
 */
export function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(options.auth ? { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` } : {}),
          ...options.headers,
        },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown>,
          });
        });
      },
    );
    req.on('error', reject);
    const body = options.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

export interface Fixture {
  server: ArtifactServer;
  url: string;
  /** `<parent>/destination`: nothing else is ever in `parent`. */
  destination: string;
  parent: string;
  close(): Promise<void>;
}

/** A server on a fresh local destination, on a free loopback port. */
export async function startFixture(options: ArtifactServerOptions = {}): Promise<Fixture> {
  const parent = await mkdtemp(join(tmpdir(), 'artifacts-server-test-'));
  const destination = join(parent, 'destination');
  const server = await createArtifactServer({
    artifactsDestination: destination,
    port: 0,
    accessLog: false,
    ...options,
  });
  const { url } = await server.listen();
  return {
    server,
    url,
    destination,
    parent,
    async close() {
      await server.close();
      await rm(parent, { recursive: true, force: true });
    },
  };
}

export interface DriverFixture {
  server: ArtifactServer;
  url: string;
  close(): Promise<void>;
}

/**
 * A server whose destination is a driver the test makes (one that counts or records what it is
 * handed), registered under `scheme`, without authentication, on a free loopback port.
 */
export async function startDriverFixture(scheme: string, open: () => StorageDriver): Promise<DriverFixture> {
  registerBackend({ name: `test destination ${scheme}`, schemes: [scheme], open });
  const repository = await openRepository(`${scheme}://store/root`);
  const server = await createArtifactServer({
    repository,
    port: 0,
    accessLog: false,
    auth: { allowUnauthenticated: true },
  });
  const { url } = await server.listen();
  return {
    server,
    url,
    async close() {
      await server.close();
      await repository.close();
    },
  };
}

/** Every file below a directory, relative to it, sorted. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    },
  );
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

export const USER = 'alice';
export const PASSWORD = 'correct horse battery staple';
export const TOKEN = 'tok-0123456789abcdef';
export const BASIC = `${USER}:${PASSWORD}`;
