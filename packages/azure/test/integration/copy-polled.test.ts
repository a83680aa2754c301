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
 * only the `x-ms-copy-status` (and `x-ms-copy-progress`) answer headers of the Copy Blob and of the
 * HEADs of its destination to what the service says of a copy still running, and may hold the Copy
 * Blob's answer back. The size that chooses the path, the copy itself and its abort and delete are
 * Azurite's own.
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
/** What a HEAD of the destination says: a status, with the copy's progress (`copied/total`) or not. */
type Poll = string | { status: string; progress: string };

describe('azure on Azurite: Copy Blob above 256 MiB, polled until done', () => {
  let seed: ArtifactRepository;
  let md5: string | undefined;
  /** What the next HEADs of the copy's destination say: one each, then `then` (undefined: Azurite's own). */
  let polls: Poll[] = [];
  let then: Poll | undefined;
  let destination = '';
  /** The id Copy Blob answered, and when its answer left the proxy. */
  let copyId: string | undefined;
  let copyAnsweredAt = 0;
  /** When the first Abort Copy Blob arrived. */
  let abortedAt = 0;
  /** Hold Copy Blob's answer this long (ms); called when Copy Blob arrives. */
  let holdCopyBlob = 0;
  let onCopyBlob: (() => void) | undefined;
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
      copyId = String(headers['x-ms-copy-id']);
      copyAnsweredAt = Date.now();
    } else if (request.method === 'HEAD' && request.url.split('?')[0] === destination) {
      const poll = polls.shift() ?? then;
      if (poll === undefined) return;
      const { status, progress } = typeof poll === 'string' ? { status: poll, progress: undefined } : poll;
      headers['x-ms-copy-status'] = status;
      if (progress !== undefined) headers['x-ms-copy-progress'] = progress;
      if (status === 'failed') headers['x-ms-copy-status-description'] = '500 InternalError: copy failed';
    }
  };

  /** Source and destination repositories through the proxy (one endpoint: one copy scope). */
  async function pair(label: string, timeoutMs?: number): Promise<[ArtifactRepository, ArtifactRepository]> {
    const options = { connectionString: connectionString(proxyEndpoint), maxRetries: 0, timeoutMs };
    const src = await openRepository(seed.uri, options);
    const dst = await openRepository(uniqueRoot(label), options);
    sources.push(src);
    opened.push(dst);
    return [src, dst];
  }

  beforeAll(async () => {
    const endpoint = env('ARTIFACTS_IT_AZURE_BLOB_ENDPOINT');
    proxy = await startHttpFaultProxy(endpoint, (request) => {
      if (isAbort(request)) abortedAt ||= Date.now();
      if (!isCopyBlob(request)) return { answerHeaders: (headers) => rewrite(request, headers) };
      onCopyBlob?.();
      return { answerHeaders: (headers) => rewrite(request, headers), delayMs: holdCopyBlob };
    });
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
    then = undefined;
    destination = '';
    copyId = undefined;
    copyAnsweredAt = 0;
    abortedAt = 0;
    holdCopyBlob = 0;
    onCopyBlob = undefined;
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
    // The abort and the delete follow the cancellation (not under the cancelled call's signal).
    await vi.waitFor(
      async () => {
        expect(proxy.requests.some(isAbort)).toBe(true);
        expect(await dst.exists('copied/big.bin')).toBe(false);
      },
      { timeout: 10_000, interval: 200 },
    );
  }, 120_000);

  it('a copy cancelled while Copy Blob is under way is still aborted and its destination removed', async () => {
    const [src, dst] = await pair('copy-cancelled-put-dst');
    then = 'pending';
    const controller = new AbortController();
    // Cancelled after Azurite took the Copy Blob and before its answer (held back 2 s) comes: the
    // service has started the copy, and only the id in that answer can stop it.
    holdCopyBlob = 2000;
    onCopyBlob = () => setTimeout(() => controller.abort(), 300);
    const error = await copyArtifacts(
      src,
      { repo: dst, path: 'copied' },
      { signal: controller.signal },
    ).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'aborted')).toBe(true);
    await vi.waitFor(
      async () => {
        expect(proxy.requests.find(isAbort)?.url).toContain(`copyid=${copyId}`);
        expect(await dst.exists('copied/big.bin')).toBe(false);
      },
      { timeout: 10_000, interval: 200 },
    );
  }, 120_000);

  it('a copy that makes no progress for the timeout is aborted, its destination removed: timeout', async () => {
    const timeoutMs = 3000;
    const [src, dst] = await pair('copy-stalled-dst', timeoutMs);
    then = { status: 'pending', progress: `1024/${SIZE}` };
    const error = await copyArtifacts(src, { repo: dst, path: 'copied' }).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect((error as Error).message).toContain(
      `made no progress for ${timeoutMs} ms (at 1024/${SIZE} bytes)`,
    );
    expect(proxy.requests.find(isAbort)?.url).toContain(`copyid=${copyId}`);
    // Given up after the timeout with no progress, within a poll (1 s) and some slack of it.
    expect(abortedAt - copyAnsweredAt).toBeGreaterThanOrEqual(timeoutMs);
    expect(abortedAt - copyAnsweredAt).toBeLessThan(timeoutMs + 4000);
    expect(await dst.exists('copied/big.bin')).toBe(false);
  }, 120_000);

  it('a copy slower than the timeout that keeps progressing is not given up', async () => {
    const timeoutMs = 2500;
    const [src, dst] = await pair('copy-slow-dst', timeoutMs);
    // Six polls a second apart (twice the timeout), each with more bytes copied; then Azurite's success.
    polls = [1, 2, 3, 4, 5, 6].map((n) => ({ status: 'pending', progress: `${n * 32 * MiB}/${SIZE}` }));
    const result = await copyArtifacts(src, { repo: dst, path: 'copied' });
    expect(result).toEqual({ files: 1, bytes: SIZE, serverSide: 1 });
    expect(polls).toHaveLength(0);
    expect(proxy.requests.some(isAbort)).toBe(false);
    expect(await contentMd5(dst.uri, 'copied/big.bin')).toBe(md5);
  }, 120_000);
});
