import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { HttpPool, readBodyText } from './http-client.js';
import { type FailedAnswer, refreshing, StoreRequestFailure, storeRequest } from './store-http.js';

/** A real node:http server on loopback answering every request with `status` and `body`. */
async function serve(
  status: number,
  body: string,
): Promise<{ url: string; server: Server; sockets: () => number }> {
  let sockets = 0;
  const server = createServer((req, res) => {
    req.resume();
    // As S3 answers: a length, also on a HEAD (without one, Node's server closes after a HEAD).
    const length = String(Buffer.byteLength(body));
    res.writeHead(status, {
      'x-request-id': 'r1',
      'content-type': 'application/xml',
      'content-length': length,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.on('connection', () => sockets++);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    sockets: () => sockets,
  };
}

const servers: Server[] = [];
const pools: HttpPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) pool.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function pool(): HttpPool {
  const p = new HttpPool({ connections: 1 });
  pools.push(p);
  return p;
}

const failed = (answer: FailedAnswer) =>
  Object.assign(new Error(`store said ${answer.status}`), {
    answer: { ...answer, headers: answer.headers['x-request-id'] },
  });

describe('storeRequest', () => {
  it('resolves with an answer below 300, its body the caller’s', async () => {
    const { url } = await serve(200, 'hello');
    const answer = await storeRequest(pool(), { method: 'GET', url: `${url}/a` }, failed);
    expect(await readBodyText(answer.body)).toBe('hello');
  });

  it('throws the store’s failure of an error answer with at most 64 KiB of its body, and frees the connection', async () => {
    const big = `<Error><Code>SlowDown</Code></Error>${'x'.repeat(200_000)}`;
    const { url, sockets } = await serve(503, big);
    const p = pool();
    for (let i = 0; i < 3; i++) {
      const error = await storeRequest(p, { method: 'GET', url: `${url}/a` }, failed).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ message: 'store said 503', answer: { status: 503, headers: 'r1' } });
      const text = (error as { answer: FailedAnswer }).answer.text;
      expect(text.startsWith('<Error><Code>SlowDown</Code></Error>')).toBe(true);
      expect(text.length).toBeGreaterThanOrEqual(65_536);
      expect(text.length).toBeLessThan(big.length);
    }
    // Each answer's connection was closed (its body cut short) or given back: none left waiting.
    expect(sockets()).toBeLessThanOrEqual(3);
  });

  it('keeps the connection of an error answer it read whole, a HEAD’s included', async () => {
    const { url, sockets } = await serve(404, '<Error><Code>NoSuchKey</Code></Error>');
    const p = pool();
    for (const method of ['HEAD', 'HEAD', 'GET', 'HEAD']) {
      const error = await storeRequest(p, { method, url: `${url}/a` }, failed).catch((e: unknown) => e);
      expect(error).toMatchObject({
        answer: { status: 404, text: method === 'HEAD' ? '' : expect.stringContaining('NoSuchKey') },
      });
    }
    expect(sockets()).toBe(1);
  });

  it('a request that got no answer is a StoreRequestFailure: its URL (never the query), whether the origin answered before, the cause', async () => {
    const { url, server } = await serve(200, 'ok');
    const p = pool();
    const unreached = `http://127.0.0.1:${await closedPort()}/bucket/key?X-Amz-Signature=secret`;
    const first = await storeRequest(p, { method: 'GET', url: unreached }, failed).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(StoreRequestFailure);
    expect(first).toMatchObject({ reached: false, cause: { code: 'ECONNREFUSED' } });
    expect(String((first as Error).message)).not.toContain('secret');
    expect((first as { request: { url: string } }).request.url).toBe(unreached.split('?')[0]);
    await discard(await storeRequest(p, { method: 'GET', url }, failed));
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    const restarted = await storeRequest(p, { method: 'GET', url: `${url}/k?sig=1` }, failed).catch(
      (e: unknown) => e,
    );
    expect(restarted).toMatchObject({ reached: true, request: { url: `${url}/k` } });
  });

  it('passes the pool’s timeouts and aborts as they are', async () => {
    const server = createServer(() => {});
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const stalled = await storeRequest(pool(), { method: 'GET', url, stallMs: 50 }, failed).catch(
      (e: unknown) => e,
    );
    expect(ArtifactsError.is(stalled) && stalled.code).toBe('timeout');
    expect(stalled).not.toHaveProperty('reached');
    const aborted = await storeRequest(
      pool(),
      { method: 'GET', url, signal: AbortSignal.timeout(50) },
      failed,
    ).catch((e: unknown) => e);
    expect(aborted).not.toHaveProperty('request');
  });
});

describe('refreshing', () => {
  it('fetches once for concurrent callers and keeps the value until its refresh time', async () => {
    let fetches = 0;
    let refreshAt: number | undefined = Date.now() + 60_000;
    const get = refreshing(
      async () => {
        fetches++;
        await new Promise((resolve) => setTimeout(resolve, 10));
        return `token${fetches}`;
      },
      () => refreshAt,
    );
    expect(await Promise.all([get(), get(), get()])).toEqual(['token1', 'token1', 'token1']);
    expect(await get()).toBe('token1');
    expect(fetches).toBe(1);
    refreshAt = Date.now() - 1; // the next value is stale at once
    const stale = refreshing(
      async () => `v${++fetches}`,
      () => refreshAt,
    );
    expect(await stale()).toBe('v2');
    expect(await stale()).toBe('v3');
    refreshAt = undefined; // never refreshed
    expect(await stale()).toBe('v4');
    expect(await stale()).toBe('v4');
  });

  it('does not keep a failed fetch: the next caller fetches again', async () => {
    let fetches = 0;
    const get = refreshing(
      async () => {
        fetches++;
        if (fetches === 1) throw new Error('provider down');
        return fetches;
      },
      () => undefined,
    );
    await expect(get()).rejects.toThrow('provider down');
    expect(await get()).toBe(2);
    expect(await get()).toBe(2);
  });
});

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function discard(answer: { body: NodeJS.ReadableStream }): Promise<void> {
  for await (const _ of answer.body) {
    // drained
  }
}
