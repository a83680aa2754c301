import { createHash, randomBytes } from 'node:crypto';
import {
  type ArtifactRepository,
  ArtifactsError,
  copyArtifacts,
  copyFiles,
  openRepository,
} from '@artifacts/core';
import { startTcpProxy, type TcpProxy } from '@artifacts/testkit';
import {
  AccountSASPermissions,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
const opened: ArtifactRepository[] = [];
let proxy: TcpProxy;

beforeAll(async () => {
  const server = new URL(env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT'));
  proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
});

afterEach(async () => {
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close().catch(() => undefined);
  }
});

afterAll(() => proxy.close());

/** An account SAS for every blob operation, valid for an hour. */
function accountSas(): string {
  const key = new StorageSharedKeyCredential(
    env('ARTIFACTS_IT_AZURE_ACCOUNT'),
    env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY'),
  );
  return generateAccountSASQueryParameters(
    {
      permissions: AccountSASPermissions.parse('rwdlac'),
      services: 'b',
      resourceTypes: 'sco',
      expiresOn: new Date(Date.now() + 3600_000),
      protocol: SASProtocol.HttpsAndHttp,
    },
    key,
  ).toString();
}

/** Through the counting proxy, or straight to Azurite; with the account key, or a SAS only. */
async function open(
  uri: string,
  through: 'proxy' | 'direct',
  auth: 'key' | 'sas' = 'key',
): Promise<ArtifactRepository> {
  const server = new URL(env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT'));
  if (through === 'proxy') server.port = String(proxy.port);
  const endpoint = server.toString().replace(/\/$/, '');
  const connectionString =
    auth === 'key'
      ? `DefaultEndpointsProtocol=http;AccountName=${env('ARTIFACTS_IT_AZURE_ACCOUNT')};AccountKey=${env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY')};BlobEndpoint=${endpoint};`
      : `BlobEndpoint=${endpoint};SharedAccessSignature=${accountSas()}`;
  const repo = await openRepository(uri, { connectionString });
  opened.push(repo);
  return repo;
}

async function bytesOf(repo: ArtifactRepository, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await repo.openRead(path)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('server-side copy (Azurite, bytes counted on the client sockets)', () => {
  it('copies a tree between two roots of one account with Copy Blob From URL: no blob bytes through the client', async () => {
    const seed = await open(uniqueRoot('copy-src'), 'direct');
    const big = randomBytes(12 * MiB);
    await seed.write('model/weights.bin', big);
    await seed.write('model/config.json', '{"a":1}');
    await seed.write('model2/sibling.bin', 'never copied');
    const src = await open(seed.uri, 'proxy');
    const dstRoot = uniqueRoot('copy-dst');
    const dst = await open(dstRoot, 'proxy');
    proxy.resetCounters();
    const result = await copyArtifacts({ repo: src, path: 'model' }, { repo: dst, path: 'copied' });
    console.log(
      `azure server-side copy of ${big.length + 7} bytes: ${proxy.bytesUp} bytes up, ${proxy.bytesDown} down`,
    );
    expect(result).toEqual({ files: 2, bytes: big.length + 7, serverSide: 2 });
    expect(proxy.bytesUp + proxy.bytesDown).toBeLessThan(64 * 1024);
    const check = await open(dstRoot, 'direct');
    expect(sha(await bytesOf(check, 'copied/weights.bin'))).toBe(sha(big));
    expect((await bytesOf(check, 'copied/config.json')).toString()).toBe('{"a":1}');
    expect((await check.listArtifactsRecursive()).map((file) => file.path)).toEqual([
      'copied/config.json',
      'copied/weights.bin',
    ]);
  }, 120_000);

  it('without a key to sign a source SAS, Copy Blob polled until done: still no blob bytes through the client', async () => {
    const seed = await open(uniqueRoot('copy-async'), 'direct');
    const body = randomBytes(6 * MiB);
    await seed.write('m/w.bin', body);
    const src = await open(seed.uri, 'proxy', 'sas');
    const dst = await open(uniqueRoot('copy-async-dst'), 'proxy', 'sas');
    expect(src.capabilities.presign).toBe(false);
    proxy.resetCounters();
    const result = await copyArtifacts({ repo: src, path: 'm' }, { repo: dst, path: 'n' });
    console.log(
      `azure Copy Blob of ${body.length} bytes: ${proxy.bytesUp} bytes up, ${proxy.bytesDown} down`,
    );
    expect(result).toEqual({ files: 1, bytes: body.length, serverSide: 1 });
    expect(proxy.bytesUp + proxy.bytesDown).toBeLessThan(64 * 1024);
    expect(sha(await bytesOf(dst, 'n/w.bin'))).toBe(sha(body));
  }, 120_000);

  it('streams between two stores (one endpoint direct, one through the proxy): every byte passes, intact', async () => {
    const src = await open(uniqueRoot('copy-stream'), 'direct');
    const body = randomBytes(3 * MiB);
    await src.write('a/data.bin', body);
    const dst = await open(uniqueRoot('copy-stream-dst'), 'proxy');
    proxy.resetCounters();
    const result = await copyArtifacts({ repo: src, path: 'a' }, { repo: dst, path: 'b' });
    expect(result).toEqual({ files: 1, bytes: body.length, serverSide: 0 });
    expect(proxy.bytesUp).toBeGreaterThan(body.length);
    expect(sha(await bytesOf(dst, 'b/data.bin'))).toBe(sha(body));
  }, 120_000);

  it('a source gone since it was listed is not_found, and nothing appears at the destination', async () => {
    const src = await open(uniqueRoot('copy-missing'), 'proxy');
    const dst = await open(uniqueRoot('copy-missing-dst'), 'proxy');
    const error = await copyFiles([
      { from: src, fromPath: 'nope.bin', to: dst, toPath: 'x.bin', size: 1 },
    ]).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'not_found')).toBe(true);
    expect(await dst.exists('x.bin')).toBe(false);
  }, 60_000);
});
