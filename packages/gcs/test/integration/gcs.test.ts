import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import {
  type ArtifactRepository,
  ArtifactsError,
  crc32c,
  createHasher,
  openRepository,
  parseArtifactUri,
} from '@artifacts/core';
import { readAll, startHttpFaultProxy } from '@artifacts/testkit';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import '../../src/index.js';
import { GcsDriver } from '../../src/internal/driver.js';
import { createGcsClient, type GcsClient } from '../../src/internal/lean.js';
import { resetDeprecationWarning, resolveGcsConfig } from '../../src/internal/settings.js';
import { env, uniqueRoot } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const endpoint = () => env('ARTIFACTS_IT_GCS_ENDPOINT');

const opened: ArtifactRepository[] = [];
const restores: Array<() => void> = [];
const servers: Server[] = [];
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
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  vi.restoreAllMocks();
});

async function expectCode(promise: Promise<unknown>, code: string): Promise<ArtifactsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ArtifactsError.is(error), `expected an ArtifactsError ${code}, got ${String(error)}`).toBe(true);
  expect((error as ArtifactsError).code).toBe(code);
  return error as ArtifactsError;
}

const crc = (data: Uint8Array) => {
  const hasher = createHasher('crc32c');
  hasher.update(data);
  return hasher.digest();
};

/** A driver straight on the emulator, to see what the store reports. */
async function driverFor(uri: string, options: Record<string, unknown> = {}) {
  const config = resolveGcsConfig(parseArtifactUri(uri), options);
  const client = await createGcsClient(config);
  return new GcsDriver(config, client);
}

/** An HTTP server answering every request with `status` and a JSON API error (a failure fake-gcs-server cannot produce: it checks no credentials). */
async function failingServer(status: number, message: string, onRequest = () => {}): Promise<string> {
  const server = createServer((_req, res) => {
    onRequest();
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: status, message, errors: [{ message }] } }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('endpoint', () => {
  it('STORAGE_EMULATOR_HOST as a bare host:port is plain http, with the right JSON and upload URLs', async () => {
    withEnv({ STORAGE_EMULATOR_HOST: new URL(endpoint()).host });
    const repo = await open();
    expect(repo.capabilities).toMatchObject({ presign: false, multipartUpload: false });
    await repo.write('small.txt', 'simple upload');
    await repo.write('big.bin', randomBytes(9 * MiB));
    expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['big.bin', 'small.txt']);
  });

  it('the endpoint option wins over a STORAGE_EMULATOR_HOST that points nowhere', async () => {
    withEnv({ STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9' });
    const repo = await open(uniqueRoot(), { endpoint: endpoint(), anonymous: true });
    await repo.write('a.txt', 'x');
    expect(await repo.exists('a.txt')).toBe(true);
  });
});

describe('our own requests', () => {
  it('put (simple and resumable), get, list, stat, copy and delete never load the client library; a chunked upload does', async () => {
    // A fresh process that records every module of Google's client libraries it resolves.
    const script = new URL('./fixtures/lean-no-library.mjs', import.meta.url).pathname;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', script, uniqueRoot('nolib'), endpoint()],
      { cwd: new URL('../..', import.meta.url).pathname },
    );
    const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
    expect(out).toMatchObject({
      text: 'lean body',
      listed: ['dir/', 'small.txt'],
      left: ['small.txt'],
      size: 9,
      bigSize: 9 * MiB,
      copied: 1,
      copySize: 9 * MiB,
      before: [],
    });
    expect(out.after).toContain('@google-cloud/storage');
  });

  it("with credentials, each of our requests carries the auth client's token; anonymous, none", async () => {
    const proxy = await startHttpFaultProxy(endpoint());
    onTestFinished(() => proxy.close());
    const key = JSON.parse(
      readFileSync(new URL('../unit/fixtures/conformance-service-account.json', import.meta.url), 'utf8'),
    );
    const exercise = async (
      options: Record<string, unknown>,
      stub?: (client: GcsClient) => Promise<void>,
    ) => {
      const config = resolveGcsConfig(parseArtifactUri(uniqueRoot('auth')), {
        endpoint: proxy.url,
        ...options,
      });
      const client = await createGcsClient(config);
      await stub?.(client);
      const driver = new GcsDriver(config, client);
      proxy.requests.length = 0;
      await driver.write('a.txt', Readable.from([Buffer.from('abc')]), { size: 3 });
      expect((await readAll((await driver.read('a.txt', {})).stream)).toString()).toBe('abc');
      expect(await driver.stat('a.txt', {})).toMatchObject({ size: 3 });
      await driver.delete('', {});
      await driver.close();
      expect(proxy.requests.length).toBeGreaterThanOrEqual(4);
      return proxy.requests.map((request) => request.headers.authorization);
    };
    // The token service is Google's (unreachable offline): the auth client's answer is stubbed, so
    // what is proven is that every request of ours asks that client and sends what it gives.
    const signed = await exercise(
      { credentials: { client_email: key.client_email, private_key: key.private_key } },
      async (client) => {
        vi.spyOn((await client.credentials())!.authClient, 'getRequestHeaders').mockResolvedValue(
          new Headers({ authorization: 'Bearer lean-token' }),
        );
      },
    );
    expect(new Set(signed)).toEqual(new Set(['Bearer lean-token']));
    expect(new Set(await exercise({ anonymous: true }))).toEqual(new Set([undefined]));
  });
});

describe('errors', () => {
  it('a missing bucket is not_found naming the bucket, for every operation', async () => {
    const repo = await open('gs://no-such-bucket-here/root');
    // Thunks: each call starts only when awaited (an early rejection would be unhandled).
    for (const attempt of [
      () => repo.listArtifacts(),
      () => repo.write('a.txt', 'x'),
      () => repo.openRead('a.txt'),
      () => repo.stat('a.txt'),
      () => repo.deleteArtifacts('a'),
    ]) {
      const error = await expectCode(attempt(), 'not_found');
      expect(error.message).toContain('bucket "no-such-bucket-here" does not exist');
    }
  });

  it('a missing object is not_found naming the object', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri);
    const error = await expectCode(repo.openRead('nope/missing.bin'), 'not_found');
    expect(error.message).toContain(`object "${parseArtifactUri(uri).path}/nope/missing.bin"`);
    await expectCode(repo.stat('nope/missing.bin'), 'not_found');
  });

  it.each([
    // The client library's own 3 retries on top of core's made it 12.
    { why: 'core alone retries', options: { maxRetries: 2 }, requests: 3 },
    { why: "core's maxRetries reaches the driver", options: { maxRetries: 1 }, requests: 2 },
    // Stats and listings are our own requests: the library's retries never stack on core's.
    {
      why: 'libraryRetries does not touch our requests',
      options: { maxRetries: 0, libraryRetries: 2 },
      requests: 1,
    },
  ])(
    'a throttled stat and listing: $why ($requests requests each)',
    async ({ options, requests }) => {
      let count = 0;
      const url = await failingServer(503, 'Backend Error', () => count++);
      const repo = await open('gs://bkt1/r', { endpoint: url, anonymous: true, ...options });
      await expectCode(repo.stat('a.bin'), 'unavailable');
      expect(count).toBe(requests);
      count = 0;
      await expectCode(repo.listArtifacts(), 'unavailable');
      expect(count).toBe(requests);
    },
    30_000,
  );

  it('401 is unauthenticated and 403 permission_denied (from a server that checks credentials)', async () => {
    const unauth = await open('gs://bkt1/r', {
      endpoint: await failingServer(401, 'Invalid Credentials'),
      anonymous: true,
      maxRetries: 1,
    });
    await expectCode(unauth.listArtifacts(), 'unauthenticated');
    await expectCode(unauth.openRead('a.bin'), 'unauthenticated');
    const denied = await open('gs://bkt1/r', {
      endpoint: await failingServer(403, 'caller does not have storage.objects.list access'),
      anonymous: true,
      maxRetries: 1,
    });
    const error = await expectCode(denied.listArtifacts(), 'permission_denied');
    expect(error.message).toContain('bucket "bkt1"');
    await expectCode(denied.write('a.txt', 'x'), 'permission_denied');
  });
});

describe('uploads', () => {
  it('write reports the CRC32C the store computed, equal to the bytes sent (simple and resumable)', async () => {
    const uri = uniqueRoot();
    const driver = await driverFor(uri, { resumableThreshold: 64 * KiB });
    for (const size of [1000, 300 * KiB]) {
      const data = randomBytes(size);
      const result = await driver.write(`f${size}.bin`, Readable.from([data]), { size });
      expect(result?.checksum).toEqual({ algorithm: 'crc32c', value: crc(data) });
      const read = await driver.read(`f${size}.bin`, {});
      expect(read.checksum).toEqual({ algorithm: 'crc32c', value: crc(data) });
      expect((await readAll(read.stream)).equals(data)).toBe(true);
    }
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    await driver.delete('', {});
  });

  it('MLFLOW_GCS_UPLOAD_CHUNK_SIZE sends a resumable upload in chunks of that size', async () => {
    withEnv({ MLFLOW_GCS_UPLOAD_CHUNK_SIZE: String(256 * KiB) });
    const repo = await open();
    const data = randomBytes(MiB + 5);
    await repo.write('chunked.bin', Readable.from([data]));
    expect((await readAll(await repo.openRead('chunked.bin'))).equals(data)).toBe(true);
  });

  it('an invalid chunk size is refused when the repository opens', async () => {
    withEnv({ MLFLOW_GCS_UPLOAD_CHUNK_SIZE: '1000000' });
    await expectCode(openRepository(uniqueRoot()), 'invalid_argument');
    withEnv({ MLFLOW_GCS_UPLOAD_CHUNK_SIZE: undefined, MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE: '262143' });
    await expectCode(openRepository(uniqueRoot()), 'invalid_argument');
  });

  it('an aborted resumable upload leaves nothing', async () => {
    const repo = await open();
    const controller = new AbortController();
    let sent = 0;
    const body = new Readable({
      read() {
        sent += 256 * KiB;
        if (sent > 3 * MiB) {
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

  it('MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT bounds a transfer: a stalled upload times out, leaving nothing', async () => {
    withEnv({ MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT: '1' });
    const repo = await open();
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

  it('the deprecated MLFLOW_GCS_DEFAULT_TIMEOUT still works, with a DeprecationWarning', async () => {
    resetDeprecationWarning();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    withEnv({ MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT: undefined, MLFLOW_GCS_DEFAULT_TIMEOUT: '30' });
    const repo = await open();
    await repo.write('t.txt', 'ok');
    expect(await repo.exists('t.txt')).toBe(true);
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('MLFLOW_GCS_DEFAULT_TIMEOUT'),
      expect.anything(),
    );
  });
});

describe('downloads', () => {
  it('ranged requests of downloadChunkSize, several in flight, give the exact bytes', async () => {
    const repo = await open(uniqueRoot(), { downloadChunkSize: 256 * KiB, downloadConcurrency: 3 });
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

  it('MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE sets the ranged request size; empty objects read fine', async () => {
    withEnv({ MLFLOW_GCS_DOWNLOAD_CHUNK_SIZE: String(256 * KiB) });
    const repo = await open();
    const data = randomBytes(MiB);
    await repo.write('m.bin', data);
    await repo.write('empty', '');
    expect((await readAll(await repo.openRead('m.bin'))).equals(data)).toBe(true);
    expect((await readAll(await repo.openRead('empty'))).length).toBe(0);
  });
});

describe('listing and deleting', () => {
  it('listing pages through listPageSize with a delimiter', async () => {
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

  it('console-style `dir/` placeholders list as directories, never files, and go with a directory delete', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri);
    for (const name of ['run/a.txt', 'run/sub/b.txt', 'run2/keep.txt']) await repo.write(name, name);
    const { bucket, path } = parseArtifactUri(uri);
    const config = resolveGcsConfig(parseArtifactUri(uri), {});
    const raw = (await (await createGcsClient(config)).storage()).bucket(bucket!);
    for (const name of ['run/', 'run/sub/', 'run/empty/', 'run2/'])
      await raw.file(`${path}/${name}`).save('');
    const paths = (list: { path: string; isDir: boolean }[]) =>
      list.map((f) => `${f.path}${f.isDir ? '/' : ''}`);
    expect(paths(await repo.listArtifacts('run'))).toEqual(['run/a.txt', 'run/empty/', 'run/sub/']);
    expect(paths(await repo.listArtifactsRecursive())).toEqual([
      'run/a.txt',
      'run/sub/b.txt',
      'run2/keep.txt',
    ]);
    expect(await repo.stat('run/empty')).toMatchObject({ isDir: true });

    await repo.deleteArtifacts('run');
    expect(await repo.exists('run')).toBe(false);
    const [left] = await raw.getFiles({ prefix: `${path}/` });
    expect(left.map((file) => file.name.slice(path.length + 1)).sort()).toEqual(['run2/', 'run2/keep.txt']);
  });
});

describe('signed URLs (fake-gcs-server serves path-style GETs without checking signatures)', () => {
  it('a V4-signed GET URL for the emulator endpoint fetches the object', async () => {
    const uri = uniqueRoot();
    const repo = await open(uri);
    await repo.write('signed.txt', 'signed bytes');
    const key = JSON.parse(
      readFileSync(new URL('../unit/fixtures/conformance-service-account.json', import.meta.url), 'utf8'),
    );
    // Signing is local with a key; this driver never sends a request (that would need an OAuth token).
    const signer = await driverFor(uri, {
      endpoint: endpoint(),
      anonymous: false,
      credentials: { client_email: key.client_email, private_key: key.private_key },
    });
    expect(signer.capabilities).toMatchObject({ presign: true, multipartUpload: true });
    const url = await signer.presign!.getUrl('signed.txt', { expiresInSeconds: 300 });
    expect(url.startsWith(`${endpoint()}/artifacts-it/`)).toBe(true);
    expect(new URL(url).searchParams.get('X-Goog-Expires')).toBe('300');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('signed bytes');
  });
});

describe('ranged reads', () => {
  /**
   * testkit's HTTP fault proxy in front of fake-gcs-server, cutting the answer to the first GET whose
   * Range starts at `cutAt` half-way through its body (a reset mid-range, which the real server
   * cannot produce on demand); `starts` gives every Range asked for.
   */
  async function cuttingProxy(cutAt: number): Promise<{ url: string; starts: () => number[] }> {
    const proxy = await startHttpFaultProxy(endpoint());
    onTestFinished(() => proxy.close());
    proxy.inject({ cutResponse: 0.5 }, { match: (r) => r.method === 'GET' && r.rangeStart === cutAt });
    const starts = () =>
      proxy.requests.flatMap((r) => (r.method === 'GET' && r.rangeStart !== undefined ? [r.rangeStart] : []));
    return { url: proxy.url, starts };
  }

  it('a reset half-way through one range of a parallel download resumes that range only (core retries it, not the library)', async () => {
    const root = uniqueRoot('reset-range');
    const data = randomBytes(40 * MiB);
    const writer = await open(root, { endpoint: endpoint(), anonymous: true });
    await writer.write('big.bin', data);
    const proxy = await cuttingProxy(16 * MiB);
    const repo = await open(root, {
      endpoint: proxy.url,
      anonymous: true,
      downloadChunkSize: 8 * MiB,
      downloadConcurrency: 4,
    });
    const back = await readAll(await repo.openRead('big.bin'));
    expect(createHash('sha256').update(back).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
    const resumed = proxy.starts().filter((start) => start % (8 * MiB) !== 0);
    expect(resumed).toHaveLength(1);
    expect(resumed[0]).toBeGreaterThan(16 * MiB);
    expect(resumed[0]).toBeLessThan(24 * MiB);
    expect(proxy.starts().filter((start) => start === 16 * MiB)).toHaveLength(1);
  });
});
