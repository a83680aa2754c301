import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArtifactsError, createRetrier } from '@artifacts/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HdfsDriver } from './driver.js';
import type { HdfsSettings } from './settings.js';
import { WebHdfsClient } from './webhdfs-client.js';

// The integration setup may have built the optional kerberos package in this checkout: this file
// checks what happens where it is not installed.
vi.mock('kerberos', () => {
  throw new Error("Cannot find module 'kerberos'");
});

// Fakes stand in for what a single MiniDFSCluster cannot do on demand: a standby NameNode of an HA
// pair, and a NameNode answering RetriableException.
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function fake(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const remote = (res: ServerResponse, status: number, exception: string) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ RemoteException: { exception, javaClassName: `x.${exception}`, message: 'm' } }));
};
const fileStatus = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ FileStatus: { pathSuffix: '', type: 'FILE', length: 3 } }));
};

const settings = (endpoints: string[], extra: Partial<HdfsSettings> = {}): HdfsSettings => ({
  endpoints,
  root: '/r',
  user: 'alice',
  kerberos: undefined,
  maxConnections: 2,
  downloadPartSize: 1024,
  ca: undefined,
  label: 'test',
  ...extra,
});

const stat = (client: WebHdfsClient) =>
  client.json<{ FileStatus: { length: number } }>('GET', '/r/a b', 'GETFILESTATUS', {}, { what: 'stat' });

describe('WebHdfsClient', () => {
  it('fails over from a standby NameNode to the active one, and stays there', async () => {
    const seen: string[] = [];
    const standby = await fake((req, res) => {
      seen.push(`standby ${req.url}`);
      remote(res, 403, 'StandbyException');
    });
    const active = await fake((req, res) => {
      seen.push(`active ${req.url}`);
      fileStatus(res);
    });
    const client = new WebHdfsClient(settings([standby, active]));
    expect((await stat(client)).FileStatus.length).toBe(3);
    expect((await stat(client)).FileStatus.length).toBe(3);
    expect(seen).toEqual([
      'standby /webhdfs/v1/r/a%20b?op=GETFILESTATUS&user.name=alice',
      'active /webhdfs/v1/r/a%20b?op=GETFILESTATUS&user.name=alice',
      'active /webhdfs/v1/r/a%20b?op=GETFILESTATUS&user.name=alice',
    ]);
    await client.close();
  });

  it('never retries itself: RetriableException is marked temporary, and core repeats it', async () => {
    let calls = 0;
    const nn = await fake((_req, res) =>
      ++calls < 3 ? remote(res, 403, 'RetriableException') : fileStatus(res),
    );
    const client = new WebHdfsClient(settings([nn]));
    const error = await stat(client).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unavailable') && error.temporary).toBe(true);
    expect(calls).toBe(1);
    const retrier = createRetrier({ baseDelayMs: 1 });
    expect((await retrier.run('stat', 'a b', () => stat(client))).FileStatus.length).toBe(3);
    expect(calls).toBe(3);
    await client.close();
  });

  it('a SafeModeException is one temporary unavailable, a not_found is not temporary', async () => {
    let calls = 0;
    const busy = await fake((_req, res) => {
      calls++;
      remote(res, 403, 'SafeModeException');
    });
    const client = new WebHdfsClient(settings([busy]));
    const error = await stat(client).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unavailable') && error.temporary).toBe(true);
    expect(calls).toBe(1);
    await client.close();

    let missingCalls = 0;
    const missing = await fake((_req, res) => {
      missingCalls++;
      remote(res, 404, 'FileNotFoundException');
    });
    const client2 = new WebHdfsClient(settings([missing]));
    const missed = await createRetrier({ baseDelayMs: 1 })
      .run('stat', 'a b', () => stat(client2))
      .catch((e: unknown) => e);
    expect(ArtifactsError.is(missed, 'not_found') && !missed.temporary).toBe(true);
    expect(missingCalls).toBe(1);
    await client2.close();
  });

  it('with Kerberos but without the kerberos package, fails with unsupported before any request', async () => {
    let calls = 0;
    const nn = await fake((_req, res) => {
      calls++;
      fileStatus(res);
    });
    const client = new WebHdfsClient(
      settings([nn], {
        user: undefined,
        kerberos: {
          ticketCache: '/tmp/krb5cc_x',
          principal: undefined,
          reason: 'MLFLOW_KERBEROS_TICKET_CACHE',
        },
      }),
    );
    const error = await stat(client).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unsupported')).toBe(true);
    expect((error as Error).message).toMatch(/npm install kerberos/);
    expect(calls).toBe(0);
    await client.close();
  });

  it('a 401 asking for Negotiate without Kerberos configured says how to turn it on', async () => {
    const nn = await fake((_req, res) => {
      res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'text/plain' });
      res.end('Authentication required');
    });
    const client = new WebHdfsClient(settings([nn]));
    const error = await stat(client).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toMatch(/requires Kerberos \(SPNEGO\).*MLFLOW_KERBEROS_TICKET_CACHE/);
    await client.close();
  });

  it('a refused connection to NameNodes that never answered is not temporary: core does not retry it', async () => {
    // A port nothing listens on: bind one, note it, close it.
    const closed = await fake(() => undefined);
    await new Promise((r) => servers.pop()!.close(r));
    const client = new WebHdfsClient(settings([closed, closed]));
    let attempts = 0;
    const error = await createRetrier()
      .run('stat', 'a b', () => {
        attempts++;
        return stat(client);
      })
      .catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unavailable') && !error.temporary).toBe(true);
    expect((error as Error).message).toMatch(/ECONNREFUSED.*is the NameNode running/);
    // Counted, not timed: one attempt, where a retried refusal would make several.
    expect(attempts).toBe(1);
    await client.close();
  });

  it('a NameNode that answered before and now refuses (a restart) is temporary: core retries until it is back', async () => {
    const server = createServer((_req, res) => fileStatus(res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const client = new WebHdfsClient(settings([`http://127.0.0.1:${port}`]));
    expect((await stat(client)).FileStatus.length).toBe(3);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    let attempts = 0;
    const pending = createRetrier({
      maxAttempts: 20,
      baseDelayMs: 100,
      maxDelayMs: 200,
      random: () => 1,
    }).run('stat', 'a b', () => {
      attempts++;
      return stat(client);
    });
    // Back once core has met the refusal and tried again (not after a guessed delay: on a loaded
    // machine the first attempt may not even have run by then).
    for (const started = Date.now(); attempts < 2 && Date.now() - started < 10_000; ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const again = createServer((_req, res) => fileStatus(res));
    servers.push(again);
    await new Promise<void>((r) => again.listen(port, '127.0.0.1', r));
    expect((await pending).FileStatus.length).toBe(3);
    expect(attempts).toBeGreaterThan(1);
    await client.close();
  });

  it('refuses calls after close', async () => {
    const client = new WebHdfsClient(settings(['http://127.0.0.1:9']));
    await client.close();
    await client.close();
    expect(await stat(client).catch((e: unknown) => (e as ArtifactsError).code)).toBe('failed_precondition');
  });
});

describe('HdfsDriver listing', () => {
  const entry = (pathSuffix: string) => ({ pathSuffix, type: 'FILE', length: 1 });
  const json = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const names = async (driver: HdfsDriver) => {
    const out: string[] = [];
    for await (const e of driver.list('', { recursive: false })) out.push(e.key);
    return out;
  };

  it('reads LISTSTATUS_BATCH page by page from the last name of each page', async () => {
    const seen: string[] = [];
    const nn = await fake((req, res) => {
      const url = new URL(req.url ?? '', 'http://x');
      seen.push(`${url.searchParams.get('op')} ${url.searchParams.get('startAfter') ?? ''}`);
      const after = url.searchParams.get('startAfter');
      const page = after ? [entry('c')] : [entry('a'), entry('b')];
      json(res, {
        DirectoryListing: {
          partialListing: { FileStatuses: { FileStatus: page } },
          remainingEntries: after ? 0 : 1,
        },
      });
    });
    const driver = new HdfsDriver(settings([nn]));
    expect(await names(driver)).toEqual(['a', 'b', 'c']);
    expect(seen).toEqual(['LISTSTATUS_BATCH ', 'LISTSTATUS_BATCH b']);
    await driver.close();
  });

  it('falls back to LISTSTATUS for good on a NameNode before Hadoop 2.8 (which refuses the op)', async () => {
    const seen: string[] = [];
    const nn = await fake((req, res) => {
      const op = new URL(req.url ?? '', 'http://x').searchParams.get('op');
      seen.push(String(op));
      if (op === 'LISTSTATUS_BATCH') return remote(res, 400, 'IllegalArgumentException');
      json(res, { FileStatuses: { FileStatus: [entry('a'), entry('b')] } });
    });
    const driver = new HdfsDriver(settings([nn]));
    expect(await names(driver)).toEqual(['a', 'b']);
    expect(await names(driver)).toEqual(['a', 'b']);
    expect(seen).toEqual(['LISTSTATUS_BATCH', 'LISTSTATUS', 'LISTSTATUS']);
    await driver.close();
  });
});
