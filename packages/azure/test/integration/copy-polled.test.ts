import type { IncomingHttpHeaders } from 'node:http';
import { type ArtifactRepository, ArtifactsError, copyArtifacts, openRepository } from '@artifacts/core';
import {
  dataStream,
  type HttpFaultProxy,
  type ProxiedRequest,
  startHttpFaultProxy,
} from '@artifacts/testkit';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

/**
 * The polled Copy Blob path: a blob above Copy Blob From URL's 256 MiB limit is copied with Copy
 * Blob, which the service may answer `x-ms-copy-status: pending`; the driver then asks about the
 * destination (HEAD) until the copy is done, and aborts it and removes the destination when it
 * fails or is cancelled.
 *
 * Azurite copies within one account at once and always answers `success`, so the one seam is a
 * proxy between the driver and Azurite that forwards every request and body unchanged and rewrites
 * only the `x-ms-copy-status` answer headers of the Copy Blob and of the first HEADs of its
 * destination to what the service says of a copy still running. The size that chooses the path, the
 * copy itself and its abort and delete are Azurite's own.
 */

const MiB = 1024 * 1024;
/** Copy Blob From URL's limit is 256 MiB: one byte more takes Copy Blob. */
const SIZE = 256 * MiB + 1;

const connectionString = (endpoint: string) =>
  `DefaultEndpointsProtocol=http;AccountName=${env('ARTIFACTS_IT_AZURE_ACCOUNT')};AccountKey=${env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY')};BlobEndpoint=${endpoint};`;

/** The MD5 the blob service holds for `key` of the repository at `uri` (asked of Azurite directly). */
async function contentMd5(uri: string, key: string): Promise<string | undefined> {
  const { username: container, pathname } = new URL(uri);
  const service = new BlobServiceClient(
    env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT'),
    new StorageSharedKeyCredential(env('ARTIFACTS_IT_AZURE_ACCOUNT'), env('ARTIFACTS_IT_AZURE_ACCOUNT_KEY')),
  );
  const blob = service.getContainerClient(container).getBlobClient(`${pathname.slice(1)}/${key}`);
  const md5 = (await blob.getProperties()).contentMD5;
  return md5 ? Buffer.from(md5).toString('base64') : undefined;
}

const isCopyBlob = (r: ProxiedRequest) =>
  r.method === 'PUT' && r.headers['x-ms-copy-source'] !== undefined && !r.url.includes('comp=copy');
const isAbort = (r: ProxiedRequest) => r.method === 'PUT' && r.headers['x-ms-copy-action'] === 'abort';

describe('azure on Azurite: Copy Blob above 256 MiB, polled until done', () => {
  let seed: ArtifactRepository;
  let md5: string | undefined;
  /** What the next HEADs of the copy's destination say: one status each, then Azurite's own. */
  let polls: string[] = [];
  let destination = '';
  let proxy: HttpFaultProxy;
  /** The proxy's address with the account's path (Azurite's endpoint is `http://host:port/account`). */
  let proxyEndpoint = '';
  /** Destinations (emptied after each test) and sources (only closed: they share the seed's blob). */
  const opened: ArtifactRepository[] = [];
  const sources: ArtifactRepository[] = [];

  const rewrite = (request: ProxiedRequest, headers: IncomingHttpHeaders) => {
    if (isCopyBlob(request)) {
      destination = request.url.split('?')[0]!;
      headers['x-ms-copy-status'] = 'pending';
    } else if (request.method === 'HEAD' && request.url.split('?')[0] === destination) {
      const status = polls.shift();
      if (status === undefined) return;
      headers['x-ms-copy-status'] = status;
      if (status === 'failed') headers['x-ms-copy-status-description'] = '500 InternalError: copy failed';
    }
  };

  /** Source and destination repositories through the proxy (one endpoint: one copy scope). */
  async function pair(label: string): Promise<[ArtifactRepository, ArtifactRepository]> {
    const options = { connectionString: connectionString(proxyEndpoint), maxRetries: 0 };
    const src = await openRepository(seed.uri, options);
    const dst = await openRepository(uniqueRoot(label), options);
    sources.push(src);
    opened.push(dst);
    return [src, dst];
  }

  beforeAll(async () => {
    const endpoint = env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT');
    proxy = await startHttpFaultProxy(endpoint, (request) => ({
      answerHeaders: (headers) => rewrite(request, headers),
    }));
    proxyEndpoint = `${proxy.url}${new URL(endpoint).pathname.replace(/\/$/, '')}`;
    seed = await openRepository(uniqueRoot('copy-polled'), {
      connectionString: connectionString(env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT')),
    });
    await seed.write('big.bin', dataStream(SIZE, { seed: 'copy-polled' }));
    md5 = await contentMd5(seed.uri, 'big.bin');
    expect(md5).toBeDefined();
  }, 300_000);
  afterEach(async () => {
    polls = [];
    destination = '';
    proxy.requests.length = 0;
    for (const repo of opened.splice(0)) {
      await repo.deleteArtifacts().catch(() => undefined);
      await repo.close().catch(() => undefined);
    }
    for (const repo of sources.splice(0)) await repo.close().catch(() => undefined);
  });
  afterAll(async () => {
    await seed?.deleteArtifacts().catch(() => undefined);
    await seed?.close();
    await proxy?.close();
  });

  it('a pending copy is asked about until it succeeds; the copy is the whole blob', async () => {
    const [src, dst] = await pair('copy-polled-dst');
    polls = ['pending', 'pending'];
    const result = await copyArtifacts(src, { repo: dst, path: 'copied' });
    expect(result).toEqual({ files: 1, bytes: SIZE, serverSide: 1 });
    // Copy Blob, not Copy Blob From URL: no synchronous copy was asked for.
    const copies = proxy.requests.filter(isCopyBlob);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.headers['x-ms-requires-sync']).toBeUndefined();
    // Two answers said pending, the third (Azurite's own) success: three polls, nothing aborted.
    expect(
      proxy.requests.filter((r) => r.method === 'HEAD' && r.url.split('?')[0] === destination),
    ).toHaveLength(3);
    expect(proxy.requests.some(isAbort)).toBe(false);
    expect((await dst.stat('copied/big.bin')).fileSize).toBe(SIZE);
    expect(await contentMd5(dst.uri, 'copied/big.bin')).toBe(md5);
  }, 120_000);

  it('a copy the service ends as failed is aborted, its destination removed, and the reason given', async () => {
    const [src, dst] = await pair('copy-failed-dst');
    polls = ['pending', 'failed'];
    const error = await copyArtifacts(src, { repo: dst, path: 'copied' }).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unavailable')).toBe(true);
    expect((error as Error).message).toContain(
      'the blob service ended the copy as failed: 500 InternalError',
    );
    const abort = proxy.requests.find(isAbort);
    expect(abort?.url).toMatch(/comp=copy&copyid=[^&]+/);
    expect(await dst.exists('copied/big.bin')).toBe(false);
  }, 120_000);

  it('a cancelled copy is aborted and its destination removed', async () => {
    const [src, dst] = await pair('copy-cancelled-dst');
    polls = ['pending', 'pending', 'pending', 'pending', 'pending'];
    const controller = new AbortController();
    const copying = copyArtifacts(src, { repo: dst, path: 'copied' }, { signal: controller.signal });
    // Cancelled while it polls (one HEAD a second).
    setTimeout(() => controller.abort(), 1500);
    const error = await copying.catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'aborted')).toBe(true);
    expect(polls.length).toBeGreaterThan(0);
    console.log(
      String(error),
      polls.length,
      proxy.requests.map((r) => `${r.method} ${r.url} ${r.headers['x-ms-copy-action'] ?? ''}`),
    );
    // The abort and the delete follow the cancellation (not under the cancelled call's signal).
    await vi.waitFor(
      async () => {
        expect(proxy.requests.some(isAbort)).toBe(true);
        expect(await dst.exists('copied/big.bin')).toBe(false);
      },
      { timeout: 10_000, interval: 200 },
    );
  }, 120_000);
});
