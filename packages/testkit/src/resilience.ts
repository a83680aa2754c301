import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { text } from 'node:stream/consumers';
import { type ArtifactRepository, ArtifactsError, isTempName, tempNameFor } from '@artifacts/core';
import { afterEach, describe, expect, it } from 'vitest';
import { dataStream, hashData, hashStream, readAll } from './data.js';

/**
 * What the resilience suite needs from a file-protocol backend's fixture (SFTP, FTP, HDFS, …): a
 * server the test can restart, a way to see every name the server holds (temporary files
 * included), and optionally a count of the client's connections to it.
 */
export interface ResilienceOptions {
  /** A fresh, empty repository at a unique root; `options` are backend options (maxConnections …). */
  open(options?: Record<string, unknown>): Promise<ArtifactRepository>;
  /** Restarts the server (same address, same data) and cuts every session it had. */
  restart(): Promise<void>;
  /** Every name stored under the repository's root, recursively, as the server sees them (hidden files too). */
  storedNames(repo: ArtifactRepository): Promise<string[]>;
  /**
   * The number of open TCP connections from this process to the server. With it, the suite also
   * checks that connections are opened lazily, bounded by `maxConnections` and closed by `close()`.
   */
  connections?: () => number;
  /** What the backend calls connections in test names ("control connections" for FTP). */
  connectionNoun?: string;
  /** Per-test timeout in ms. Default: the vitest config's testTimeout. */
  timeoutMs?: number;
  /**
   * With it, the suite proves that the next upload into a directory sweeps the temporary files that
   * killed writers left there: a dead local writer's at once, another host's only when a day old,
   * never a live writer's file or a directory.
   */
  abandonedTemps?: {
    /**
     * Stores `path` (relative to the repository's root; its directory exists) as another client
     * would, bypassing the driver: a file of a few bytes, last modified at `modified` when given,
     * or a directory.
     */
    plant(
      repo: ArtifactRepository,
      path: string,
      entry: { directory?: boolean; modified?: Date },
    ): Promise<void>;
    /** A second repository on `repo`'s root (a new instance, which has swept nothing yet). */
    reopen(repo: ArtifactRepository): Promise<ArtifactRepository>;
  };
}

const MiB = 1024 * 1024;

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (error === undefined) return 'resolved';
  return ArtifactsError.is(error) ? error.code : `not an ArtifactsError: ${String(error)}`;
}

async function poll(check: () => boolean, ms = 2000): Promise<void> {
  for (let waited = 0; waited < ms && !check(); waited += 20) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Connections, server restarts and uploads that do not finish, the same for every file-protocol
 * backend: nothing partial is ever visible at the key, no temporary file stays behind, and the
 * repository keeps working after the server comes back.
 */
export function describeResilience(name: string, fixture: ResilienceOptions): void {
  const timeout = fixture.timeoutMs;
  const noun = fixture.connectionNoun ?? 'connections';
  const opened: ArtifactRepository[] = [];
  const open = async (options?: Record<string, unknown>) => {
    const repo = await fixture.open(options);
    opened.push(repo);
    return repo;
  };
  const leftovers = async (repo: ArtifactRepository, part: string) =>
    (await fixture.storedNames(repo)).filter((n) => n.includes(part) || isTempName(n));

  describe(`${name}: resilience`, () => {
    afterEach(async () => {
      for (const repo of opened.splice(0)) {
        await repo.deleteArtifacts().catch(() => undefined);
        await repo.close();
      }
    });

    const connections = fixture.connections;
    if (connections) {
      it(
        `opens no ${noun} until the first operation and none is left after close()`,
        async () => {
          const before = connections();
          const repo = await fixture.open();
          expect(connections()).toBe(before);
          await repo.write('lazy.txt', 'x');
          expect(connections()).toBeGreaterThan(before);
          await repo.deleteArtifacts();
          await repo.close();
          await poll(() => connections() <= before);
          expect(connections()).toBe(before);
        },
        timeout,
      );

      it(
        `runs 20 concurrent transfers through at most 2 ${noun}, all succeeding`,
        async () => {
          const before = connections();
          const repo = await open({ maxConnections: 2, maxConcurrency: 20 });
          let peak = before;
          let sampling = true;
          const sampler = (async () => {
            while (sampling) {
              peak = Math.max(peak, connections());
              await new Promise((r) => setTimeout(r, 5));
            }
          })();
          try {
            await Promise.all(
              Array.from({ length: 20 }, async (_, i) => {
                await repo.write(`c/${i}.bin`, dataStream(2 * MiB, { seed: i }));
                return repo.stat(`c/${i}.bin`);
              }),
            );
            expect((await repo.listArtifacts('c')).length).toBe(20);
            const hashes = await Promise.all(
              Array.from({ length: 20 }, async (_, i) => hashStream(await repo.openRead(`c/${i}.bin`))),
            );
            for (let i = 0; i < 20; i++) expect(hashes[i]).toEqual(await hashData(2 * MiB, { seed: i }));
          } finally {
            sampling = false;
            await sampler;
          }
          expect(peak - before).toBeGreaterThanOrEqual(1);
          expect(peak - before).toBeLessThanOrEqual(2);
        },
        timeout,
      );
    }

    it(
      'keeps working after the server restarts in the middle of the repository life',
      async () => {
        const repo = await open({ maxConnections: 2 });
        await repo.write('before.txt', 'before restart');
        await Promise.all([repo.stat('before.txt'), repo.listArtifacts()]);
        await fixture.restart();
        expect(await text(await repo.openRead('before.txt'))).toBe('before restart');
        await repo.write('after.txt', 'after restart');
        expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['after.txt', 'before.txt']);
      },
      timeout,
    );

    it(
      'fails an upload cut by a server restart cleanly: no retry of the half-sent body, nothing at the key',
      async () => {
        const repo = await open();
        await repo.write('cut/.keep', '');
        let restarted: Promise<void> | undefined;
        const body = dataStream(64 * MiB, {
          seed: 'cut',
          chunkSize: 256 * 1024,
          delayMs: 5,
          onBytes: (n) => {
            if (n >= 4 * MiB && !restarted) restarted = fixture.restart();
          },
        });
        const code = await codeOf(repo.write('cut/big.bin', body));
        await restarted;
        expect(code).toBe('unavailable');
        expect(await repo.exists('cut/big.bin')).toBe(false);
        // A temporary file its dead connection could not remove goes with the next operation.
        await repo.write('cut/after.txt', 'works again');
        expect(await text(await repo.openRead('cut/after.txt'))).toBe('works again');
        expect(await leftovers(repo, 'big.bin')).toEqual([]);
      },
      timeout,
    );

    it(
      'an abort mid-stream leaves no file at the key and no temporary file behind',
      async () => {
        const repo = await open();
        const controller = new AbortController();
        const body = dataStream(64 * MiB, {
          seed: 'abort',
          onBytes: (n) => {
            if (n >= 8 * MiB) controller.abort();
          },
        });
        expect(await codeOf(repo.write('d/aborted.bin', body, { signal: controller.signal }))).toBe(
          'aborted',
        );
        expect(await repo.exists('d/aborted.bin')).toBe(false);
        await poll(() => false, 200);
        expect(await leftovers(repo, 'aborted.bin')).toEqual([]);
      },
      timeout,
    );

    it(
      'a source stream that errors mid-way leaves no file, and an existing file stays as it was',
      async () => {
        const repo = await open();
        await repo.write('d/kept.bin', 'the old content');
        const failing = dataStream(32 * MiB, { seed: 'err', errorAfter: 5 * MiB });
        await expect(repo.write('d/kept.bin', failing)).rejects.toThrow('failed on purpose');
        expect(await text(await repo.openRead('d/kept.bin'))).toBe('the old content');
        const failingNew = dataStream(32 * MiB, { seed: 'err', errorAfter: 3 * MiB });
        await expect(repo.write('d/new.bin', failingNew)).rejects.toThrow();
        expect(await repo.exists('d/new.bin')).toBe(false);
        expect(await leftovers(repo, 'new.bin')).toEqual([]);
      },
      timeout,
    );

    it(
      'a 250-byte file name uploads, lists and reads back (its temporary name stays under NAME_MAX)',
      async () => {
        const repo = await open();
        const long = `${'n'.repeat(246)}.bin`;
        await repo.write(`long/${long}`, 'long name');
        expect(await repo.listArtifacts('long')).toEqual([
          { path: `long/${long}`, isDir: false, fileSize: 9 },
        ]);
        expect(await text(await repo.openRead(`long/${long}`))).toBe('long name');
        expect((await fixture.storedNames(repo)).filter((n) => isTempName(n))).toEqual([]);
      },
      timeout,
    );

    const abandoned = fixture.abandonedTemps;
    if (abandoned) {
      it(
        'the next upload into a directory sweeps what killed writers left: a dead local writer’s at once, another host’s only when a day old',
        async () => {
          const first = await open();
          // The directory is made by the backend (it may belong to the server's user).
          await first.write('run/other.txt', 'other');
          // Names as other writers would have made them: a process of this host that is gone, one
          // that runs (pid 1), and a writer on another host (another host tag), recent and a day old.
          const own = tempNameFor('model.bin');
          const deadPid = Number(
            spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout,
          );
          const dead = own.replace(/\.[0-9a-z]+-/, `.${deadPid.toString(36)}-`);
          const live = own.replace(/\.[0-9a-z]+-/, `.${(1).toString(36)}-`);
          const elsewhere = own.replace(/-[0-9a-f]{8}-/, '-00000000-');
          const elsewhereOld = elsewhere.replace(/-[0-9a-f]{12}\./, '-000000000000.');
          const deadDir = dead.replace(/-[0-9a-f]{12}\./, '-111111111111.');
          for (const name of [dead, live, elsewhere]) await abandoned.plant(first, `run/${name}`, {});
          const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
          await abandoned.plant(first, `run/${elsewhereOld}`, { modified: twoDaysAgo });
          await abandoned.plant(first, `run/${deadDir}`, { directory: true });

          const repo = await abandoned.reopen(first);
          opened.push(repo);
          expect((await repo.listArtifacts('run')).map((file) => file.path)).toEqual(['run/other.txt']);
          await repo.write('run/model.bin', Buffer.from('whole'));
          const names = (await fixture.storedNames(first))
            .filter((n) => /(^|\/)run\/[^/]+$/.test(n))
            .map((n) => n.slice(n.lastIndexOf('/') + 1))
            .sort();
          expect(names).toEqual([deadDir, elsewhere, live, 'model.bin', 'other.txt'].sort());
        },
        timeout,
      );
    }
  });
}

/** A local TCP port nothing listens on: bound once by the system, then closed. */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** What the connect-failure suite needs from any network backend's fixture. */
export interface ConnectFailureOptions {
  /**
   * A repository whose store is at `host`:`port` (its URI, endpoint option or variable pointing
   * there), credentials and all, so that a message could show them; `tls` asks for `https` (or the
   * protocol's TLS) where the endpoint's scheme says so.
   */
  openAt(host: string, port: number): Promise<ArtifactRepository>;
  /** Secrets the fixture's repositories hold, which no message may show. */
  secrets(): string[];
  /**
   * With it, the suite also checks a server whose TLS certificate is not trusted: a repository on
   * such a server (self-signed, its CA not given), and the words of the hint for giving the CA.
   */
  untrusted?: {
    open(): Promise<ArtifactRepository>;
    hint: RegExp;
    /**
     * With it, the suite also checks that the same server is trusted once its CA is given, by the
     * `caFile` option and by `variable` (the backend's CA-file variable): a repository on it opened
     * with `extra` options merged (small parts or blocks, so the big file takes the chunked path);
     * small and chunked writes, reads, a listing and deletes must work over TLS.
     */
    trusted?: {
      caFile(): string;
      variable: string;
      open(extra: Record<string, unknown>): Promise<ArtifactRepository>;
    };
  };
  /** Per-test timeout in ms. Default: the vitest config's testTimeout. */
  timeoutMs?: number;
}

async function failureOf(promise: Promise<unknown>): Promise<ArtifactsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ArtifactsError.is(error), `expected an ArtifactsError, got ${String(error)}`).toBe(true);
  return error as ArtifactsError;
}

/**
 * Connects that reach no server, worded once (core's `connectFailure`) for every network backend: a
 * port nobody listens on, a host name that does not resolve, and (where the fixture has one) a
 * server whose certificate is not trusted. Each fails with its code and reason, names host and port,
 * is not retried for minutes (not `temporary`: nothing ever answered there), and shows no secret.
 */
export function describeConnectFailures(name: string, fixture: ConnectFailureOptions): void {
  const opened: ArtifactRepository[] = [];
  const open = async (repo: Promise<ArtifactRepository>) => {
    const r = await repo;
    opened.push(r);
    return r;
  };
  const noSecret = (error: ArtifactsError) => {
    for (const secret of fixture.secrets().flatMap((s) => [s, encodeURIComponent(s)])) {
      expect(error.message).not.toContain(secret);
      expect(JSON.stringify(error.context)).not.toContain(secret);
    }
  };

  describe(`${name}: connects that reach no server`, () => {
    afterEach(async () => {
      for (const repo of opened.splice(0)) await repo.close();
    });

    it(
      'a port nobody listens on fails at once with unavailable (connection_refused), naming host and port',
      async () => {
        const port = await closedPort();
        const repo = await open(fixture.openAt('127.0.0.1', port));
        const started = performance.now();
        const error = await failureOf(repo.listArtifacts());
        expect(error, error.message).toMatchObject({
          code: 'unavailable',
          temporary: false,
          context: { host: '127.0.0.1', port, reason: 'connection_refused' },
        });
        expect(error.message).toContain(`nothing accepts connections on 127.0.0.1 port ${port}`);
        expect(performance.now() - started).toBeLessThan(15_000);
        noSecret(error);
      },
      fixture.timeoutMs,
    );

    it(
      'a host name that does not resolve fails with unavailable (unknown_host), naming it',
      async () => {
        const host = 'artifacts-no-such-host.invalid';
        const repo = await open(fixture.openAt(host, 4321));
        const error = await failureOf(repo.listArtifacts());
        expect(error, error.message).toMatchObject({
          code: 'unavailable',
          temporary: false,
          context: { host, reason: 'unknown_host' },
        });
        expect(error.message).toContain(`the host name ${host} does not resolve`);
        noSecret(error);
      },
      fixture.timeoutMs,
    );

    const untrusted = fixture.untrusted;
    if (untrusted) {
      it(
        'a server whose TLS certificate is not trusted is unauthenticated (untrusted_certificate), with the hint for giving its CA',
        async () => {
          const repo = await open(untrusted.open());
          const error = await failureOf(repo.listArtifacts());
          expect(error, error.message).toMatchObject({
            code: 'unauthenticated',
            temporary: false,
            context: { reason: 'untrusted_certificate' },
          });
          expect(error.message).toMatch(/is not trusted/);
          expect(error.message).toMatch(untrusted.hint);
          noSecret(error);
        },
        fixture.timeoutMs,
      );
    }
    const trusted = untrusted?.trusted;
    if (trusted) {
      describe('the same server, its CA given', () => {
        const saved = process.env[trusted.variable];
        afterEach(() => {
          if (saved === undefined) delete process.env[trusted.variable];
          else process.env[trusted.variable] = saved;
        });
        it.each([
          ['the caFile option', () => ({ caFile: trusted.caFile() })],
          [
            trusted.variable,
            () => {
              process.env[trusted.variable] = trusted.caFile();
              return {};
            },
          ],
        ])(
          'the same server is trusted with %s: small and chunked writes, reads, lists and deletes work over TLS',
          async (_, options) => {
            const repo = await open(trusted.open(options()));
            try {
              const big = Buffer.alloc(3000, 7);
              await repo.write('small.txt', 'over tls');
              await repo.write('dir/big.bin', big);
              expect((await readAll(await repo.openRead('small.txt'))).toString()).toBe('over tls');
              expect((await readAll(await repo.openRead('dir/big.bin'))).equals(big)).toBe(true);
              expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['dir', 'small.txt']);
              await repo.deleteArtifacts('dir');
              expect(await repo.exists('dir/big.bin')).toBe(false);
            } finally {
              await repo.deleteArtifacts().catch(() => undefined);
            }
          },
          fixture.timeoutMs,
        );
      });
    }
  });
}
