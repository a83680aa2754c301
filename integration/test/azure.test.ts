import { readFileSync } from 'node:fs';
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';
import { httpStatus } from '../src/util.ts';

let srv: LaunchedForTest;
let env: Record<string, string>;
let container: ContainerClient;

beforeAll(async () => {
  srv = await launchForTest('azure');
  env = srv.env;
  container = BlobServiceClient.fromConnectionString(env.AZURE_STORAGE_CONNECTION_STRING!).getContainerClient(
    env.ARTIFACTS_IT_AZURE_CONTAINER!,
  );
});
afterAll(() => srv?.stop());

describe('Azurite (azure)', () => {
  it('exports the documented variables', () => {
    expect(env.ARTIFACTS_IT_AZURE_URI).toBe(
      'wasbs://artifacts-it@devstoreaccount1.blob.core.windows.net/root',
    );
    expect(env.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    expect(env.AZURE_STORAGE_CONNECTION_STRING).toContain(
      `BlobEndpoint=${env.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT};`,
    );
    expect(env.ARTIFACTS_IT_AZURE_ACCOUNT).toBe('devstoreaccount1');
    expect(env.ARTIFACTS_IT_AZURE_ACCOUNT_KEY).toMatch(/==$/);
    expect(env.ARTIFACTS_IT_AZURE_TLS_ENDPOINT).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
  });

  it('the https instance has the container too, and a self-signed certificate trusted by its CA file only', async () => {
    const ca = readFileSync(env.ARTIFACTS_IT_AZURE_CA_FILE!, 'utf8');
    const tls = new BlobServiceClient(
      env.ARTIFACTS_IT_AZURE_TLS_ENDPOINT!,
      new StorageSharedKeyCredential(env.ARTIFACTS_IT_AZURE_ACCOUNT!, env.ARTIFACTS_IT_AZURE_ACCOUNT_KEY!),
      { tlsOptions: { ca } } as object,
    );
    expect(await tls.getContainerClient(env.ARTIFACTS_IT_AZURE_CONTAINER!).exists()).toBe(true);
    await expect(httpStatus(`${new URL(env.ARTIFACTS_IT_AZURE_TLS_ENDPOINT!).origin}/`)).rejects.toThrow(
      /self-signed|self signed/,
    );
  });

  it('put, get (whole and ranged), hierarchical list, delete', async () => {
    for (const [name, body] of [
      ['root/a/one.txt', 'one'],
      ['root/a/two.txt', 'two'],
      ['root/a/sub/three.txt', 'three'],
    ] as const) {
      await container.getBlockBlobClient(name).upload(body, body.length);
    }
    const buf = await container.getBlockBlobClient('root/a/two.txt').downloadToBuffer();
    expect(buf.toString()).toBe('two');
    const ranged = await container.getBlockBlobClient('root/a/sub/three.txt').downloadToBuffer(1, 3);
    expect(ranged.toString()).toBe('hre');
    const seen: string[] = [];
    for await (const item of container.listBlobsByHierarchy('/', { prefix: 'root/a/' })) {
      seen.push(item.kind === 'prefix' ? `prefix:${item.name}` : item.name);
    }
    expect(seen.sort()).toEqual(['prefix:root/a/sub/', 'root/a/one.txt', 'root/a/two.txt']);
    for (const n of ['root/a/one.txt', 'root/a/two.txt', 'root/a/sub/three.txt']) {
      await container.getBlockBlobClient(n).delete();
    }
    const left: string[] = [];
    for await (const b of container.listBlobsFlat({ prefix: 'root/a/' })) left.push(b.name);
    expect(left).toEqual([]);
  });

  it('staged blocks + commit block list (what chunked uploads use)', async () => {
    const blob = container.getBlockBlobClient('root/blocks.bin');
    const ids = [0, 1, 2].map((i) => Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64'));
    const chunks = [Buffer.alloc(1024, 1), Buffer.alloc(1024, 2), Buffer.alloc(10, 3)];
    for (let i = 0; i < 3; i++) await blob.stageBlock(ids[i]!, chunks[i]!, chunks[i]!.length);
    await blob.commitBlockList(ids);
    const back = await blob.downloadToBuffer();
    expect(back.equals(Buffer.concat(chunks))).toBe(true);
    await blob.delete();
  });

  it('restart keeps port and data', async () => {
    const blob = container.getBlockBlobClient('root/keep.txt');
    await blob.upload('kept', 4);
    await srv.server.running.restart!();
    expect((await blob.downloadToBuffer()).toString()).toBe('kept');
    for (const l of srv.server.listening) expect(l.address).toMatch(/^(127\.|::1$)/);
  });
});
