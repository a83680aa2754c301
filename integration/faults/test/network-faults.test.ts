/**
 * Toxiproxy between the client and each real server: latency, a bandwidth limit, a connection
 * reset in the middle of a large upload and of a large download, a server that accepts and never
 * answers. Every backend either completes correctly (after retries) or fails with a clear error
 * within its timeout: never a hang, never a partial object at the final key, never a corrupt
 * download.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, ArtifactsError, openRepository, type RetryEvent } from '@artifacts/core';
import {
  type RunningToxiproxy,
  startToxiproxy,
  type Toxic,
  type ToxiProxy,
} from '@artifacts/integration/toxiproxy';
import { dataBytes, hashFile, readAll, startTcpProxy } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type FaultBackend, hdfsBackend, openThrough } from '../src/backends.ts';
import { describeOutcome, isClearFailure, settle } from '../src/outcome.ts';

const MiB = 1024 * 1024;
const LARGE = 16 * MiB;
/** The repositories' timeout (core's timeoutMs, and each backend's own connect/socket timeout). */
const TIMEOUT_MS = 8_000;
const FEW_MS = 5_000;
/**
 * The timeout of the repositories that meet a server that never answers. Shorter than `TIMEOUT_MS`:
 * every operation there waits out its whole timeout (one after another on sftp, ftp, hdfs and the
 * artifact server), and what is proven — a clear failure bounded by the timeout, the code `timeout`
 * where it must be, no partial object — does not depend on its length. The slack over it (`FEW_MS`,
 * or a second timeout) stays what it was. Measured: each silent operation failed 4.0–4.9 s in at
 * 4 s (load ~28), 6.0–12.1 s in at 8 s (the last CI run).
 */
const SILENT_TIMEOUT_MS = 4_000;
/**
 * Every operation against a server that never answers fails within `SILENT_MS` on every backend, and
 * on S3, Azure and GCS (`SILENT_IS_TIMEOUT`) within the timeout plus `FEW_MS`, with the code
 * `timeout`: the store never answers, so retrying cannot restart the clock (core's retry layer starts
 * no attempt once the timeout has passed with no answer). Elsewhere one attempt may fail early
 * (the artifact server's list: a first attempt ends at ~5 s, the second waits its own 8 s, 13.4 s in
 * all); the last attempt starts before the timeout has passed and is bounded by it, so the whole
 * stays under two timeouts.
 */
const SILENT_MS = 2 * SILENT_TIMEOUT_MS + FEW_MS;
/**
 * A connection cut mid-transfer or mid-listing ends (correct after retries, or a clear error) within
 * this: measured 0.3–6.5 s on every backend (up to 17 s on Azure in earlier runs), and each of its
 * attempts is bounded by the timeout.
 */
const RESET_MS = 2 * TIMEOUT_MS + FEW_MS;
/**
 * Only the watchdog that turns a hang into a failure, and the opening of a repository through a
 * silent server (a backend that logs in on open, sftp and ftp, retries its connection): nothing else
 * is allowed this long.
 */
const SLACK_MS = 40_000;
/** Backends whose silent-server failure must carry the code `timeout` (the others may say `unavailable`). */
const SILENT_IS_TIMEOUT = new Set(['s3', 'azure', 'gcs']);
/** Listing page sizes: backends where a listing of two pages is cut on page 2 (S3's is fixed). */
const PAGE_SIZES: Record<string, { size: number; options: Record<string, unknown> }> = {
  s3: { size: 1000, options: {} },
  azure: { size: 10, options: { listPageSize: 10 } },
  gcs: { size: 10, options: { listPageSize: 10 } },
};
/** For the tests that must complete (latency, bandwidth): a slow link is not a failure. */
const SLOW_TIMEOUT_MS = 120_000;

let work: string;
let largeFile: string;
let largeDigest: string;
let toxiproxy: RunningToxiproxy;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-faults-'));
  largeFile = join(work, 'large.bin');
  await writeFile(largeFile, dataBytes(LARGE, { seed: 'faults' }));
  largeDigest = (await hashFile(largeFile)).digest;
  toxiproxy = await startToxiproxy({ logFile: join(work, 'toxiproxy.log') });
});

afterAll(async () => {
  await toxiproxy?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function text(repo: ArtifactRepository, key: string): Promise<string> {
  return (await readAll(await repo.openRead(key))).toString('utf8');
}

/** HDFS: the DataNode, which WebHDFS redirects every transfer to, is behind the proxy too. */
const FAULT_BACKENDS: Record<string, () => Promise<FaultBackend>> = {
  ...BACKENDS,
  hdfs: () => hdfsBackend({ datanodeBehindProxy: true }),
};

/** The proxy in front of a backend's server, and those in front of its other addresses (same faults). */
class Proxies {
  constructor(private readonly all: ToxiProxy[]) {}
  get port(): number {
    return (this.all[0] as ToxiProxy).port;
  }
  async addToxic(toxic: Toxic): Promise<void> {
    for (const proxy of this.all) await proxy.addToxic(toxic);
  }
  async clear(): Promise<void> {
    for (const proxy of this.all) await proxy.clear();
  }
  async remove(): Promise<void> {
    for (const proxy of this.all) await proxy.remove().catch(() => undefined);
  }
}

describe.each(Object.keys(FAULT_BACKENDS))('%s behind a fault-injecting proxy', (name) => {
  let backend: FaultBackend;
  let proxy: Proxies;
  let run = 0;

  beforeAll(async () => {
    backend = await (FAULT_BACKENDS[name] as () => Promise<FaultBackend>)();
    const proxies = [await toxiproxy.proxy(`faults-${name}`, backend.port)];
    for (const [i, side] of (backend.sideProxies ?? []).entries()) {
      proxies.push(
        await toxiproxy.proxy(`faults-${name}-${i}`, side.upstreamPort, {
          listenPort: side.listenPort,
          upstreamHost: side.upstreamHost,
        }),
      );
    }
    proxy = new Proxies(proxies);
  });
  afterAll(async () => {
    await proxy?.remove();
    await backend?.stop();
  });

  /** A repository on a fresh prefix through the proxy; the proxy is clean again afterwards. */
  async function withRepo<T>(
    use: (repo: ArtifactRepository, root: string) => Promise<T>,
    timeoutMs = TIMEOUT_MS,
  ): Promise<T> {
    const root = `faults-${Date.now()}-${run++}`;
    const repo = await openThrough(backend, proxy.port, root, timeoutMs);
    try {
      return await use(repo, root);
    } finally {
      await proxy.clear();
      await repo.close().catch(() => undefined);
    }
  }

  it('completes a large upload and download correctly under 100 ms of latency each way', async () => {
    await withRepo(async (repo) => {
      await proxy.addToxic({
        type: 'latency',
        stream: 'downstream',
        attributes: { latency: 100, jitter: 20 },
      });
      await proxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 100, jitter: 20 } });
      const started = Date.now();
      await repo.logArtifact(largeFile, 'lat');
      console.log(`${name}: 16 MiB upload under 100 ms latency each way: ${Date.now() - started} ms`);
      const dst = await mkdtemp(join(work, 'lat-'));
      const local = await repo.downloadArtifacts('lat/large.bin', dst);
      expect((await hashFile(local)).digest).toBe(largeDigest);
      expect(await repo.listArtifacts('lat')).toEqual([
        { path: 'lat/large.bin', isDir: false, fileSize: LARGE },
      ]);
    }, SLOW_TIMEOUT_MS);
  });

  it('completes correctly under a bandwidth limit (and the limit really applies)', async () => {
    await withRepo(async (repo) => {
      const body = dataBytes(2 * MiB, { seed: 'bw' });
      // Toxiproxy's rate is in KB/s: 1 MB/s each way, so 2 MiB cannot take much under 2 s.
      await proxy.addToxic({ type: 'bandwidth', stream: 'upstream', attributes: { rate: 1024 } });
      await proxy.addToxic({ type: 'bandwidth', stream: 'downstream', attributes: { rate: 1024 } });
      const started = Date.now();
      await repo.write('bw/body.bin', body);
      const back = await readAll(await repo.openRead('bw/body.bin'));
      const elapsed = Date.now() - started;
      expect(Buffer.compare(back, Buffer.from(body))).toBe(0);
      if (!name.startsWith('ftp')) expect(elapsed).toBeGreaterThan(1500);
    }, SLOW_TIMEOUT_MS);
  });

  it('a reset in the middle of a large upload: correct after retries, or a clear error and the previous content intact', async () => {
    await withRepo(async (repo) => {
      await repo.write('up/large.bin', 'previous content');
      // Every connection is cut after 4 MiB from the client (a retry meets the same cut).
      await proxy.addToxic({ type: 'limit_data', stream: 'upstream', attributes: { bytes: 4 * MiB } });
      const outcome = await settle(() => repo.logArtifact(largeFile, 'up'), TIMEOUT_MS + SLACK_MS);
      console.log(`${name}: reset mid-upload: ${describeOutcome(outcome)}`);
      expect(outcome.hung, describeOutcome(outcome)).toBe(false);
      expect(outcome.ms, describeOutcome(outcome)).toBeLessThan(RESET_MS);
      await proxy.clear();
      if (outcome.ok) {
        const dst = await mkdtemp(join(work, 'up-'));
        expect((await hashFile(await repo.downloadArtifacts('up/large.bin', dst))).digest).toBe(largeDigest);
      } else {
        expect(isClearFailure(outcome), describeOutcome(outcome)).toBe(true);
        expect(await text(repo, 'up/large.bin')).toBe('previous content');
      }
      // Nothing half-written is listed, and the next upload works without user action.
      expect((await repo.listArtifacts('up')).map((f) => f.path)).toEqual(['up/large.bin']);
      await repo.logArtifact(largeFile, 'up');
      const dst = await mkdtemp(join(work, 'up2-'));
      expect((await hashFile(await repo.downloadArtifacts('up/large.bin', dst))).digest).toBe(largeDigest);
    });
  });

  it('a reset in the middle of a large download: correct after retries, or a clear error and no file at the destination', async () => {
    await withRepo(async (repo) => {
      await repo.logArtifact(largeFile, 'down');
      await proxy.addToxic({ type: 'limit_data', stream: 'downstream', attributes: { bytes: 4 * MiB } });
      const dst = await mkdtemp(join(work, 'down-'));
      const outcome = await settle(
        () => repo.downloadArtifacts('down/large.bin', dst),
        TIMEOUT_MS + SLACK_MS,
      );
      console.log(`${name}: reset mid-download: ${describeOutcome(outcome)}`);
      expect(outcome.hung, describeOutcome(outcome)).toBe(false);
      expect(outcome.ms, describeOutcome(outcome)).toBeLessThan(RESET_MS);
      const target = join(dst, 'down', 'large.bin');
      if (outcome.ok) {
        expect((await hashFile(target)).digest).toBe(largeDigest);
      } else {
        expect(isClearFailure(outcome), describeOutcome(outcome)).toBe(true);
        // Never a corrupt download: either no file, or (if the backend keeps one) the whole of it.
        if (existsSync(target)) expect((await hashFile(target)).digest).toBe(largeDigest);
      }
      await proxy.clear();
      const again = await mkdtemp(join(work, 'down2-'));
      expect((await hashFile(await repo.downloadArtifacts('down/large.bin', again))).digest).toBe(
        largeDigest,
      );
    });
  });

  const paged = PAGE_SIZES[name];
  if (paged) {
    it('a reset on page 2 of a listing: the page is asked again, every entry listed once', async () => {
      const root = `faults-pages-${Date.now()}`;
      const count = 2 * paged.size;
      const keys = Array.from({ length: count }, (_, i) => `pages/k-${String(i).padStart(5, '0')}`);
      const retries: string[] = [];
      const open = (port: number) =>
        openRepository(backend.uri(port, root), {
          ...backend.options(TIMEOUT_MS, port),
          ...paged.options,
          onRetry: (event: RetryEvent) =>
            retries.push(`${event.operation} attempt ${event.attempt}: ${String(event.error)}`),
        } as never);
      const direct = await open(backend.port);
      try {
        for (let i = 0; i < keys.length; i += 50)
          await Promise.all(keys.slice(i, i + 50).map((key) => direct.write(key, 'x')));
      } finally {
        await direct.close();
      }
      // How many bytes the server sends for opening a repository, and for a listing of two pages:
      // counted on a plain proxy in front of the same server.
      const counter = await startTcpProxy({ host: '127.0.0.1', port: backend.port });
      let openBytes: number;
      let listBytes: number;
      try {
        const counted = await open(counter.port);
        openBytes = counter.bytesDown;
        expect(await counted.listArtifacts('pages')).toHaveLength(count);
        listBytes = counter.bytesDown - openBytes;
        expect(counter.connections, 'one connection carries the whole listing').toBe(1);
        await counted.close();
      } finally {
        await counter.close();
      }
      // Every connection is cut half-way through the second page it carries: page 2 breaks on the
      // first connection, and is whole on the next one.
      const limit = openBytes + Math.round(0.75 * listBytes);
      const repo = await open(proxy.port);
      try {
        await proxy.addToxic({ type: 'limit_data', stream: 'downstream', attributes: { bytes: limit } });
        const outcome = await settle(() => repo.listArtifacts('pages'), TIMEOUT_MS + SLACK_MS);
        console.log(
          `${name}: reset on listing page 2 (open ${openBytes} B, listing ${listBytes} B, cut after ${limit} B): ${describeOutcome(outcome)}; retries: ${retries.join(' | ')}`,
        );
        expect(outcome.ok, describeOutcome(outcome)).toBe(true);
        expect(outcome.ms, describeOutcome(outcome)).toBeLessThan(RESET_MS);
        // the cut really happened, and only the page request was asked again
        expect(retries.length, retries.join(' | ')).toBeGreaterThan(0);
        for (const retry of retries) expect(retry).toMatch(/^list attempt/);
        const listed = (outcome.value ?? []).map((entry) => entry.path);
        expect(listed).toEqual(keys);
      } finally {
        await proxy.clear();
        await repo.close().catch(() => undefined);
      }
    });
  }

  it('a server that accepts and never answers: a clear error within the timeout, and never a partial object', async () => {
    // The toxic holds every byte the server sends (and never closes): the connection is open, silent.
    await proxy.addToxic({ type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } });
    try {
      const root = `faults-silent-${Date.now()}`;
      const silentBody = dataBytes(MiB, { seed: 'silent' });
      const opened = await settle(
        () => openThrough(backend, proxy.port, root, SILENT_TIMEOUT_MS),
        SILENT_TIMEOUT_MS + SLACK_MS,
      );
      expect(opened.hung, describeOutcome(opened)).toBe(false);
      if (!opened.ok) console.log(`${name}: silent server, open: ${describeOutcome(opened)}`);
      const repo = opened.value;
      if (repo) {
        const ops: Record<string, () => Promise<unknown>> = {
          write: () => repo.write('silent/x.bin', silentBody),
          list: () => repo.listArtifacts('silent'),
          // a metadata call and a delete: bounded by core's timeout even where the client library
          // ignores its own on such calls (Google's)
          ...(SILENT_IS_TIMEOUT.has(name)
            ? { stat: () => repo.stat('silent/y.bin'), delete: () => repo.deleteArtifacts('silent/y') }
            : {}),
        };
        // The HTTP stores' operations each take their own connection, so they wait out the silence
        // at the same time (one timeout, not four); sftp, ftp, hdfs and http share a session or a
        // pool an abort may drop, so there each operation meets the silence alone, one after another.
        const silent = async ([what, op]: [string, () => Promise<unknown>]) =>
          [what, await settle(op, SILENT_TIMEOUT_MS + SLACK_MS)] as const;
        const settled: Array<Awaited<ReturnType<typeof silent>>> = [];
        if (SILENT_IS_TIMEOUT.has(name))
          settled.push(...(await Promise.all(Object.entries(ops).map(silent))));
        else for (const entry of Object.entries(ops)) settled.push(await silent(entry));
        for (const [what, outcome] of settled) {
          console.log(`${name}: silent server, ${what}: ${describeOutcome(outcome)}`);
          expect(outcome.hung, describeOutcome(outcome)).toBe(false);
          expect(outcome.ok, describeOutcome(outcome)).toBe(false);
          expect(isClearFailure(outcome), describeOutcome(outcome)).toBe(true);
          expect(outcome.ms, describeOutcome(outcome)).toBeLessThan(SILENT_MS);
          if (SILENT_IS_TIMEOUT.has(name)) {
            expect((outcome.error as ArtifactsError).code, describeOutcome(outcome)).toBe('timeout');
            expect(outcome.ms, describeOutcome(outcome)).toBeLessThan(SILENT_TIMEOUT_MS + FEW_MS);
          }
        }
        await settle(() => repo.close(), 5_000);
      } else {
        expect(ArtifactsError.is(opened.error), describeOutcome(opened)).toBe(true);
      }
      await proxy.clear();
      const check = await openThrough(backend, proxy.port, root, TIMEOUT_MS);
      try {
        // The request may have reached the server whole (only its answer was held back): then the
        // object is complete; otherwise there is none.
        const listed = await check.listArtifacts('silent');
        if (listed.length > 0) {
          expect(listed).toEqual([{ path: 'silent/x.bin', isDir: false, fileSize: MiB }]);
          const back = await readAll(await check.openRead('silent/x.bin'));
          expect(Buffer.compare(back, Buffer.from(silentBody))).toBe(0);
        }
      } finally {
        await check.close();
      }
    } finally {
      await proxy.clear();
    }
  });
});
