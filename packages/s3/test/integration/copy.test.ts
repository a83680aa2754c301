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
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { adminClient, env, prefixOf, uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;
const admin = adminClient();
const bucket = () => env('ARTIFACTS_IT_S3_BUCKET');
const opened: ArtifactRepository[] = [];
let proxy: TcpProxy;
let endpointUrl: string;

beforeAll(async () => {
  const server = new URL(env('MLFLOW_S3_ENDPOINT_URL'));
  proxy = await startTcpProxy({ host: server.hostname, port: Number(server.port) });
  endpointUrl = `${server.protocol}//${server.hostname}:${proxy.port}`;
});

afterEach(async () => {
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close().catch(() => undefined);
  }
});

afterAll(async () => {
  admin.destroy();
  await proxy.close();
});

/** A repository whose every byte to and from MinIO passes through the counting proxy. */
async function open(uri = uniqueRoot(), options: Record<string, unknown> = {}): Promise<ArtifactRepository> {
  const repo = await openRepository(uri, { endpointUrl, ...options });
  opened.push(repo);
  return repo;
}

/** Stores bytes straight in MinIO (not through the proxy). */
async function put(root: string, key: string, body: Buffer): Promise<void> {
  await admin.send(new PutObjectCommand({ Bucket: bucket(), Key: `${prefixOf(root)}/${key}`, Body: body }));
}

async function get(root: string, key: string): Promise<Buffer> {
  const out = await admin.send(new GetObjectCommand({ Bucket: bucket(), Key: `${prefixOf(root)}/${key}` }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('server-side copy (MinIO, bytes counted on the client sockets)', () => {
  it('copies a tree between two roots of one bucket with CopyObject and UploadPartCopy: no object bytes through the client', async () => {
    const srcRoot = uniqueRoot('copy-src');
    const dstRoot = uniqueRoot('copy-dst');
    const big = randomBytes(21 * MiB);
    const small = randomBytes(300 * 1024);
    await put(srcRoot, 'model/weights.bin', big);
    await put(srcRoot, 'model/config.bin', small);
    await put(srcRoot, 'model2/sibling.bin', Buffer.from('never copied'));
    // A 5 MiB cutoff sends the 21 MiB object through the multipart copy (3 parts of 8 MiB).
    const src = await open(srcRoot, { copyCutoffBytes: 5 * MiB });
    const dst = await open(dstRoot, { copyCutoffBytes: 5 * MiB });
    proxy.resetCounters();
    const result = await copyArtifacts({ repo: src, path: 'model' }, { repo: dst, path: 'copied' });
    const through = proxy.bytesUp + proxy.bytesDown;
    console.log(
      `s3 server-side copy of ${big.length + small.length} bytes: ${proxy.bytesUp} bytes up, ${proxy.bytesDown} down`,
    );
    expect(result).toEqual({ files: 2, bytes: big.length + small.length, serverSide: 2 });
    expect(through).toBeLessThan(64 * 1024);
    expect(sha(await get(dstRoot, 'copied/weights.bin'))).toBe(sha(big));
    expect(sha(await get(dstRoot, 'copied/config.bin'))).toBe(sha(small));
    // A multipart ETag names its part count: 21 MiB in parts of 8 MiB, by UploadPartCopy.
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: bucket(), Key: `${prefixOf(dstRoot)}/copied/weights.bin` }),
    );
    expect(head.ETag).toMatch(/-3"$/);
    const listed = await admin.send(
      new ListObjectsV2Command({ Bucket: bucket(), Prefix: `${prefixOf(dstRoot)}/` }),
    );
    expect(
      (listed.Contents ?? []).map((object) => object.Key!.slice(prefixOf(dstRoot).length + 1)).sort(),
    ).toEqual(['copied/config.bin', 'copied/weights.bin']);
    const uploads = await admin.send(
      new ListMultipartUploadsCommand({ Bucket: bucket(), Prefix: `${prefixOf(dstRoot)}/` }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
  }, 120_000);

  it('streams between two stores (one endpoint direct, one through the proxy): every byte passes, intact', async () => {
    const srcRoot = uniqueRoot('copy-stream');
    const body = randomBytes(3 * MiB);
    await put(srcRoot, 'a/data.bin', body);
    // Another endpoint is another store as far as the client can tell: the bytes are streamed.
    const direct = await openRepository(srcRoot, { endpointUrl: env('MLFLOW_S3_ENDPOINT_URL') });
    opened.push(direct);
    const dst = await open();
    proxy.resetCounters();
    const result = await copyArtifacts({ repo: direct, path: 'a' }, { repo: dst, path: 'b' });
    expect(result).toEqual({ files: 1, bytes: body.length, serverSide: 0 });
    expect(proxy.bytesUp).toBeGreaterThan(body.length);
    expect(sha(await get(dst.uri, 'b/data.bin'))).toBe(sha(body));
  }, 120_000);

  it('a missing source is not_found and nothing appears at the destination', async () => {
    const src = await open();
    const dst = await open();
    // Straight to the store's copy (no stat first): the object vanished after it was listed.
    const error = await copyFiles([
      { from: src, fromPath: 'nope.bin', to: dst, toPath: 'x.bin', size: 1 },
    ]).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'not_found')).toBe(true);
    expect(await dst.exists('x.bin')).toBe(false);
  }, 60_000);
});
