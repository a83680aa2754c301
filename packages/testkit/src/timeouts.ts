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
   * Bytes transferred; the proxy paces them to take about 2.5 × the timeout. Default 24 MiB: an
   * upload must be several times larger than what the kernel's socket buffers absorb at once (about
   * 5 MiB on Linux loopback: the client's send buffer plus the proxy's receive buffer), or the
   * client sees its whole body taken at once and then no progress while the buffers drain — a
   * stall, to any client. Send it over one connection at a time (one part in flight): the proxy
   * paces each connection.
   */
  bytes?: number;
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

    it('a transfer slower than the timeout but never stalled succeeds, up and down', async () => {
      const repo = await fresh();
      try {
        proxy.rateBytesPerSecond = Math.ceil(bytes / ((2.5 * timeoutMs) / 1000));
        let started = Date.now();
        await repo.write('slow.bin', dataStream(bytes, { seed: 'slow-link', chunkSize: 64 * 1024 }));
        expect(Date.now() - started).toBeGreaterThan(timeoutMs);
        started = Date.now();
        const read = await hashStream(await repo.openRead('slow.bin'));
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
