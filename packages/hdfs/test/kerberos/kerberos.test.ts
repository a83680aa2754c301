/**
 * Kerberos against a real KDC (MIT krb5kdc) and a MiniDFSCluster in secure mode with SPNEGO on
 * WebHDFS, both started by integration/ (server `hdfs-kerberos`). Tickets come from `kinit` with the
 * users' keytabs, into cache files the tests name with MLFLOW_KERBEROS_TICKET_CACHE.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError, openRepository } from '@artifacts/core';
import { request } from 'undici';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../src/index.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through test:integration`);
  return value;
}

const dir = mkdtempSync(join(tmpdir(), 'hdfs-kerberos-it-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** kinit from a user's keytab into a cache file of its own; returns the cache's path. */
function kinit(user: 'alice' | 'bob', cache: string, lifetime?: string): string {
  const keytab = env(user === 'alice' ? 'ARTIFACTS_IT_KRB_ALICE_KEYTAB' : 'ARTIFACTS_IT_KRB_BOB_KEYTAB');
  execFileSync('kinit', ['-kt', keytab, '-c', cache, ...(lifetime ? ['-l', lifetime] : []), user], {
    env: { ...process.env, KRB5_CONFIG: env('KRB5_CONFIG') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return cache;
}

let n = 0;
function unique(label: string): string {
  return `${env('ARTIFACTS_IT_HDFS_KRB_URI')}/${label}-${Date.now().toString(36)}-${n++}`;
}
const hdfsPath = (uri: string) => new URL(uri).pathname;

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The test's own view of the NameNode: GETFILESTATUS with a SPNEGO token made straight from the
 * GSSAPI binding and the given cache (not through the driver). Undefined when the path is missing.
 */
async function rawOwner(path: string, cache: string): Promise<string | undefined> {
  const kerberos = createRequire(import.meta.url)('kerberos') as {
    GSS_MECH_OID_SPNEGO: number;
    initializeClient(s: string, o: { mechOID: number }): Promise<{ step(c: string): Promise<string> }>;
  };
  const saved = process.env.KRB5CCNAME;
  process.env.KRB5CCNAME = cache;
  let token: string;
  try {
    const client = await kerberos.initializeClient('HTTP@127.0.0.1', {
      mechOID: kerberos.GSS_MECH_OID_SPNEGO,
    });
    token = await client.step('');
  } finally {
    if (saved === undefined) delete process.env.KRB5CCNAME;
    else process.env.KRB5CCNAME = saved;
  }
  const response = await request(
    `${env('ARTIFACTS_IT_HDFS_KRB_WEBHDFS_URL')}/webhdfs/v1${path}?op=GETFILESTATUS`,
    { headers: { authorization: `Negotiate ${token}` }, reset: true },
  );
  const body = (await response.body.json()) as { FileStatus?: { owner: string } };
  if (response.statusCode === 404) return undefined;
  expect(response.statusCode).toBe(200);
  return body.FileStatus?.owner;
}

/** An error never carries a secret: no ticket, token or delegation token. */
function expectNoSecret(error: unknown): void {
  const message = String((error as Error).message);
  expect(message).not.toMatch(/delegation=|Negotiate [A-Za-z0-9+/=]{20}|YII[A-Za-z0-9+/=]{20}/);
  for (const keytab of ['ARTIFACTS_IT_KRB_ALICE_KEYTAB', 'ARTIFACTS_IT_KRB_BOB_KEYTAB']) {
    const bytes = readFileSync(env(keytab)).toString('base64');
    expect(message).not.toContain(bytes.slice(8, 40));
  }
}

// Environment variables the tests change, restored after each.
const SAVED = [
  'MLFLOW_KERBEROS_TICKET_CACHE',
  'MLFLOW_KERBEROS_USER',
  'HADOOP_CONF_DIR',
  'HADOOP_USER_NAME',
  'KRB5CCNAME',
  'ARTIFACTS_HDFS_WEBHDFS_URL',
];
let saved: Record<string, string | undefined> = {};
beforeEach(() => {
  saved = Object.fromEntries(SAVED.map((name) => [name, process.env[name]]));
  for (const name of SAVED) delete process.env[name];
  // the secure cluster's own configuration: hdfs-site.xml (endpoint), core-site.xml (kerberos)
  process.env.HADOOP_CONF_DIR = env('ARTIFACTS_IT_HDFS_KRB_CONF_DIR');
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('Kerberos (SPNEGO) against a KDC and a secure MiniDFSCluster', () => {
  it('a ticket cache named by MLFLOW_KERBEROS_TICKET_CACHE: uploads, lists, reads, downloads and deletes as its principal', async () => {
    const cache = kinit('alice', join(dir, 'alice.cc'));
    process.env.MLFLOW_KERBEROS_TICKET_CACHE = cache;
    const uri = unique('cache');
    const repo = await openRepository(uri);
    const local = join(dir, 'tree');
    mkdirSync(join(local, 'sub'), { recursive: true });
    writeFileSync(join(local, 'a.txt'), 'alpha');
    writeFileSync(join(local, 'sub', 'b.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 7));
    await repo.logArtifacts(local, 'model');
    expect(await repo.listArtifacts('model')).toEqual([
      { path: 'model/a.txt', isDir: false, fileSize: 5 },
      { path: 'model/sub', isDir: true },
    ]);
    expect(await text(await repo.openRead('model/a.txt', { range: { start: 1, end: 3 } }))).toBe('lph');
    mkdirSync(join(dir, 'out'));
    const out = await repo.downloadArtifacts('model', join(dir, 'out'));
    expect(readFileSync(join(out, 'sub', 'b.bin')).equals(Buffer.alloc(3 * 1024 * 1024 + 7, 7))).toBe(true);
    // the NameNode saw alice: files are created as the principal of the cache
    expect(await rawOwner(`${hdfsPath(uri)}/model/a.txt`, cache)).toBe('alice');
    await repo.deleteArtifacts('model');
    expect(await repo.listArtifacts()).toEqual([]);
    await repo.close();
  });

  it('hadoop.security.authentication=kerberos alone uses the default ticket cache (KRB5CCNAME), as Hadoop clients do', async () => {
    process.env.KRB5CCNAME = kinit('bob', join(dir, 'default-bob.cc'));
    const uri = unique('default-cache');
    const repo = await openRepository(uri);
    await repo.write('x.txt', 'from the default cache');
    expect(await text(await repo.openRead('x.txt'))).toBe('from the default cache');
    expect(await rawOwner(`${hdfsPath(uri)}/x.txt`, process.env.KRB5CCNAME)).toBe('bob');
    await repo.close();
  });

  it('MLFLOW_KERBEROS_USER picks the principal, also with a ticket cache set (as MLflow passes it)', async () => {
    const bobCache = kinit('bob', join(dir, 'bob.cc'));
    const aliceCache = kinit('alice', join(dir, 'alice2.cc'));
    const uri = unique('principal');

    // bob's cache, MLFLOW_KERBEROS_USER=bob: bob writes
    process.env.MLFLOW_KERBEROS_TICKET_CACHE = bobCache;
    process.env.MLFLOW_KERBEROS_USER = 'bob';
    const asBob = await openRepository(uri);
    await asBob.write('bob.txt', 'b');
    expect(await rawOwner(`${hdfsPath(uri)}/bob.txt`, bobCache)).toBe('bob');
    await asBob.close();

    // the full principal name works too
    process.env.MLFLOW_KERBEROS_USER = `bob@${env('ARTIFACTS_IT_KRB_REALM')}`;
    const asBobFull = await openRepository(uri);
    await asBobFull.write('bob-full.txt', 'b');
    expect(await rawOwner(`${hdfsPath(uri)}/bob-full.txt`, bobCache)).toBe('bob');
    await asBobFull.close();

    // alice's cache, MLFLOW_KERBEROS_USER=bob: the principal is not in the cache, so nothing is
    // sent as alice (MLflow's Hadoop client fails the same way), and the error says why
    process.env.MLFLOW_KERBEROS_TICKET_CACHE = aliceCache;
    process.env.MLFLOW_KERBEROS_USER = 'bob';
    const mismatch = await openRepository(uri);
    const error = await mismatch.write('alice.txt', 'a').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain(`${aliceCache} holds no ticket for principal bob (`);
    expectNoSecret(error);
    expect(await rawOwner(`${hdfsPath(uri)}/alice.txt`, aliceCache)).toBeUndefined();
    await mismatch.close();

    // the option `user` is the same as MLFLOW_KERBEROS_USER
    delete process.env.MLFLOW_KERBEROS_USER;
    const byOption = await openRepository(uri, { user: 'alice' });
    await byOption.write('alice.txt', 'a');
    expect(await rawOwner(`${hdfsPath(uri)}/alice.txt`, aliceCache)).toBe('alice');
    await byOption.close();
  });

  it('a missing ticket cache is a clear unauthenticated error naming it', async () => {
    const missing = join(dir, 'never-created.cc');
    process.env.MLFLOW_KERBEROS_TICKET_CACHE = missing;
    const repo = await openRepository(unique('missing'));
    const error = await repo.write('x.txt', 'x').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain(`the ticket cache ${missing} does not exist`);
    expect((error as Error).message).toContain('kinit');
    await repo.close();
  });

  it('an expired ticket is a clear unauthenticated error saying it expired', async () => {
    const cache = kinit('alice', join(dir, 'short.cc'), '2s');
    process.env.MLFLOW_KERBEROS_TICKET_CACHE = cache;
    await new Promise((r) => setTimeout(r, 3500));
    const uri = unique('expired');
    const repo = await openRepository(uri);
    const error = await repo.write('x.txt', 'x').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain(
      `the Kerberos ticket in the ticket cache ${cache} has expired`,
    );
    expectNoSecret(error);
    await repo.close();
    // a fresh kinit into the same cache makes it work again
    kinit('alice', cache);
    const again = await openRepository(uri);
    await again.write('x.txt', 'x');
    expect(await rawOwner(`${hdfsPath(uri)}/x.txt`, cache)).toBe('alice');
    await again.close();
  });

  it('without Kerberos configured, the secure NameNode is an unauthenticated error saying how to turn it on', async () => {
    delete process.env.HADOOP_CONF_DIR;
    const repo = await openRepository(unique('simple'), {
      hadoopConfDir: false,
      webhdfsUrl: env('ARTIFACTS_IT_HDFS_KRB_WEBHDFS_URL'),
      user: 'alice',
    });
    const error = await repo.write('x.txt', 'x').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toMatch(/requires Kerberos \(SPNEGO\).*MLFLOW_KERBEROS_TICKET_CACHE/);
    await repo.close();
  });
});
