import { createHash, randomBytes } from 'node:crypto';
import { type ArtifactRepository, ArtifactsError, copyArtifacts, copyFiles } from '@artifacts/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashStream } from './data.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface ServerSideCopyOptions {
  /** The real server's address; the suite counts the client's bytes on a `TcpProxy` in front of it. */
  target: { host: string; port: number };
  /**
   * Opens a repository at `root` (a fresh, empty root of the store when undefined) whose client
   * connects to `via` (the counting proxy), or straight to the server when `via` is undefined. Two
   * repositories opened through the proxy share a store (so copies between them are native); one
   * opened straight to the server is another store to the client (another endpoint), so core
   * streams between the two. The suite deletes and closes what it opens.
   */
  open: (via: { host: string; port: number } | undefined, root?: string) => Promise<ArtifactRepository>;
  /** Size of the large file copied natively. Default 12 MiB. */
  bytes?: number;
  /**
   * Checks what only this store can tell after the native copy into `dst` at `path` (its large
   * file is `weights.bin`): a multipart ETag, no upload left pending, …
   */
  checkNativeCopy?: (dst: ArtifactRepository, path: string) => Promise<void>;
  /** Per-test timeout in ms. Default 120 s. */
  timeoutMs?: number;
}

/** Bytes on the client's sockets a native copy of a few files may use (requests, listings, answers). */
const CONTROL_BYTES = 64 * 1024;

/**
 * Proves `copyArtifacts` uses the store's own copy where source and destination share a store, by
 * counting the bytes on the client's sockets (a TCP proxy in front of the real server): no object
 * bytes pass through the client, the copy is intact and holds exactly the copied subtree. Between
 * two stores every byte streams through, intact; a source gone since it was listed is `not_found`
 * and leaves nothing. Call it at the top level of a backend's integration test file.
 */
export function describeServerSideCopy(name: string, options: ServerSideCopyOptions): void {
  const bytes = options.bytes ?? 12 * 1024 * 1024;
  const timeout = options.timeoutMs ?? 120_000;
  const opened: ArtifactRepository[] = [];
  let proxy: TcpProxy;
  const open = async (through: 'proxy' | 'direct', root?: string) => {
    const via = through === 'proxy' ? { host: proxy.host, port: proxy.port } : undefined;
    const repo = await options.open(via, root);
    opened.push(repo);
    return repo;
  };
  const sha = async (repo: ArtifactRepository, path: string) =>
    (await hashStream(await repo.openRead(path))).digest;
  const shaOf = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

  describe(`${name}: server-side copy (bytes counted on the client's sockets)`, () => {
    beforeAll(async () => {
      proxy = await startTcpProxy(options.target);
    });
    afterEach(async () => {
      for (const repo of opened.splice(0)) {
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close().catch(() => undefined);
      }
    });
    afterAll(async () => {
      await proxy.close();
    });

    it(
      'copies a tree between two roots of one store natively: no object bytes through the client',
      async () => {
        const seed = await open('direct');
        const big = randomBytes(bytes);
        await seed.write('model/weights.bin', big);
        await seed.write('model/config.json', '{"a":1}');
        await seed.write('model2/sibling.bin', 'never copied');
        const src = await open('proxy', seed.uri);
        const dst = await open('proxy');
        proxy.resetCounters();
        const result = await copyArtifacts({ repo: src, path: 'model' }, { repo: dst, path: 'copied' });
        console.log(
          `${name} server-side copy of ${big.length + 7} bytes: ${proxy.bytesUp} bytes up, ${proxy.bytesDown} down`,
        );
        expect(result).toEqual({ files: 2, bytes: big.length + 7, serverSide: 2 });
        expect(proxy.bytesUp + proxy.bytesDown).toBeLessThan(CONTROL_BYTES);
        const check = await open('direct', dst.uri);
        expect(await sha(check, 'copied/weights.bin')).toBe(shaOf(big));
        expect(await sha(check, 'copied/config.json')).toBe(shaOf(Buffer.from('{"a":1}')));
        expect((await check.listArtifactsRecursive()).map((file) => file.path)).toEqual([
          'copied/config.json',
          'copied/weights.bin',
        ]);
        await options.checkNativeCopy?.(check, 'copied');
      },
      timeout,
    );

    it(
      'streams between two stores (one endpoint direct, one through the proxy): every byte passes, intact',
      async () => {
        const src = await open('direct');
        const body = randomBytes(3 * 1024 * 1024);
        await src.write('a/data.bin', body);
        const dst = await open('proxy');
        proxy.resetCounters();
        const result = await copyArtifacts({ repo: src, path: 'a' }, { repo: dst, path: 'b' });
        expect(result).toEqual({ files: 1, bytes: body.length, serverSide: 0 });
        expect(proxy.bytesUp).toBeGreaterThan(body.length);
        expect(await sha(dst, 'b/data.bin')).toBe(shaOf(body));
      },
      timeout,
    );

    it(
      'a source gone since it was listed is not_found, and nothing appears at the destination',
      async () => {
        const src = await open('proxy');
        const dst = await open('proxy');
        // Straight to the store's copy (no stat first): the object vanished after it was listed.
        const error = await copyFiles([
          { from: src, fromPath: 'nope.bin', to: dst, toPath: 'x.bin', size: 1 },
        ]).catch((e: unknown) => e);
        expect(ArtifactsError.is(error, 'not_found')).toBe(true);
        expect(await dst.exists('x.bin')).toBe(false);
      },
      timeout,
    );
  });
}
