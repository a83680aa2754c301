import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { type ArtifactRepository, ArtifactsError, openRepository } from '@artifacts/core';
import { readAll } from '@artifacts/testkit';
import {
  AccountSASPermissions,
  BlobServiceClient,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { AzureBlobDriver } from '../../src/internal/driver.js';
import { createClients } from '../../src/internal/lean.js';
import { resolveAzureConfig } from '../../src/internal/settings.js';
import { parseAzureUri } from '../../src/internal/uri.js';
import { env, uniqueRoot } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const account = () => env('ARTIFACTS_IT_AZURE_ACCOUNT');
const accountKey = () => env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY');
const endpoint = () => env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT');
const container = () => env('ARTIFACTS_IT_AZURE_CONTAINER');
const admin = () =>
  new BlobServiceClient(
    endpoint(),
    new StorageSharedKeyCredential(account(), accountKey()),
  ).getContainerClient(container());
/** A key of the same shape as the real one, but wrong. */
const WRONG_KEY = Buffer.alloc(64, 1).toString('base64');

const opened: ArtifactRepository[] = [];
const restores: Array<() => void> = [];
async function open(uri = uniqueRoot(), options: Record<string, unknown> = {}): Promise<ArtifactRepository> {
  const repo = await openRepository(uri, options);
  opened.push(repo);
  return repo;
}
function withEnv(vars: Record<string, string | undefined>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  restores.push(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}
afterEach(async () => {
  while (restores.length) restores.pop()!();
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close().catch(() => undefined);
  }
});

/** The blob name of `key` under a repository opened at `uri`. */
function blobName(uri: string, key: string): string {
  return `${parseAzureUri(uri).path}/${key}`;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<ArtifactsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ArtifactsError.is(error), `expected an ArtifactsError ${code}, got ${String(error)}`).toBe(true);
  expect((error as ArtifactsError).code).toBe(code);
  return error as ArtifactsError;
}

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('base64');

describe('credentials', () => {
  it('AZURE_STORAGE_ACCESS_KEY with ARTIFACTS_AZURE_BLOB_ENDPOINT (no connection string)', async () => {
    withEnv({
      AZURE_STORAGE_CONNECTION_STRING: undefined,
      AZURE_STORAGE_ACCESS_KEY: accountKey(),
      ARTIFACTS_AZURE_BLOB_ENDPOINT: endpoint(),
    });
    const repo = await open();
    await repo.write('a.txt', 'by key');
    expect((await readAll(await repo.openRead('a.txt'))).toString()).toBe('by key');
  });

  it('accountKey and endpoint options, with no variable set', async () => {
    withEnv({ AZURE_STORAGE_CONNECTION_STRING: undefined, AZURE_STORAGE_ACCESS_KEY: undefined });
    const repo = await open(uniqueRoot(), { accountKey: accountKey(), endpoint: endpoint() });
    await repo.write('a.txt', 'by option');
    expect(await repo.listArtifacts()).toEqual([{ path: 'a.txt', isDir: false, fileSize: 9 }]);
  });

  it('the connection string wins over a wrong AZURE_STORAGE_ACCESS_KEY (MLflow order)', async () => {
    withEnv({ AZURE_STORAGE_ACCESS_KEY: WRONG_KEY, ARTIFACTS_AZURE_BLOB_ENDPOINT: endpoint() });
    const repo = await open();
    await repo.write('a.txt', 'x');
    expect(await repo.exists('a.txt')).toBe(true);
  });

  it('an option wins over the variables: a wrong accountKey fails although the connection string is right', async () => {
    const repo = await open(uniqueRoot(), { accountKey: WRONG_KEY, endpoint: endpoint() });
    await expectCode(repo.write('a.txt', 'x'), 'unauthenticated');
  });

  it('a wrong account key is unauthenticated, and no message carries the key', async () => {
    const repo = await open(uniqueRoot(), { accountKey: WRONG_KEY, endpoint: endpoint() });
    for (const attempt of [
      () => repo.listArtifacts(),
      () => repo.write('a.txt', 'x'),
      () => repo.stat('a.txt'),
      () => repo.deleteArtifacts('a'),
    ]) {
      const error = await expectCode(attempt(), 'unauthenticated');
      expect(error.message).not.toContain(WRONG_KEY);
      expect(JSON.stringify(error.context)).not.toContain(WRONG_KEY);
    }
  });

  it('a wrong key inside the connection string is unauthenticated without echoing the string', async () => {
    const connectionString = env('AZURE_STORAGE_CONNECTION_STRING').replace(accountKey(), WRONG_KEY);
    const repo = await open(uniqueRoot(), { connectionString });
    const error = await expectCode(repo.listArtifacts(), 'unauthenticated');
    expect(error.message).not.toContain(WRONG_KEY);
    expect(error.message).not.toContain('AccountKey');
  });

  it('wasb:// URIs open the same store', async () => {
    const uri = uniqueRoot().replace(/^wasbs:/, 'wasb:');
    const repo = await open(uri);
    await repo.write('w.txt', 'wasb');
    expect(await repo.exists('w.txt')).toBe(true);
  });
});

describe('missing things', () => {
  it('a missing container is not_found naming the container, for every operation', async () => {
    const uri = `wasbs://no-such-container@${account()}.blob.core.windows.net/root`;
    const repo = await open(uri);
    // Thunks: each call starts only when awaited (an early rejection would be unhandled).
    for (const attempt of [
      () => repo.listArtifacts(),
      () => repo.write('a.txt', 'x'),
      () => repo.openRead('a.txt'),
      () => repo.stat('a.txt'),
      () => repo.deleteArtifacts('a'),
    ]) {
      const error = await expectCode(attempt(), 'not_found');
      expect(error.message).toContain('container "no-such-container"');
    }
  });

  it('a missing blob is not_found naming the blob by its URI', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri);
    const error = await expectCode(repo.openRead('nope/missing.bin'), 'not_found');
    expect(error.message).toContain(`${uri}/nope/missing.bin does not exist`);
    expect(error.context).toMatchObject({ blob: blobName(uri, 'nope/missing.bin') });
    await expectCode(repo.stat('nope/missing.bin'), 'not_found');
  });
});

describe('uploads', () => {
  it('a large body is staged as blocks of blockSize (each with Content-MD5) and committed with the blob MD5', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri, { blockSize: 256 * KiB, uploadConcurrency: 3 });
    const data = randomBytes(2 * MiB + 1000);
    await repo.write('blocks.bin', Readable.from([data.subarray(0, 700_000), data.subarray(700_000)]));
    const blob = admin().getBlockBlobClient(blobName(uri, 'blocks.bin'));
    const list = await blob.getBlockList('committed');
    expect(list.committedBlocks?.length).toBe(9);
    expect(list.committedBlocks?.slice(0, 8).every((b) => b.size === 256 * KiB)).toBe(true);
    const props = await blob.getProperties();
    expect(Buffer.from(props.contentMD5!).toString('base64')).toBe(md5(data));
    expect(props.contentType).toBe('application/octet-stream');
    expect((await readAll(await repo.openRead('blocks.bin'))).equals(data)).toBe(true);
  });

  it('a body of at most one block is a single Put Blob whose service-computed MD5 comes back', async () => {
    const uri = uniqueRoot();
    const config = resolveAzureConfig(parseAzureUri(uri), { blockSize: 256 * KiB });
    const driver = new AzureBlobDriver(config, await createClients(config, 4));
    const data = randomBytes(256 * KiB);
    const result = await driver.write('one.bin', Readable.from([data]), { size: data.length });
    expect(result?.checksum).toEqual({ algorithm: 'md5', value: md5(data) });
    // The one MD5 pass over the body: what core compares with the service's.
    expect(result?.sent).toEqual({ checksum: { algorithm: 'md5', value: md5(data) }, bytes: data.length });
    const list = await admin().getBlockBlobClient(blobName(uri, 'one.bin')).getBlockList('all');
    expect(list.committedBlocks ?? []).toEqual([]);
    const read = await driver.read('one.bin', {});
    expect(read.checksum).toEqual({ algorithm: 'md5', value: md5(data) });
    read.stream.destroy();
    await driver.delete('', {});
    await driver.close();
  });

  it('transactionalMd5: false sends no MD5 and records none (no checksum declared)', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri, { blockSize: 256 * KiB, transactionalMd5: false });
    expect(repo.capabilities.checksums).toEqual([]);
    await repo.write('plain.bin', randomBytes(600 * KiB));
    const props = await admin().getBlockBlobClient(blobName(uri, 'plain.bin')).getProperties();
    expect(props.contentMD5).toBeUndefined();
  });

  it('nothing is visible until the commit: an aborted multi-block upload leaves no blob', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri, { blockSize: 256 * KiB });
    const controller = new AbortController();
    let sent = 0;
    const body = new Readable({
      read() {
        sent += 256 * KiB;
        if (sent > 2 * MiB) {
          controller.abort();
          return;
        }
        this.push(randomBytes(256 * KiB));
      },
    });
    await expectCode(repo.write('partial.bin', body, { signal: controller.signal }), 'aborted');
    expect(await repo.exists('partial.bin')).toBe(false);
    expect(await repo.listArtifacts()).toEqual([]);
  });

  it('a presigned PUT works when the client sends x-ms-blob-type: BlockBlob', async () => {
    const repo = await open();
    const url = await repo.presignedUrl('put.txt', 'PUT');
    const response = await fetch(url, {
      method: 'PUT',
      body: 'via SAS',
      headers: { 'x-ms-blob-type': 'BlockBlob' },
    });
    expect(response.status).toBe(201);
    expect((await readAll(await repo.openRead('put.txt'))).toString()).toBe('via SAS');
  });
});

describe('downloads', () => {
  it('parallel ranged parts of downloadPartSize give the exact bytes, for full and ranged reads', async () => {
    const repo = await open(uniqueRoot(), { downloadPartSize: 256 * KiB, downloadConcurrency: 3 });
    const data = randomBytes(3 * MiB + 17);
    await repo.write('big.bin', data);
    expect((await readAll(await repo.openRead('big.bin'))).equals(data)).toBe(true);
    const range = await readAll(
      await repo.openRead('big.bin', { range: { start: 100_000, end: 1_500_000 } }),
    );
    expect(range.equals(data.subarray(100_000, 1_500_001))).toBe(true);
    const tail = await readAll(await repo.openRead('big.bin', { range: { start: 3 * MiB } }));
    expect(tail.equals(data.subarray(3 * MiB))).toBe(true);
  });

  it('a full read reports the blob MD5, so core verifies the bytes', async () => {
    const uri = uniqueRoot();
    const config = resolveAzureConfig(parseAzureUri(uri), {
      downloadPartSize: 256 * KiB,
      blockSize: 256 * KiB,
    });
    const driver = new AzureBlobDriver(config, await createClients(config, 4));
    const data = randomBytes(MiB);
    const result = await driver.write('m.bin', Readable.from([data]), {});
    // Blocks: the blob's MD5 is recorded at the commit, and reported as what was sent.
    expect(result).toEqual({
      sent: { checksum: { algorithm: 'md5', value: md5(data) }, bytes: data.length },
    });
    const read = await driver.read('m.bin', {});
    expect(read.checksum).toEqual({ algorithm: 'md5', value: md5(data) });
    expect((await readAll(read.stream)).equals(data)).toBe(true);
    await driver.delete('', {});
    await driver.close();
  });

  it('a corrupted blob (MD5 no longer matching) fails the download with integrity', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri);
    await repo.write('c.bin', 'original bytes');
    // Another writer sets a Content-MD5 that does not match the content.
    await admin()
      .getBlockBlobClient(blobName(uri, 'c.bin'))
      .setHTTPHeaders({ blobContentMD5: createHash('md5').update('other').digest() });
    await expectCode(readAll(await repo.openRead('c.bin')), 'integrity');
  });
});

describe('listing and deleting', () => {
  it('listing pages through listPageSize and keeps directories apart from files', async () => {
    const repo = await open(uniqueRoot(), { listPageSize: 2 });
    for (const name of ['a.txt', 'b.txt', 'c.txt', 'd/1.txt', 'e/2.txt', 'f.txt'])
      await repo.write(name, name);
    expect((await repo.listArtifacts()).map((f) => `${f.path}${f.isDir ? '/' : ''}`)).toEqual([
      'a.txt',
      'b.txt',
      'c.txt',
      'd/',
      'e/',
      'f.txt',
    ]);
    expect((await repo.listArtifactsRecursive()).length).toBe(6);
  });

  it('delete removes the key and key/… but never a sibling sharing the prefix, and is idempotent', async () => {
    const repo = await open();
    for (const name of ['foo', 'foo/a.txt', 'foo/b/c.txt', 'foobar', 'foo.txt']) await repo.write(name, name);
    await repo.deleteArtifacts('foo');
    expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['foo.txt', 'foobar']);
    await repo.deleteArtifacts('foo');
    await repo.deleteArtifacts('never/existed');
  });

  it('folder blobs of other tools (`dir/`, `hdi_isfolder`) list as directories and go with a directory delete', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri, { listPageSize: 2 });
    for (const name of ['run/a.txt', 'run/sub/b.txt', 'run2/keep.txt']) await repo.write(name, name);
    // As Hadoop's WASB and hierarchical-namespace accounts show folders through the Blob API (a
    // zero-length blob named like the folder, with hdi_isfolder metadata), and as tools that write
    // zero-length `dir/` blobs leave them, empty folders included.
    const folders = admin();
    const hdi = ['run', 'run/sub', 'run/hdi-empty', 'run2'];
    const slash = ['run/', 'run/sub/', 'run/slash-empty/', 'run/sub/deeper/'];
    for (const name of hdi)
      await folders
        .getBlockBlobClient(blobName(uri, name))
        .upload('', 0, { metadata: { hdi_isfolder: 'true' } });
    for (const name of slash) await folders.getBlockBlobClient(blobName(uri, name)).upload('', 0);
    const paths = (list: { path: string; isDir: boolean }[]) =>
      list.map((f) => `${f.path}${f.isDir ? '/' : ''}`);

    expect(paths(await repo.listArtifacts())).toEqual(['run/', 'run2/']);
    expect(paths(await repo.listArtifacts('run'))).toEqual([
      'run/a.txt',
      'run/hdi-empty/',
      'run/slash-empty/',
      'run/sub/',
    ]);
    expect(paths(await repo.listArtifactsRecursive())).toEqual([
      'run/a.txt',
      'run/sub/b.txt',
      'run2/keep.txt',
    ]);
    for (const dir of ['run', 'run/sub', 'run/hdi-empty', 'run/slash-empty'])
      expect(await repo.stat(dir)).toMatchObject({ path: dir, isDir: true });

    await repo.deleteArtifacts('run');
    expect(paths(await repo.listArtifacts())).toEqual(['run2/']);
    expect(await repo.exists('run')).toBe(false);
    expect(await repo.exists('run/sub')).toBe(false);
    const left: string[] = [];
    for await (const blob of folders.listBlobsFlat({ prefix: `${parseAzureUri(uri).path}/` }))
      left.push(blob.name.slice(parseAzureUri(uri).path.length + 1));
    expect(left.sort()).toEqual(['run2', 'run2/keep.txt']);

    await repo.deleteArtifacts();
    expect(await repo.listArtifacts()).toEqual([]);
    const rest = folders.listBlobsFlat({ prefix: `${parseAzureUri(uri).path}/` });
    expect((await rest.next()).done).toBe(true);
  });
});

describe('timeouts and the SAS lifetime', () => {
  it('MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT bounds a transfer: a stalled upload times out, leaving nothing', async () => {
    withEnv({ MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT: '1' });
    const repo = await open(uniqueRoot(), { blockSize: 256 * KiB });
    // A source that sends one block and then never ends.
    let pushed = false;
    const stalled = new Readable({
      read() {
        if (!pushed) this.push(randomBytes(300 * KiB));
        pushed = true;
      },
    });
    await expectCode(repo.write('slow.bin', stalled), 'timeout');
    expect(await repo.exists('slow.bin')).toBe(false);
  });

  it('a presigned GET stops working once the SAS expires', async () => {
    const repo = await open();
    await repo.write('short.txt', 'brief');
    // SAS expiry is written in whole seconds (truncated), so a 1 s lifetime can be over before the
    // first fetch on a loaded machine: 3 s leaves at least 2 s for it, then wait past the expiry.
    const url = await repo.presignedUrl('short.txt', 'GET', { expiresInSeconds: 3 });
    expect((await fetch(url)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 4500));
    expect((await fetch(url)).status).toBe(403);
  });

  it('a block URL of a proxied multipart upload stores nothing visible until complete', async () => {
    const repo = await open();
    const upload = await repo.createMultipartUpload('mp.bin', 3);
    for (const credential of upload.credentials) {
      const response = await fetch(credential.url, { method: 'PUT', body: `part-${credential.partNumber};` });
      expect(response.status).toBe(201);
    }
    expect(await repo.exists('mp.bin')).toBe(false);
    // Parts completed out of order are committed in part order; the '' etag is what Put Block gives.
    await repo.completeMultipartUpload('mp.bin', null, [
      { partNumber: 3, etag: '' },
      { partNumber: 1, etag: '' },
      { partNumber: 2, etag: '' },
    ]);
    expect((await readAll(await repo.openRead('mp.bin'))).toString()).toBe('part-1;part-2;part-3;');
  });
});

describe('our own requests (no SDK on the hot path)', () => {
  it('writes, reads, stats, lists and deletes without loading @azure/storage-blob; a presign loads it', async () => {
    // A fresh process that records every module of the SDK's pipeline it resolves.
    const script = new URL('./fixtures/lean-no-sdk.mjs', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', script, uniqueRoot('nosdk')],
      {
        cwd: new URL('../..', import.meta.url).pathname,
      },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(out).toMatchObject({
      text: 'lean body',
      same: true,
      listed: ['big.bin', 'small.txt'],
      size: 3 * MiB + 5,
      gone: true,
    });
    expect(out.signed).toBe(true);
    expect(out.before).toEqual([]);
    expect(out.after).toContain('@azure/storage-blob');
  }, 60_000);

  it('a SAS-only connection string reads, writes (blocks too), lists, stats and deletes', async () => {
    const sas = generateAccountSASQueryParameters(
      {
        permissions: AccountSASPermissions.parse('rwdlac'),
        services: 'b',
        resourceTypes: 'sco',
        expiresOn: new Date(Date.now() + 3600_000),
        protocol: SASProtocol.HttpsAndHttp,
      },
      new StorageSharedKeyCredential(account(), accountKey()),
    ).toString();
    const repo = await open(uniqueRoot('sas'), {
      connectionString: `BlobEndpoint=${endpoint()};SharedAccessSignature=${sas}`,
      blockSize: 256 * KiB,
    });
    expect(repo.capabilities.presign).toBe(false);
    const data = randomBytes(MiB + 17);
    await repo.write('d/big.bin', data);
    await repo.write('d/small.txt', 'small');
    expect((await readAll(await repo.openRead('d/big.bin'))).equals(data)).toBe(true);
    expect((await repo.stat('d/big.bin')).fileSize).toBe(data.length);
    expect((await repo.listArtifacts('d')).map((f) => f.path).sort()).toEqual(['d/big.bin', 'd/small.txt']);
    await repo.deleteArtifacts('d');
    expect(await repo.listArtifacts('')).toEqual([]);
  });

  it('a blob name with spaces, plus, percent, unicode and reserved characters round-trips', async () => {
    const repo = await open(uniqueRoot('names'));
    const names = ['a b/c+d%e.txt', 'ü/ß 東京 (1)!.bin', "q'uote&amp;=;.txt"];
    for (const name of names) await repo.write(name, name);
    for (const name of names) {
      expect((await readAll(await repo.openRead(name))).toString()).toBe(name);
      expect((await repo.stat(name)).fileSize).toBe(Buffer.byteLength(name));
    }
    const listed = await Promise.all(['a b', 'ü', ''].map((dir) => repo.listArtifacts(dir)));
    expect(listed[0]!.map((f) => f.path)).toEqual(['a b/c+d%e.txt']);
    expect(listed[1]!.map((f) => f.path)).toEqual(['ü/ß 東京 (1)!.bin']);
    expect(listed[2]!.map((f) => f.path).sort()).toEqual(['a b', "q'uote&amp;=;.txt", 'ü'].sort());
  });
});
