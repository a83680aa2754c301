import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { text } from 'node:stream/consumers';
import { type ArtifactRepository, ArtifactsError, openRepository, type RetryEvent } from '@artifacts/core';
import { afterEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, unique } from './helpers.js';

/**
 * Listens on every port of pure-ftpd's passive range, so that it answers PASV/EPSV with 425. A port
 * already in use (pure-ftpd's own listener for another session) is just as unavailable to it.
 */
async function takePassivePorts(): Promise<Server[]> {
  const [lo, hi] = env('ARTIFACTS_IT_FTP_PASSIVE_PORTS').split('-').map(Number) as [number, number];
  const servers: Server[] = [];
  try {
    for (let port = lo; port <= hi; port++) {
      const server = createServer((socket) => socket.destroy());
      const taken = await new Promise<boolean>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) =>
          error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
        );
        server.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (taken) servers.push(server);
    }
  } catch (error) {
    await freePorts(servers);
    const ss = execFileSync('ss', ['-Htan', `( sport >= :${lo} and sport <= :${hi} )`], { encoding: 'utf8' });
    throw new Error(`could not take pure-ftpd's passive ports ${lo}-${hi}:\n${ss}`, { cause: error });
  }
  return servers;
}

async function freePorts(servers: Server[]): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
}

const opened: ArtifactRepository[] = [];
const held: Server[] = [];
afterEach(async () => {
  await freePorts(held);
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close();
  }
});

describe('ftp: passive ports all taken (425)', () => {
  it.each(['read', 'write'] as const)(
    'the first %s of a fresh connection, refused with 425, succeeds when core retries it',
    async (kind) => {
      const uri = unique(env('ARTIFACTS_IT_FTP_URI'), 'busy');
      const setup = await openRepository(uri);
      opened.push(setup);
      await setup.write('busy.txt', 'after the ports free up');

      held.push(...(await takePassivePorts()));
      const retries: RetryEvent[] = [];
      let freed: Promise<void> | undefined;
      // A new repository: its pool has no connection yet, so the transfer below is the first of a
      // fresh connection, where basic-ftp still tries each passive mode and hides the 425 it got.
      const repo = await openRepository(uri, {
        onRetry: (event: RetryEvent) => {
          retries.push(event);
          freed ??= freePorts(held);
        },
      });
      opened.push(repo);
      if (kind === 'read')
        expect(await text(await repo.openRead('busy.txt'))).toBe('after the ports free up');
      else {
        await repo.write('fresh.txt', 'written on the retry');
        expect(await text(await setup.openRead('fresh.txt'))).toBe('written on the retry');
      }
      await freed;

      expect(retries.length).toBeGreaterThanOrEqual(1);
      const first = retries[0]!.error;
      expect(ArtifactsError.is(first)).toBe(true);
      expect(first).toMatchObject({ code: 'unavailable', temporary: true });
      expect((first as Error).message).toMatch(/could not open a data connection.*425/);
    },
    60_000,
  );
});
