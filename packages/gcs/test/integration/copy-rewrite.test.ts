import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ArtifactRepository, ArtifactsError, copyArtifacts, openRepository } from '@artifacts/core';
import {
  dataStream,
  type HttpFaultProxy,
  type ProxiedRequest,
  startHttpFaultProxy,
} from '@artifacts/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

/**
 * The rewrite loop of a copy: GCS answers `objects.rewrite` with `done: false` and a rewrite token
 * when a copy takes more than one call (large objects, other locations or storage classes); the
 * driver sends the token back until the store says done, and gives up when the bytes it reports
 * rewritten stay the same for the timeout.
 *
 * fake-gcs-server rewrites any object in one call, so the one seam is a proxy in front of it that
 * forwards every request unchanged but answers chosen rewrite calls itself, as GCS documents an
 * unfinished rewrite (after a chosen delay). The copy that completes is fake-gcs-server's own.
 */

const SIZE = 256 * 1024;
const isRewrite = (r: ProxiedRequest) => r.method === 'POST' && r.url.includes('/rewriteTo/');
const tokenOf = (r: ProxiedRequest) => new URL(r.url, 'http://x').searchParams.get('rewriteToken');

interface Unfinished {
  rewriteToken: string;
  totalBytesRewritten: string;
  delayMs: number;
}

describe('gcs on fake-gcs-server: a rewrite continued until done, bounded by no progress', () => {
  let proxy: HttpFaultProxy;
  let seed: ArtifactRepository;
  /** What the next rewrite calls are answered (one each), then `then` (undefined: the server's own). */
  let answers: Unfinished[] = [];
  let then: Unfinished | undefined;
  const opened: ArtifactRepository[] = [];

  const open = async (uri: string, timeoutMs: number) => {
    const repo = await openRepository(uri, {
      endpoint: proxy.url,
      anonymous: true,
      maxRetries: 0,
      timeoutMs,
    });
    opened.push(repo);
    return repo;
  };

  beforeAll(async () => {
    proxy = await startHttpFaultProxy(env('ARTIFACTS_IT_GCS_ENDPOINT'), (request) => {
      if (!isRewrite(request)) return undefined;
      const answer = answers.shift() ?? then;
      if (!answer) return undefined;
      const { delayMs, ...body } = answer;
      const unfinished = { kind: 'storage#rewriteResponse', done: false, objectSize: String(SIZE), ...body };
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(unfinished),
        delayMs,
      };
    });
    seed = await openRepository(uniqueRoot('rewrite-src'), {
      endpoint: env('ARTIFACTS_IT_GCS_ENDPOINT'),
      anonymous: true,
    });
    await seed.write('a.bin', dataStream(SIZE, { seed: 'rewrite' }));
  });
  afterEach(async () => {
    answers = [];
    then = undefined;
    proxy.requests.length = 0;
    for (const repo of opened.splice(0)) {
      if (repo.uri !== seed.uri) await repo.deleteArtifacts().catch(() => undefined);
      await repo.close().catch(() => undefined);
    }
  });
  afterAll(async () => {
    await seed?.deleteArtifacts().catch(() => undefined);
    await seed?.close();
    await proxy?.close();
  });

  it('a rewrite slower than the timeout that keeps progressing is continued with each token until done', async () => {
    const timeoutMs = 1000;
    const src = await open(seed.uri, timeoutMs);
    const dst = await open(uniqueRoot('rewrite-dst'), timeoutMs);
    // Five unfinished answers 400 ms apart (twice the timeout in all), each with more bytes; then the server's own.
    answers = [1, 2, 3, 4, 5].map((n) => ({
      rewriteToken: `token-${n}`,
      totalBytesRewritten: String(n * 32 * 1024),
      delayMs: 400,
    }));
    const started = Date.now();
    const result = await copyArtifacts(src, { repo: dst, path: 'copied' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(result).toEqual({ files: 1, bytes: SIZE, serverSide: 1 });
    // The first call carries no token; each later one the token of the answer before it.
    expect(proxy.requests.filter(isRewrite).map(tokenOf)).toEqual([
      null,
      'token-1',
      'token-2',
      'token-3',
      'token-4',
      'token-5',
    ]);
    const copied = await buffer(await dst.openRead('copied/a.bin'));
    expect(copied.equals(await buffer(await seed.openRead('a.bin')))).toBe(true);
  }, 60_000);

  it('a rewrite that reports no progress for the timeout fails with timeout, and its calls stop', async () => {
    const timeoutMs = 1500;
    const src = await open(seed.uri, timeoutMs);
    const dst = await open(uniqueRoot('rewrite-stalled-dst'), timeoutMs);
    then = { rewriteToken: 'token', totalBytesRewritten: '1024', delayMs: 100 };
    const started = Date.now();
    const error = await copyArtifacts(src, { repo: dst, path: 'copied' }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect((error as Error).message).toContain(`made no progress for ${timeoutMs} ms (at 1024 bytes)`);
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs);
    expect(elapsed).toBeLessThan(timeoutMs + 4000);
    const calls = proxy.requests.filter(isRewrite).length;
    expect(calls).toBeGreaterThan(2);
    await sleep(500);
    expect(proxy.requests.filter(isRewrite)).toHaveLength(calls);
    // An unfinished rewrite leaves nothing at the destination.
    expect(await dst.exists('copied/a.bin')).toBe(false);
  }, 60_000);
});
