import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { closedPort, destroyAfterTest, failure, serve as loopback } from '../test/loopback.js';
import { connectFailure, httpTarget, requestFailure } from './connection-pool.js';
import { ArtifactsError } from './errors.js';
import { discardBody, HttpPool, readBodyText } from './http-client.js';
import {
  encodeRfc3986,
  type FailedAnswer,
  httpStatusOf,
  jsonErrorDetail,
  readCaFile,
  refreshing,
  StoreHttp,
  StoreHttpError,
  type StoreHttpOptions,
  StoreRequestFailure,
  storeRequest,
  xmlErrorDetail,
} from './store-http.js';

// One file for store-http.ts: `StoreHttp` (one endpoint's requests), `storeRequest` (the exchange
// under it, which S3 calls directly) and `refreshing`, against real node:http servers on loopback.

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A loopback server that records each request (read whole) and answers with `answer`. */
async function serve(
  answer: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void = (_, res) => res.end('{}'),
) {
  const seen: Seen[] = [];
  const server = await loopback((req, res) => {
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
  return { ...server, seen };
}

/** A loopback server answering every request with `status` and `body` as S3 does: a length, also on a HEAD. */
function answering(status: number, body: string) {
  return loopback((req, res) => {
    req.resume();
    // Without a length, Node's server closes the connection after a HEAD.
    res.writeHead(status, {
      'x-request-id': 'r1',
      'content-type': 'application/xml',
      'content-length': String(Buffer.byteLength(body)),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** An authorization that appends a (secret) SAS to the query string. */
const withSas = (request: { search?: string }) => {
  request.search = 'sig=SECRET';
};

function store(options: Partial<StoreHttpOptions> & { endpoint: string }): StoreHttp {
  return destroyAfterTest(new StoreHttp({ store: 'the test store', connections: 2, ...options }));
}

const pool = () => destroyAfterTest(new HttpPool({ connections: 1 }));

/** A store's failure of an error answer, carrying what `storeRequest` gave it. */
const failed = (answer: FailedAnswer) =>
  Object.assign(new Error(`store said ${answer.status}`), {
    answer: { ...answer, headers: answer.headers['x-request-id'] },
  });

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

  it("a request may go to its own origin (S3's bucket host, another region) below the endpoint's path, authorized by its own authorizer, which sees that host", async () => {
    const server = await serve((_, res) => {
      res.writeHead(404, { 'x-amz-bucket-region': 'eu-west-1' });
      res.end();
    });
    const unreached = await closedPort();
    const seenByAuth: string[] = [];
    const http = store({
      endpoint: `http://127.0.0.1:${unreached}/base`,
      authorize: () => {
        throw new Error('the store-wide authorizer is not asked');
      },
    });
    const error = await failure(
      http.send({
        method: 'GET',
        origin: server.url,
        path: '/bucket/k',
        authorize(request) {
          seenByAuth.push(`${request.host} ${request.path}`);
          request.headers.authorization = 'signed';
        },
      }),
    );
    const host = new URL(server.url).host;
    expect(seenByAuth).toEqual([`${host} /base/bucket/k`]);
    expect(server.seen.map((r) => [r.url, r.headers.host, r.headers.authorization])).toEqual([
      ['/base/bucket/k', host, 'signed'],
    ]);
    expect(error).toMatchObject({ status: 404, url: `${server.url}/base/bucket/k` });
    expect((error as StoreHttpError).headers['x-amz-bucket-region']).toBe('eu-west-1');
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

  it('with redirect, a 3xx with a Location is the answer (its body the caller’s); without, or without a Location, an error', async () => {
    const server = await serve((req, res) => {
      res.writeHead(307, req.url === '/bare' ? {} : { location: 'http://datanode:9864/x?op=CREATE' });
      res.end('{"Location":"http://datanode:9864/x?op=CREATE"}');
    });
    const http = store({ endpoint: server.url });
    const answer = await http.send({ method: 'PUT', path: '/f', redirect: true });
    expect(answer.statusCode).toBe(307);
    expect(answer.headers.location).toBe('http://datanode:9864/x?op=CREATE');
    expect(await readBodyText(answer.body)).toContain('Location');
    for (const request of [{ path: '/f' }, { path: '/bare', redirect: true }]) {
      const error = await http.send({ method: 'PUT', ...request }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreHttpError);
      expect((error as StoreHttpError).status).toBe(307);
    }
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

  it('an XML error body is read by default (GCS serves JSON and XML APIs): code, message (entities decoded), request id', async () => {
    const body = [
      "<?xml version='1.0' encoding='UTF-8'?>",
      '<Error><Code>NoSuchUpload</Code><Message>The &#34;upload&#34; is gone</Message><RequestId>r-9</RequestId></Error>',
    ].join('\n');
    const server = await serve((_, res) => {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end(body);
    });
    const error = await failure(store({ endpoint: server.url }).send({ method: 'POST', path: '/b/o' }));
    expect(error).toMatchObject({
      status: 404,
      serviceCode: 'NoSuchUpload',
      message: 'The "upload" is gone',
      requestId: 'r-9',
    });
    const page = await answering(502, '<html>\n<body>Bad Gateway</body></html>');
    const http = destroyAfterTest(new StoreHttp({ endpoint: page.url, store: 's', connections: 1 }));
    expect(await failure(http.send({ method: 'GET', path: '/x' }))).toMatchObject({ message: '<html>' });
  });

  it('a stall past stallMs is a temporary timeout naming the store, an abort stays an abort: both passed on unwrapped', async () => {
    const server = await loopback();
    const http = store({ endpoint: server.url, stallMs: 100, stallSetting: 'socketTimeoutMs' });
    const stalled = await failure(http.send({ method: 'GET', path: '/slow' }));
    expect(ArtifactsError.is(stalled, 'timeout')).toBe(true);
    expect(stalled).toMatchObject({ temporary: true });
    expect(stalled).not.toHaveProperty('reached');
    expect((stalled as Error).message).toMatch(
      /^the test store request to .*: nothing received for .* \(socketTimeoutMs\)$/,
    );
    const aborted = await failure(
      store({ endpoint: server.url }).send({ method: 'GET', path: '/slow', signal: AbortSignal.timeout(50) }),
    );
    expect(aborted).not.toBeInstanceOf(StoreRequestFailure);
    expect(aborted).not.toHaveProperty('request');
  });
});

describe('storeRequest', () => {
  it('resolves with an answer below 300, its body the caller’s', async () => {
    const { url } = await answering(200, 'hello');
    const answer = await storeRequest(pool(), { method: 'GET', url: `${url}/a` }, failed);
    expect(await readBodyText(answer.body)).toBe('hello');
  });

  it('throws the store’s failure of an error answer with at most 64 KiB of its body, and frees the connection', async () => {
    const big = `<Error><Code>SlowDown</Code></Error>${'x'.repeat(200_000)}`;
    const { url, connections } = await answering(503, big);
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
    expect(connections()).toBeLessThanOrEqual(3);
  });

  it('keeps the connection of an error answer it read whole, a HEAD’s included', async () => {
    const { url, connections } = await answering(404, '<Error><Code>NoSuchKey</Code></Error>');
    const p = pool();
    for (const method of ['HEAD', 'HEAD', 'GET', 'HEAD']) {
      const error = await storeRequest(p, { method, url: `${url}/a` }, failed).catch((e: unknown) => e);
      expect(error).toMatchObject({
        answer: { status: 404, text: method === 'HEAD' ? '' : expect.stringContaining('NoSuchKey') },
      });
    }
    expect(connections()).toBe(1);
  });

  it('a request that got no answer is a StoreRequestFailure: its URL (never the query), whether the origin answered before (a restart, not a wrong address), the cause', async () => {
    const server = await answering(200, 'ok');
    const p = pool();
    const unreached = `http://127.0.0.1:${await closedPort()}/bucket/key?X-Amz-Signature=secret`;
    const first = await failure(storeRequest(p, { method: 'GET', url: unreached }, failed));
    expect(first).toBeInstanceOf(StoreRequestFailure);
    expect(first).toMatchObject({ reached: false, cause: { code: 'ECONNREFUSED' } });
    expect(String((first as Error).message)).not.toContain('secret');
    expect((first as StoreRequestFailure).request.url).toBe(unreached.split('?')[0]);
    // Core's one connect-failure wording: a refusal by an address never reached is not retried…
    expect(connectFailure(httpTarget(unreached), first, { reached: false })).toMatchObject({
      temporary: false,
    });
    await discardBody((await storeRequest(p, { method: 'GET', url: server.url }, failed)).body);
    await server.close();
    // The agent drops the closed keep-alive socket: the next request connects anew, and is refused.
    // Wait until it has (bounded), not a guessed delay: on a busy machine the close comes later.
    const free = p.agent(false).freeSockets;
    for (const started = Date.now(); Object.keys(free).length > 0 && Date.now() - started < 10_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const restarted = await failure(storeRequest(p, { method: 'GET', url: `${server.url}/k?sig=1` }, failed));
    expect(restarted).toMatchObject({ reached: true, request: { url: `${server.url}/k` } });
    // …one after an answer is a temporary restart.
    expect(requestFailure(restarted, {}, { reached: true })).toMatchObject({
      code: 'unavailable',
      temporary: true,
      context: { reason: 'connection_refused' },
    });
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

  it('xmlErrorDetail reads an <Error> (S3, Azure, GCS XML); anything else says nothing', async () => {
    expect(
      await xmlErrorDetail(
        '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Reduce your rate</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>',
      ),
    ).toEqual({ code: 'SlowDown', message: 'Reduce your rate', requestId: '4442587FB7D0A2F9' });
    expect(await xmlErrorDetail('<Error><Code>AccessDenied</Code></Error>')).toEqual({
      code: 'AccessDenied',
      message: undefined,
      requestId: undefined,
    });
    expect(await xmlErrorDetail('')).toEqual({});
    expect(await xmlErrorDetail('Bad Gateway')).toEqual({
      code: undefined,
      message: undefined,
      requestId: undefined,
    });
  });

  it('readCaFile refuses an unreadable file naming the setting', () => {
    expect(() => readCaFile('/nonexistent/ca.pem', 'option caFile')).toThrow(
      /cannot read the CA file \(option caFile\) \/nonexistent\/ca.pem: ENOENT/,
    );
  });
});
