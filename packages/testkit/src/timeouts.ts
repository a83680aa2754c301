import type { ArtifactRepository } from '@artifacts/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataStream, hashData, hashStream } from './data.js';
import { expectCode } from './internal/context.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface TimeoutSuiteOptions {
  /** The real server's address; the suite puts a `TcpProxy` in front of it. */
  target: { host: string; port: number };
  /**
   * Opens a fresh, empty repository whose client connects to `proxy` (not to the server) with
   * `timeoutMs` as its timeout. Give each call its own root.
   */
  open: (proxy: TcpProxy, timeoutMs: number) => Promise<ArtifactRepository>;
  /**
   * Starts the proxy in front of `target`. Default `startTcpProxy`; `startFtpProxy` also carries
   * FTP's passive data connections. A service that sends its client to a second address (a WebHDFS
   * DataNode) reaches it through `proxy.route` in `open`.
   */
  startProxy?: (target: { host: string; port: number }) => Promise<TcpProxy>;
  /**
   * The timeout the suite sets, in ms. Default 3000: at 1500 a loaded 2-core CI (load 35–40) saw
   * event-loop lag pass for a stall on a transfer that never stalled (ftp, sftp).
   */
  timeoutMs?: number;
  /**
   * Bytes transferred, paced to take about 2.5 × the timeout each way. Default 24 MiB. Send it over
   * one connection at a time (one part in flight): the proxy's pace is shared by all connections.
   */
  bytes?: number;
}

/**
 * The longest wait between two signs of progress the client gave (and from the last to the end):
 * named in the failure of a transfer that should have succeeded, so that a timeout says whether the
 * client really saw no progress for that long (the link, the server or the machine stalled) or
 * timed out while bytes moved (a bug).
 */
function progressGaps() {
  let last = 0;
  let longest = 0;
  const tick = () => {
    const now = performance.now();
    if (last !== 0) longest = Math.max(longest, now - last);
    last = now;
  };
  return {
    tick,
    async during<T>(what: string, work: Promise<T>): Promise<T> {
      last = performance.now();
      longest = 0;
      try {
        const result = await work;
        return result;
      } catch (error) {
        tick();
        throw new Error(
          `the ${what} failed; the longest wait between two signs of progress the client gave (or until it failed) was ${Math.round(longest)} ms: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    },
  };
}

/**
 * Proves MLflow's timeout semantics against a real server, through a pacing/stalling TCP proxy: a
 * transfer slower than the timeout that never stalls succeeds both ways; one whose server stops
 * answering mid-way fails with `timeout` within the timeout plus a few seconds, and an upload that
 * stalled leaves nothing behind. Call it at the top level of a backend's integration test file.
 */
export function describeTimeouts(name: string, options: TimeoutSuiteOptions): void {
  const timeoutMs = options.timeoutMs ?? 3000;
  const bytes = options.bytes ?? 24 * 1024 * 1024;
  const slack = 5000;
  let proxy: TcpProxy;
  const fresh = async () => {
    proxy.resume();
    proxy.rateBytesPerSecond = undefined;
    return options.open(proxy, timeoutMs);
  };

  describe(`${name}: timeouts bound stalls, not transfers`, () => {
    beforeAll(async () => {
      proxy = await (options.startProxy ?? startTcpProxy)(options.target);
    });
    afterAll(async () => {
      await proxy.close();
    });

    // The pace is set where the client's progress is seen, so that no byte waits unseen between the
    // client and the pacer. Paced by the proxy alone, an upload's last ~7 MiB sat in loopback socket
    // buffers (the client's send buffer, the proxy's receive buffer) when the body ended, and drained
    // at the pace — 2.1–2.9 s of silence before the answer against a 3 s bound, measured under load:
    // the flake of "slower than the timeout". So the upload's body is paced by bytes against the
    // clock (a late timer is caught up, never added) and the link runs at 4× that: still a slow link,
    // never the bottleneck, its buffers nearly empty when the body ends. A download is paced by the
    // proxy: the buffers it fills lie upstream of the pacer, and the client sees every byte as it
    // is forwarded.
    it('a transfer slower than the timeout but never stalled succeeds, up and down', async () => {
      const repo = await fresh();
      const pace = Math.ceil(bytes / ((2.5 * timeoutMs) / 1000));
      const gaps = progressGaps();
      try {
        proxy.rateBytesPerSecond = 4 * pace;
        let started = Date.now();
        await gaps.during(
          'upload',
          repo.write(
            'slow.bin',
            dataStream(bytes, { seed: 'slow-link', chunkSize: 64 * 1024, bytesPerSecond: pace }),
            { onProgress: gaps.tick },
          ),
        );
        expect(Date.now() - started).toBeGreaterThan(timeoutMs);
        proxy.rateBytesPerSecond = pace;
        started = Date.now();
        const stream = await repo.openRead('slow.bin');
        stream.on('data', gaps.tick);
        const read = await gaps.during('download', hashStream(stream));
        expect(Date.now() - started).toBeGreaterThan(timeoutMs);
        expect(read).toEqual(await hashData(bytes, { seed: 'slow-link' }));
      } finally {
        proxy.rateBytesPerSecond = undefined;
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close();
      }
    }, 60_000);

    it('an upload the server stops taking fails with timeout within the timeout and leaves nothing', async () => {
      const repo = await fresh();
      try {
        proxy.stallAfter(bytes / 4);
        await expectCode(
          repo.write('stalled.bin', dataStream(bytes, { seed: 'stall-up', chunkSize: 64 * 1024 })),
          'timeout',
        );
        // From the moment the store stopped taking bytes (the bytes before it move at full speed).
        expect(proxy.stalledSince).toBeDefined();
        expect(Date.now() - proxy.stalledSince!).toBeLessThan(timeoutMs + slack);
        proxy.resume();
        expect(await repo.exists('stalled.bin')).toBe(false);
      } finally {
        proxy.resume();
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close();
      }
    }, 60_000);

    it('a download the server stops sending fails with timeout within the timeout', async () => {
      const repo = await fresh();
      try {
        await repo.write('whole.bin', dataStream(bytes, { seed: 'stall-down' }));
        proxy.stallAfter(bytes / 4);
        await expectCode(
          repo.openRead('whole.bin').then((stream) => hashStream(stream)),
          'timeout',
        );
        expect(proxy.stalledSince).toBeDefined();
        expect(Date.now() - proxy.stalledSince!).toBeLessThan(timeoutMs + slack);
      } finally {
        proxy.resume();
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close();
      }
    }, 60_000);
  });
}
