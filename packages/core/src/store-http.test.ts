import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectFailure, httpTarget, requestFailure } from './connection-pool.js';
import { ArtifactsError } from './errors.js';
import { discardBody } from './http-client.js';
import {
  encodeRfc3986,
  httpStatusOf,
  jsonErrorDetail,
  readCaFile,
  StoreHttp,
  StoreHttpError,
  type StoreHttpOptions,
  StoreRequestFailure,
} from './store-http.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
const stores: StoreHttp[] = [];
afterEach(async () => {
  for (const store of stores.splice(0)) store.destroy();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A real node:http server on loopback that records each request and answers with `answer`. */
async function serve(
  answer: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void = (_, res) => res.end('{}'),
): Promise<{ url: string; port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(request);
      answer(req, res, request);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, seen, server };
}

/** An authorization that appends a (secret) SAS to the query string. */
const withSas = (request: { search?: string }) => {
  request.search = 'sig=SECRET';
};

function store(options: Partial<StoreHttpOptions> & { endpoint: string }): StoreHttp {
  const http = new StoreHttp({ store: 'the test store', connections: 2, ...options });
  stores.push(http);
  return http;
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

describe('StoreHttp requests', () => {
  it("assemble the URL below the endpoint's path, RFC 3986 query encoding, undefined parameters left out, empty ones bare", async () => {
    const server = await serve();
    const http = store({ endpoint: `${server.url}/account/` });
    const answer = await http.send({
      method: 'GET',
      path: '/bucket/a%20b',
      query: [
        ['prefix', "it's (a) *test*/é"],
        ['marker', undefined],
        ['plus', 'a+b=c&d'],
        ['uploads', ''],
      ],
      headers: { 'x-one': '1' },
    });
    await discardBody(answer.body);
    expect(http.url).toBe(`${server.url}/account`);
    expect(server.seen[0]).toMatchObject({
      method: 'GET',
      url: '/account/bucket/a%20b?prefix=it%27s%20%28a%29%20%2Atest%2A%2F%C3%A9&plus=a%2Bb%3Dc%26d&uploads',
      headers: { 'x-one': '1' },
    });
    expect(encodeRfc3986("!'()*~-._")).toBe('%21%27%28%29%2A~-._');
  });

  it('let the store authorize each request: it sees the path as sent and the decoded query, adds headers and a query string', async () => {
    const server = await serve();
    const seenByAuth: unknown[] = [];
    const http = store({
      endpoint: `${server.url}/acct`,
      authorize(request) {
        seenByAuth.push({ method: request.method, path: request.path, query: request.query });
        request.headers.authorization = `signed ${request.method} ${request.path}`;
        request.search = 'sv=1&sig=secret%2Bsig';
      },
    });
    await discardBody(
      (await http.send({ method: 'PUT', path: '/c/b', query: [['comp', 'block']], body: Buffer.from('x') }))
        .body,
    );
    await discardBody((await http.send({ method: 'GET', path: '/c' })).body);
    expect(seenByAuth).toEqual([
      { method: 'PUT', path: '/acct/c/b', query: [['comp', 'block']] },
      { method: 'GET', path: '/acct/c', query: [] },
    ]);
    expect(server.seen.map((r) => [r.url, r.headers.authorization, r.body])).toEqual([
      ['/acct/c/b?comp=block&sv=1&sig=secret%2Bsig', 'signed PUT /acct/c/b', 'x'],
      ['/acct/c?sv=1&sig=secret%2Bsig', 'signed GET /acct/c', ''],
    ]);
  });

  it('a refusal by the authorization fails the request before anything is sent', async () => {
    const server = await serve();
    const http = store({
      endpoint: server.url,
      authorize: () => {
        throw new ArtifactsError('failed_precondition', 'no token over http');
      },
    });
    expect(
      ArtifactsError.is(await failure(http.send({ method: 'GET', path: '/x' })), 'failed_precondition'),
    ).toBe(true);
    expect(server.seen).toEqual([]);
  });

  it('a whole URL the store handed out (a session) is sent as is', async () => {
    const server = await serve();
    const http = store({ endpoint: `${server.url}/api` });
    await discardBody((await http.send({ method: 'PUT', url: `${server.url}/upload?session=abc` })).body);
    expect(server.seen[0]?.url).toBe('/upload?session=abc');
  });

  it('json() parses the answer, an empty body is {}; text() reads it whole', async () => {
    const server = await serve((req, res) => res.end(req.url === '/empty' ? '' : '{"items":[1,2]}'));
    const http = store({ endpoint: server.url });
    expect(await http.json({ method: 'GET', path: '/list' })).toEqual({ items: [1, 2] });
    expect(await http.json({ method: 'GET', path: '/empty' })).toEqual({});
    expect(await http.text({ method: 'GET', path: '/list' })).toBe('{"items":[1,2]}');
  });
});

describe('StoreHttp failures', () => {
  it('an answer of 300 or more is a StoreHttpError: status, what the body says, the URL without its query, Retry-After', async () => {
    const server = await serve((_, res) => {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '7' });
      res.end(
        JSON.stringify({ error: { code: 503, status: 'UNAVAILABLE', message: 'Backend Error\nmore' } }),
      );
    });
    const http = store({ endpoint: server.url, authorize: withSas });
    const error = await failure(http.send({ method: 'GET', path: '/b/o', query: [['alt', 'media']] }));
    expect(error).toBeInstanceOf(StoreHttpError);
    expect(error).toMatchObject({
      status: 503,
      serviceCode: 'UNAVAILABLE',
      message: 'Backend Error\nmore',
      url: `${server.url}/b/o`,
      retryAfterMs: 7000,
    });
    expect(JSON.stringify(error)).not.toContain('SECRET');
    expect(httpStatusOf(error)).toBe(503);
  });

  it("the store's own error body format is read by its errorDetail, which also sees the headers (HEAD: no body)", async () => {
    const server = await serve((req, res) => {
      res.writeHead(404, { 'x-ms-error-code': 'BlobNotFound' });
      res.end(
        req.method === 'HEAD' ? undefined : '<Error><Code>BlobNotFound</Code><Message>gone</Message></Error>',
      );
    });
    const texts: string[] = [];
    const http = store({
      endpoint: server.url,
      errorDetail: (text, answer) => {
        texts.push(text);
        return {
          code: String(answer.headers['x-ms-error-code']),
          message: /<Message>(.*)<\/Message>/.exec(text)?.[1],
        };
      },
    });
    expect(await failure(http.send({ method: 'GET', path: '/c/b' }))).toMatchObject({
      status: 404,
      serviceCode: 'BlobNotFound',
      message: 'gone',
    });
    expect(await failure(http.send({ method: 'HEAD', path: '/c/b' }))).toMatchObject({
      status: 404,
      serviceCode: 'BlobNotFound',
      message: 'BlobNotFound',
    });
    expect(texts).toEqual(['<Error><Code>BlobNotFound</Code><Message>gone</Message></Error>', '']);
  });

  it('the connection goes back to the pool after an error answer (its small body is read, not cut)', async () => {
    const ports = new Set<number>();
    let n = 0;
    const server = await serve((req, res) => {
      ports.add(req.socket.remotePort ?? 0);
      n++;
      res.writeHead(n % 2 ? 500 : 200);
      res.end(n % 2 ? 'x'.repeat(10_000) : 'ok');
    });
    const http = store({ endpoint: server.url, connections: 1 });
    for (let i = 0; i < 3; i++) {
      expect(await failure(http.send({ method: 'GET', path: '/a' }))).toMatchObject({ status: 500 });
      expect(await http.text({ method: 'GET', path: '/a' })).toBe('ok');
    }
    expect(n).toBe(6);
    expect(ports.size).toBe(1);
  });

  it('no answer is a StoreRequestFailure naming the endpoint (never the query); it tells a restart from a wrong address', async () => {
    const server = await serve();
    const http = store({ endpoint: server.url, authorize: withSas });
    await discardBody((await http.send({ method: 'GET', path: '/a' })).body);
    expect(http.reached()).toBe(true);
    servers.splice(0);
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
    // The agent drops the closed keep-alive socket: the next request connects anew, and is refused.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const error = await failure(http.send({ method: 'GET', path: '/a', query: [['q', '1']] }));
    expect(error).toBeInstanceOf(StoreRequestFailure);
    expect(error).toMatchObject({ request: { url: `${server.url}/a` }, reached: true });
    expect((error as Error).message).not.toContain('SECRET');
    // Core's one connect-failure wording: a refusal after an answer is a temporary restart.
    const mapped = requestFailure(error, {}, { reached: (error as StoreRequestFailure).reached });
    expect(mapped).toMatchObject({
      code: 'unavailable',
      temporary: true,
      context: { reason: 'connection_refused' },
    });
    const fresh = store({ endpoint: server.url });
    const never = await failure(fresh.send({ method: 'GET', path: '/a' }));
    expect(never).toMatchObject({ reached: false });
    expect(connectFailure(httpTarget(server.url), never, { reached: false })).toMatchObject({
      temporary: false,
    });
  });

  it('a stall past stallMs is a temporary timeout naming the store, passed on unwrapped', async () => {
    const server = await serve(() => {});
    const http = store({ endpoint: server.url, stallMs: 100 });
    const error = await failure(http.send({ method: 'GET', path: '/slow' }));
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect(error).toMatchObject({ temporary: true });
    expect((error as Error).message).toContain('the test store request to');
  });
});

describe('helpers', () => {
  it("httpStatusOf reads ours and the SDKs' shapes", () => {
    expect(httpStatusOf({ statusCode: 412 })).toBe(412);
    expect(httpStatusOf({ response: { status: 404 } })).toBe(404);
    expect(httpStatusOf({ code: 403 })).toBe(403);
    expect(httpStatusOf({ $metadata: { httpStatusCode: 500 } })).toBe(500);
    expect(httpStatusOf({ code: 'ECONNRESET' })).toBeUndefined();
    expect(httpStatusOf(undefined)).toBeUndefined();
  });

  it('jsonErrorDetail reads the JSON APIs and falls back to the first line of anything else', () => {
    expect(jsonErrorDetail('{"error":{"message":"No such object"}}')).toEqual({ message: 'No such object' });
    expect(jsonErrorDetail('{"error":"invalid_grant"}')).toEqual({ message: 'invalid_grant' });
    expect(jsonErrorDetail('<html>\nproxy error')).toEqual({ message: '<html>' });
    expect(jsonErrorDetail('')).toEqual({});
  });

  it('readCaFile refuses an unreadable file naming the setting', () => {
    expect(() => readCaFile('/nonexistent/ca.pem', 'option caFile')).toThrow(
      /cannot read the CA file \(option caFile\) \/nonexistent\/ca.pem: ENOENT/,
    );
  });
});
