/**
 * SPNEGO against a real KDC (MIT krb5kdc, started by integration/ with the `hdfs-kerberos` server):
 * our own server (@artifacts/server) behind a small Node front that checks each request's
 * `Authorization: Negotiate` token with the real `kerberos` binding and the KDC's service keytab
 * (HTTP/127.0.0.1), as a Kerberos-authenticating reverse proxy does, and answers 401 Negotiate
 * otherwise. Tickets come from `kinit` with the users' keytabs into cache files of their own.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError, openRepository } from '@artifacts/core';
import '@artifacts/local';
import { type ArtifactServer, createArtifactServer } from '@artifacts/server';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import '../../src/index.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through test:integration`);
  return value;
}

interface KerberosServer {
  step(token: string): Promise<string>;
  username: string;
}
const kerberos = createRequire(import.meta.url)('kerberos') as {
  initializeServer(service: string): Promise<KerberosServer>;
};

const dir = mkdtempSync(join(tmpdir(), 'http-kerberos-it-'));

/** kinit from a user's keytab into a cache file of its own; returns the cache's path. */
function kinit(user: 'alice' | 'bob', cache: string): string {
  const keytab = env(user === 'alice' ? 'ARTIFACTS_IT_KRB_ALICE_KEYTAB' : 'ARTIFACTS_IT_KRB_BOB_KEYTAB');
  execFileSync('kinit', ['-kt', keytab, '-c', cache, user], {
    env: { ...process.env, KRB5_CONFIG: env('KRB5_CONFIG') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return cache;
}

/** Who the front let through (the principal of each token it accepted), and what it refused. */
const front = { principals: [] as string[], refused: [] as string[], tokens: new Set<string>() };
let backend: ArtifactServer;
let proxy: http.Server;
let base: string;

beforeAll(async () => {
  // the acceptor's keytab (GSSAPI reads KRB5_KTNAME); KRB5_CONFIG names the test realm's KDC
  process.env.KRB5_KTNAME = env('ARTIFACTS_IT_KRB_SERVICE_KEYTAB');
  backend = await createArtifactServer({
    artifactsDestination: join(dir, 'store'),
    port: 0,
    accessLog: false,
    auth: { allowUnauthenticated: true },
  });
  const { url: backendUrl } = await backend.listen();
  const target = new URL(backendUrl);
  proxy = http.createServer((req, res) => {
    const refuse = (why: string) => {
      front.refused.push(why);
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'text/plain' });
      res.end('Kerberos authentication required');
    };
    const header = req.headers.authorization ?? '';
    if (!header.startsWith('Negotiate ')) return refuse('no token');
    const token = header.slice('Negotiate '.length);
    kerberos
      .initializeServer('HTTP@127.0.0.1')
      .then(async (server) => {
        const answer = await server.step(token);
        front.principals.push(server.username);
        front.tokens.add(token);
        const { authorization: _, ...headers } = req.headers;
        const forward = http.request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
          (reply) => {
            res.writeHead(reply.statusCode ?? 502, {
              ...reply.headers,
              ...(answer ? { 'www-authenticate': `Negotiate ${answer}` } : {}),
            });
            reply.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        req.pipe(forward);
      })
      .catch((error: unknown) => refuse(`bad token: ${(error as Error).message}`));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/api/2.0/mlflow-artifacts/artifacts`;
});
afterAll(async () => {
  proxy?.closeAllConnections();
  if (proxy) await new Promise((resolve) => proxy.close(resolve));
  await backend?.close();
  rmSync(dir, { recursive: true, force: true });
});

// Environment variables the tests change, restored after each.
const SAVED = [
  'ARTIFACTS_HTTP_KERBEROS',
  'ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE',
  'ARTIFACTS_HTTP_KERBEROS_PRINCIPAL',
  'KRB5CCNAME',
];
let saved: Record<string, string | undefined> = {};
beforeEach(() => {
  saved = Object.fromEntries(SAVED.map((name) => [name, process.env[name]]));
  for (const name of SAVED) delete process.env[name];
  front.principals.length = 0;
  front.refused.length = 0;
  front.tokens.clear();
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

let n = 0;
const unique = (label: string) => `${base}/${label}-${Date.now().toString(36)}-${n++}`;

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

describe('SPNEGO against a KDC, through a front that checks each token with the service keytab', () => {
  it('a ticket cache (ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE): uploads, lists, reads, downloads and deletes, every request as its principal', async () => {
    process.env.ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE = kinit('alice', join(dir, 'alice.cc'));
    const repo = await openRepository(unique('cache'));
    const local = join(dir, 'tree');
    mkdirSync(join(local, 'sub'), { recursive: true });
    writeFileSync(join(local, 'a.txt'), 'alpha');
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 7);
    writeFileSync(join(local, 'sub', 'b.bin'), big);
    await repo.logArtifacts(local, 'model');
    expect(await repo.listArtifacts('model')).toEqual([
      { path: 'model/a.txt', isDir: false, fileSize: 5 },
      { path: 'model/sub', isDir: true },
    ]);
    expect(await text(await repo.openRead('model/a.txt', { range: { start: 1, end: 3 } }))).toBe('lph');
    mkdirSync(join(dir, 'out'));
    const out = await repo.downloadArtifacts('model', join(dir, 'out'));
    expect(readFileSync(join(out, 'sub', 'b.bin')).equals(big)).toBe(true);
    await repo.deleteArtifacts('model');
    expect(await repo.listArtifacts()).toEqual([]);
    await repo.close();
    const realm = env('ARTIFACTS_IT_KRB_REALM');
    expect(front.refused).toEqual([]);
    expect(front.principals.length).toBeGreaterThanOrEqual(8);
    expect(new Set(front.principals)).toEqual(new Set([`alice@${realm}`]));
    // a new token with every request (the acceptor's replay cache refuses one sent twice)
    expect(front.tokens.size).toBe(front.principals.length);
  });

  it('ARTIFACTS_HTTP_KERBEROS=true alone uses the default ticket cache (KRB5CCNAME), and the principal picks who', async () => {
    process.env.KRB5CCNAME = kinit('bob', join(dir, 'default-bob.cc'));
    process.env.ARTIFACTS_HTTP_KERBEROS = 'true';
    const repo = await openRepository(unique('default'));
    await repo.write('x.txt', 'from the default cache');
    expect(await text(await repo.openRead('x.txt'))).toBe('from the default cache');
    await repo.close();
    const realm = env('ARTIFACTS_IT_KRB_REALM');
    expect(new Set(front.principals)).toEqual(new Set([`bob@${realm}`]));

    // a principal that is not in the cache: nothing is sent, and the error says why
    process.env.ARTIFACTS_HTTP_KERBEROS_PRINCIPAL = 'alice';
    front.principals.length = 0;
    const asAlice = await openRepository(unique('principal'));
    const error = await asAlice.write('y.txt', 'y').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain(
      `the default ticket cache holds no ticket for principal alice (ARTIFACTS_HTTP_KERBEROS_PRINCIPAL`,
    );
    expect((error as Error).message).not.toMatch(/Negotiate [A-Za-z0-9+/=]{20}|YII[A-Za-z0-9+/=]{20}/);
    expect(front.principals).toEqual([]);
    expect(front.refused).toEqual([]);
    await asAlice.close();
  });

  it('without Kerberos, the front refuses and the error says how to turn it on', async () => {
    const repo = await openRepository(unique('none'), { maxRetries: 0 });
    const error = await repo.write('x.txt', 'x').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain('HTTP 401');
    expect((error as Error).message).toContain(
      'the server asks for Kerberos (SPNEGO): kinit, then set ARTIFACTS_HTTP_KERBEROS=true',
    );
    expect(front.refused).toEqual(['no token']);
    await repo.close();
  });
});
