import { type ChildProcess, spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { type AddressInfo, connect, createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
// The one openssl call of the repository's TLS fixtures (core takes no dependency on the package).
import { selfSignedCert } from '../../../integration/src/certs.js';
import { closedPort, destroyAfterTest, serve } from '../test/loopback.js';
import { RELEASE_CHUNK } from './driver.js';
import { discardBody, HttpPool, readBodyText, TAKE_BODY, type TakeBody } from './http-client.js';

/**
 * A port whose SYNs go unanswered: a listener with backlog 1 in a process that never accepts (its
 * event loop is blocked), with its accept queue filled, so the kernel drops the next SYN.
 */
const children: ChildProcess[] = [];
const fillers: Socket[] = [];
afterEach(() => {
  for (const socket of fillers.splice(0)) socket.destroy();
  for (const child of children.splice(0)) child.kill('SIGKILL');
});
async function unanswered(): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port); require('child_process').execSync('sleep 120'); })",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
    child.once('exit', (code) => reject(new Error(`listener exited with ${code}`)));
  });
  // Fill the accept queue (backlog + 1 on Linux): these connects complete, none is accepted.
  for (let i = 0; i < 3; i += 1) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 200));
  return port;
}

const pool = (connections: number) => destroyAfterTest(new HttpPool({ connections }));

async function bodyOf(req: IncomingMessage): Promise<string> {
  return readBodyText(req);
}

describe('HttpPool', () => {
  it('sends method, headers and a buffer body, and answers any status with its body', async () => {
    const seen: Array<{ method?: string; header?: string; body: string }> = [];
    const { url } = await serve(async (req, res) => {
      seen.push({ method: req.method, header: req.headers['x-test'] as string, body: await bodyOf(req) });
      res.writeHead(req.method === 'PUT' ? 200 : 404, { etag: '"e"' }).end('answer');
    });
    const p = pool(2);
    const ok = await p.request({
      method: 'PUT',
      url: `${url}/a`,
      headers: { 'x-test': 'v' },
      body: Buffer.from('data'),
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers.etag).toBe('"e"');
    expect(await readBodyText(ok.body)).toBe('answer');
    const missing = await p.request({ method: 'GET', url: `${url}/b` });
    expect(missing.statusCode).toBe(404);
    await discardBody(missing.body);
    expect(seen).toEqual([
      { method: 'PUT', header: 'v', body: 'data' },
      { method: 'GET', body: '' },
    ]);
  });

  it('frames each request as node:http frames one: Host, the length of a body in memory (0 for none), a stream chunked, each header once, the path as a URL reads it', async () => {
    const seen: Array<{ line: string; headers: string[] }> = [];
    const { url } = await serve(async (req, res) => {
      await bodyOf(req);
      seen.push({ line: `${req.method} ${req.url}`, headers: req.rawHeaders });
      res.end();
    });
    const p = pool(1);
    const send = async (exchange: Omit<Parameters<HttpPool['request']>[0], 'url'>, path: string) =>
      discardBody((await p.request({ ...exchange, url: `${url}${path}` })).body);
    await send({ method: 'PUT', headers: { 'x-a': '1' }, body: Buffer.from('four') }, '/a/b?x=1&y');
    await send({ method: 'POST' }, '/post');
    await send({ method: 'GET', headers: { Host: 'elsewhere:1' } }, '');
    await send({ method: 'PUT', body: 'héllo' }, '/s');
    await send({ method: 'PUT', body: Readable.from([Buffer.from('xy')]) }, '/stream');
    // what `new URL` changes (dot segments, a space) is sent as it reads it
    await send({ method: 'GET' }, '/x/../y/./z?q=a b');
    const host = new URL(url).host;
    const named = (headers: string[]) =>
      headers
        .flatMap((value, i) => (i % 2 === 0 ? [`${value.toLowerCase()}: ${headers[i + 1]}`] : []))
        .sort();
    expect(seen.map(({ line, headers }) => ({ line, headers: named(headers) }))).toEqual([
      {
        line: 'PUT /a/b?x=1&y',
        headers: ['connection: keep-alive', 'content-length: 4', `host: ${host}`, 'x-a: 1'],
      },
      { line: 'POST /post', headers: ['connection: keep-alive', 'content-length: 0', `host: ${host}`] },
      { line: 'GET /', headers: ['connection: keep-alive', 'host: elsewhere:1'] },
      { line: 'PUT /s', headers: ['connection: keep-alive', 'content-length: 6', `host: ${host}`] },
      {
        line: 'PUT /stream',
        headers: ['connection: keep-alive', `host: ${host}`, 'transfer-encoding: chunked'],
      },
      { line: 'GET /y/z?q=a%20b', headers: ['connection: keep-alive', `host: ${host}`] },
    ]);
  });

  it('streams a Readable body, counts its bytes and leaves it undestroyed', async () => {
    const { url } = await serve(async (req, res) => res.end(String((await bodyOf(req)).length)));
    const sent = { bytes: 0 };
    const body = Readable.from([Buffer.alloc(70_000, 1), Buffer.alloc(30_000, 2)], { autoDestroy: false });
    const answer = await pool(1).request({ method: 'PUT', url, body, sent });
    expect(await readBodyText(answer.body)).toBe('100000');
    expect(sent.bytes).toBe(100_000);
    expect(body.destroyed).toBe(false);
  });

  it('keeps at most `connections` sockets and reuses them', async () => {
    const ports = new Set<number>();
    let open = 0;
    let most = 0;
    const { url } = await serve((req, res) => {
      ports.add(req.socket.remotePort ?? 0);
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        res.end('x');
      }, 20);
    });
    const p = pool(2);
    await Promise.all(
      Array.from({ length: 8 }, async () => discardBody((await p.request({ method: 'GET', url })).body)),
    );
    expect(most).toBe(2);
    expect(ports.size).toBe(2);
  });

  it('sends a request again on a new socket when the pooled one was closed before answering (keep-alive race), but never a POST or a stream body', async () => {
    // Answers the first request on each connection with keep-alive, then resets the connection as
    // the next request on it arrives: what a server whose keep-alive timeout met our reuse does.
    const connections: number[] = [];
    const server = createTcpServer((socket) => {
      let requests = 0;
      connections.push(0);
      const index = connections.length - 1;
      socket.on('data', (data: Buffer) => {
        if (!data.includes('\r\n\r\n')) return;
        requests += 1;
        connections[index] = requests;
        if (requests === 1) {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
        } else {
          socket.resetAndDestroy();
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
    const p = pool(1);
    const get = async (method = 'GET', body?: Buffer | Readable) => {
      const answer = await p.request({ method, url, ...(body ? { body } : {}) });
      return readBodyText(answer.body);
    };
    expect(await get()).toBe('ok');
    // The pooled socket is reset as the GET arrives: sent again on a new connection, answered there.
    expect(await get()).toBe('ok');
    expect(await get('PUT', Buffer.from('data'))).toBe('ok');
    expect(connections).toEqual([2, 2, 1]);
    // A POST may have been acted on, and a stream body is spent: their failure is the caller's.
    await expect(get('POST', Buffer.from('{}'))).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(await get()).toBe('ok');
    await expect(get('PUT', Readable.from([Buffer.from('data')]))).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    expect(connections).toEqual([2, 2, 2, 2]);
  });

  it('fails a stalled answer with the stall error, and a stalled body too', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/body') res.writeHead(200).write('first');
      // '/head' never answers
    });
    const p = pool(2);
    const stallMessage = (seconds: number) => `stalled ${seconds} s`;
    await expect(
      p.request({ method: 'GET', url: `${url}/head`, stallMs: 100, stallMessage }),
    ).rejects.toMatchObject({
      code: 'timeout',
      temporary: true,
      message: 'stalled 0.1 s',
    });
    // The answer's head comes at once, but in this process: on a loaded machine it can be read later
    // than a 100 ms bound, which would fail the request itself. The body's bound is far from that.
    const answer = await p.request({ method: 'GET', url: `${url}/body`, stallMs: 1_500, stallMessage });
    await expect(readBodyText(answer.body)).rejects.toMatchObject({
      code: 'timeout',
      message: 'stalled 1.5 s',
    });
  });

  it('bounds a connect that never completes with connectMs, naming the limit and host:port', async () => {
    const port = await unanswered();
    const p = destroyAfterTest(
      new HttpPool({ connections: 1, connectMs: 300, connectSetting: 'connectTimeoutMs' }),
    );
    const started = Date.now();
    const failure = await p
      .request({ method: 'GET', url: `http://127.0.0.1:${port}/x` })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({
      code: 'timeout',
      temporary: true,
      message: `no connection to 127.0.0.1:${port} within 0.3 s (connectTimeoutMs)`,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('does not bound an answer that is slower than connectMs', async () => {
    const { url } = await serve((_req, res) => setTimeout(() => res.end('late'), 300));
    const p = destroyAfterTest(new HttpPool({ connections: 1, connectMs: 100 }));
    const answer = await p.request({ method: 'GET', url });
    expect(await readBodyText(answer.body)).toBe('late');
    // a reused keep-alive socket is not bounded again
    const again = await p.request({ method: 'GET', url });
    expect(await readBodyText(again.body)).toBe('late');
  });

  it('honours an abort signal', async () => {
    const { url } = await serve(() => {});
    const controller = new AbortController();
    const pending = pool(1).request({ method: 'GET', url, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('an abort while the body is read fails the body; a signal shared by many requests keeps no listener of theirs', async () => {
    const { url } = await serve((_req, res) => {
      res.write('first');
    });
    const controller = new AbortController();
    const p = pool(2);
    const answer = await p.request({ method: 'GET', url, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    // (as with node:http's own `signal`: the answer's stream fails as its socket is destroyed)
    await expect(readBodyText(answer.body)).rejects.toThrow('aborted');
    const shared = new AbortController().signal;
    const { url: done } = await serve((_req, res) => res.end('ok'));
    await Promise.all(
      Array.from({ length: 6 }, async () =>
        discardBody((await p.request({ method: 'GET', url: done, signal: shared })).body),
      ),
    );
    expect(getEventListeners(shared, 'abort')).toHaveLength(0);
  });

  it('knows which origins have answered it', async () => {
    const { url } = await serve((_req, res) => res.end());
    const p = pool(1);
    const deadUrl = `http://127.0.0.1:${await closedPort()}`;
    const refused = await p.request({ method: 'GET', url: deadUrl }).catch((error: unknown) => error);
    expect((refused as { code?: string }).code).toBe('ECONNREFUSED');
    expect(p.reached(deadUrl)).toBe(false);
    expect(p.reached(url)).toBe(false);
    await discardBody((await p.request({ method: 'GET', url })).body);
    expect(p.reached(url)).toBe(true);
    expect(p.reached(deadUrl)).toBe(false);
  });

  it('an answer the HTTP parser cannot read names the bytes it met (the first 16) and where it stopped', async () => {
    // Not an HTTP server: what a client meets when its port leads elsewhere, or its answer is lost.
    const greeting = createTcpServer((socket) => {
      socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'));
    });
    await new Promise<void>((resolve) => greeting.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => greeting.close(() => resolve())));
    const { port } = greeting.address() as { port: number };
    const url = `http://127.0.0.1:${port}/c/b`;
    // node:http's parser …
    const failure = await pool(1)
      .request({ method: 'PUT', url, body: Buffer.from('x') })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
    expect((failure as Error).message).toContain(
      'the socket read of 32 bytes began with "SSH-2.0-OpenSSH_", the parser stopped at byte 0',
    );
    // … and core's own client on plain HTTP.
    const lean = await pool(1)
      .request({ method: 'GET', url, lean: true })
      .catch((e: unknown) => e);
    expect(lean).toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
    expect((lean as Error).message).toContain('the answer began with "SSH-2.0-OpenSSH_"');
  });

  it('discardBody resolves at the end of a body (its socket serves the next request) and rejects one cut short', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/cut') {
        res.writeHead(200, { 'content-length': '100' }).write('only part');
        setTimeout(() => res.socket?.destroy(), 20);
      } else res.end('x'.repeat(5000));
    });
    const p = pool(1);
    await discardBody((await p.request({ method: 'GET', url })).body);
    const ended = (await p.request({ method: 'GET', url })).body;
    await discardBody(ended);
    expect(ended.socket).toBeNull(); // handed back to the pool
    await discardBody(ended); // an ended body: at once
    await expect(discardBody((await p.request({ method: 'GET', url: `${url}/cut` })).body)).rejects.toThrow();
  });

  it('readBodyText stops at its limit and keeps what came of a body cut short', async () => {
    expect(await readBodyText(Readable.from([Buffer.from('abc'), Buffer.from('def')]), 2)).toBe('abc');
    const broken = new Readable({
      read() {
        this.push('partial');
        this.destroy(new Error('cut'));
      },
    });
    expect(await readBodyText(broken, 100)).toBe('partial');
  });

  it("reads a plain-HTTP socket into one reused buffer of its own, larger than Node's 64 KiB reads: Node's HTTP parser copies each body chunk out of it (pins that Node behaviour), and each body chunk is lent", async () => {
    // Many socket reads of a body whose every byte is checkable.
    const size = 8 * 1024 * 1024 + 7;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >>> 13)) & 0xff;
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      for (let at = 0; at < size; at += 65_536) res.write(data.subarray(at, at + 65_536));
      res.end();
    });
    const answer = await pool(1).request({ method: 'GET', url });
    const reads = new Set<ArrayBufferLike>();
    let count = 0;
    answer.body.socket.on('data', (read: Buffer) => {
      reads.add(read.buffer);
      count++;
    });
    // As pushed by the parser ('data': an async iterator would join buffered chunks into new ones).
    const chunks: Buffer[] = [];
    answer.body.on('data', (chunk: Buffer) => chunks.push(chunk));
    await finished(answer.body);
    // Every read went into the same buffer, which later reads overwrote: a body chunk that aliased
    // it would read as other bytes here.
    expect(count).toBeGreaterThan(1);
    expect([...reads].map((buffer) => buffer.byteLength)).toEqual([256 * 1024]);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(chunks.filter((chunk) => reads.has(chunk.buffer))).toEqual([]);
    // Each body chunk is lent to its last consumer, which frees it once written (RELEASE_CHUNK).
    const canFree = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    const lent = chunks.map((chunk) => (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK]);
    expect(lent.every((release) => typeof release === 'function')).toBe(true);
    for (const release of lent) release?.();
    expect(chunks.every((chunk) => chunk.length === 0)).toBe(canFree);
    // The socket's own buffer is never freed: it keeps serving reads.
    expect([...reads][0]!.byteLength).toBe(256 * 1024);
  });
  it('over TLS, frees each socket read once the parser copied the body out of it (Node allocates one per read), the bytes intact', async () => {
    const { keyFile, certFile } = selfSignedCert(mkdtempSync(join(tmpdir(), 'http-client-tls-')));
    const cert = readFileSync(certFile);
    const size = 8 * 1024 * 1024 + 7;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 7 + (i >>> 13)) & 0xff;
    const server = createTlsServer({ key: readFileSync(keyFile), cert }, (_req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      for (let at = 0; at < size; at += 65_536) res.write(data.subarray(at, at + 65_536));
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const tls = destroyAfterTest(new HttpPool({ connections: 1, tls: { ca: cert } }));
    const answer = await tls.request({ method: 'GET', url });
    // Listeners run in order: the parser's, the pool's (which frees the read), then this one.
    const reads: Buffer[] = [];
    answer.body.socket.on('data', (read: Buffer) => reads.push(read));
    const chunks: Buffer[] = [];
    answer.body.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    await finished(answer.body);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(reads.length).toBeGreaterThan(100);
    // Each read was a buffer of its own (a TLS record's), freed at once (empty) rather than left to
    // the collector: without it, a 256 MiB download over TLS peaked at 45 MiB of ArrayBuffers, with
    // it at 1–2 MiB (measured when this test was added).
    const canFree = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';
    expect(reads.filter((read) => read.byteLength > 0).length === 0).toBe(canFree);
  });

  it('TAKE_BODY hands the body to one consumer in order (what was buffered first), stops the socket while it says no, and the socket is reused after', async () => {
    const size = 4 * 1024 * 1024 + 3;
    const data = Buffer.alloc(size);
    for (let i = 0; i < size; i++) data[i] = (i * 13 + (i >>> 11)) & 0xff;
    const ports: number[] = [];
    const { url } = await serve((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.writeHead(200, { 'content-length': String(size) });
      for (let at = 0; at < size; at += 65_536) res.write(data.subarray(at, at + 65_536));
      res.end();
    });
    const p = pool(1);
    const answer = await p.request({ method: 'GET', url });
    // Some of the body arrives before the consumer takes it: it must come first, in order. Wait
    // until some has (bounded), not a guessed 50 ms: a loaded machine's server sends it later.
    for (const started = Date.now(); answer.body.readableLength === 0 && Date.now() - started < 10_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(answer.body.readableLength).toBeGreaterThan(0);
    const take = (answer.body as unknown as { [TAKE_BODY]?: TakeBody })[TAKE_BODY];
    expect(typeof take).toBe('function');
    const chunks: Buffer[] = [];
    let refusals = 0;
    let dataEvents = 0;
    let control: ReturnType<TakeBody> | undefined;
    let late = 0;
    let paused = false;
    control = take!.call(answer.body, (chunk) => {
      if (paused) late++;
      chunks.push(chunk);
      // Says no to every 2nd chunk (a socket read is up to 256 KiB): its reads stop until `resume`.
      if (chunks.length % 2 !== 0) return true;
      refusals++;
      paused = true;
      setTimeout(() => {
        paused = false;
        control?.resume();
      }, 5);
      return false;
    });
    // Taken chunks pass the stream by: none is emitted as `data`.
    answer.body.on('data', () => dataEvents++);
    await finished(answer.body);
    control.detach();
    const all = Buffer.concat(chunks);
    expect(all.equals(data)).toBe(true);
    expect(dataEvents).toBe(0);
    expect(refusals).toBeGreaterThan(4);
    // At most what the parser already had when it was told no (one socket read) arrives meanwhile.
    expect(late).toBeLessThanOrEqual(refusals);
    // The answer was read to its end: its keep-alive socket serves the next request.
    await discardBody((await p.request({ method: 'GET', url })).body);
    expect(ports).toHaveLength(2);
    expect(ports[1]).toBe(ports[0]);
  });
  it('TAKE_BODY: a socket whose reads were stopped on the last chunk of a body serves the next request', async () => {
    const size = 200_000;
    const ports: number[] = [];
    const { url } = await serve((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.writeHead(200, { 'content-length': String(size) });
      res.end(Buffer.alloc(size, 1));
    });
    const p = pool(1);
    for (let i = 0; i < 3; i++) {
      const answer = await p.request({ method: 'GET', url, stallMs: 5_000 });
      let got = 0;
      const take = (answer.body as unknown as { [TAKE_BODY]: TakeBody })[TAKE_BODY];
      // Says no to every chunk, the last one too, and resumes only while bytes are missing.
      const control = take.call(answer.body, (chunk) => {
        got += chunk.length;
        if (got < size) setTimeout(() => control.resume(), 1);
        return false;
      });
      await finished(answer.body);
      expect(got).toBe(size);
    }
    expect(new Set(ports).size).toBe(1);
  });
  it('TAKE_BODY: a body that arrived whole before it was taken, refused, leaves its socket to the next request', async () => {
    const ports: number[] = [];
    const { url } = await serve((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.writeHead(200, { 'content-length': '10' });
      res.end('0123456789');
    });
    const p = pool(1);
    for (let i = 0; i < 3; i++) {
      const answer = await p.request({ method: 'GET', url, stallMs: 5_000 });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const take = (answer.body as unknown as { [TAKE_BODY]: TakeBody })[TAKE_BODY];
      const got: Buffer[] = [];
      // Says no (as the download engine does once it has the bytes it asked for).
      take.call(answer.body, (chunk) => {
        got.push(chunk);
        return false;
      });
      await finished(answer.body);
      expect(Buffer.concat(got).toString()).toBe('0123456789');
    }
    expect(new Set(ports).size).toBe(1);
  });
});

/** A TCP server answering each request (head read whole) with `answer(socket, request index)`. */
async function rawServer(answer: (socket: Socket, index: number, head: string) => void): Promise<string> {
  let index = 0;
  const server = createTcpServer((socket) => {
    let pending = '';
    socket.on('error', () => {});
    socket.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        answer(socket, index++, head);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
}

const lean = { method: 'GET', lean: true } as const;

describe("HttpPool: core's own client on plain HTTP (`lean`: LeanSockets)", () => {
  it('reads a known-length answer without node:http: status, headers as node:http gives them, the body over many reads, each chunk lent and its socket reused', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i += 4096) data.writeUInt32BE(i, i);
    const ports: number[] = [];
    const heads: string[] = [];
    const { url } = await serve((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      heads.push(JSON.stringify(req.headers));
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-Many', ['one', 'two']);
      res.setHeader('ETag', '"e1"');
      res.setHeader('Content-Length', String(data.length));
      res.end(data);
    });
    const p = pool(1);
    for (let round = 0; round < 2; round++) {
      const answer = await p.request({ ...lean, url, headers: { range: 'bytes=0-' } });
      expect(answer.statusCode).toBe(200);
      expect(answer.body.constructor.name).toBe('LeanBody');
      expect(answer.headers).toMatchObject({
        'set-cookie': ['a=1', 'b=2'],
        'x-many': 'one, two',
        etag: '"e1"',
        'content-length': String(data.length),
      });
      const chunks: Buffer[] = [];
      let lent = 0;
      for await (const chunk of answer.body) {
        chunks.push(Buffer.from(chunk as Buffer));
        if ((chunk as { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK]) lent++;
        (chunk as { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK]?.();
      }
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
      expect(lent).toBeGreaterThan(1);
    }
    expect(ports[0]).toBe(ports[1]);
    expect(JSON.parse(heads[0]!)).toMatchObject({ range: 'bytes=0-', connection: 'keep-alive' });
  });

  it('leaves a chunked answer to node:http (the GET sent again there; chunk lines split across reads, extensions, trailers), and reads an error answer with its body', async () => {
    const ports: number[] = [];
    const { url } = await serve((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      if (req.url === '/missing') {
        res.writeHead(404, { 'Content-Type': 'application/xml', 'Content-Length': '11' });
        res.end('<NoSuchKey>');
        return;
      }
      res.write('chunked ');
      res.end('body');
    });
    const p = pool(1);
    const answer = await p.request({ ...lean, url });
    expect(answer.headers['transfer-encoding']).toBe('chunked');
    expect(answer.body.constructor.name).toBe('IncomingMessage');
    expect(await readBodyText(answer.body)).toBe('chunked body');
    // Asked twice: core's client (its socket closed on the chunked head), then node:http.
    expect(ports).toHaveLength(2);
    expect(new Set(ports).size).toBe(2);
    const missing = await p.request({ ...lean, url: `${url}/missing` });
    expect(missing.statusCode).toBe(404);
    expect(missing.body.constructor.name).toBe('LeanBody');
    expect(missing.headers['content-type']).toBe('application/xml');
    expect(await readBodyText(missing.body)).toBe('<NoSuchKey>');
    const raw = await rawServer((socket) => {
      const parts = [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r',
        '\nhello\r\n',
        '6\r\n wor',
        'ld\r\n0\r\nX-Trailer: 1\r\n',
        '\r\n',
      ];
      for (const [i, part] of parts.entries()) setTimeout(() => socket.write(part), 30 * i);
    });
    for (let round = 0; round < 2; round++) {
      expect(await readBodyText((await p.request({ ...lean, url: raw })).body)).toBe('hello world');
    }
  });

  it('reads an answer to its close (no length, not chunked), and does not reuse its socket', async () => {
    const ports: number[] = [];
    const url = await rawServer((socket, index) => {
      ports.push(socket.remotePort ?? 0);
      socket.end(`HTTP/1.1 200 OK\r\n\r\nuntil the close ${index}`);
    });
    const p = pool(1);
    for (let round = 0; round < 2; round++) {
      const answer = await p.request({ ...lean, url });
      expect(answer.body.constructor.name).toBe('LeanBody');
      expect(await readBodyText(answer.body)).toBe(`until the close ${round}`);
    }
    expect(new Set(ports).size).toBe(2);
  });

  it('reads a head split across socket reads, and a body whose first bytes came with the head', async () => {
    const url = await rawServer((socket) => {
      const parts = [
        'HTTP/1.1 206 Partial',
        ' Content\r\nContent-Len',
        'gth: 10\r\nETag: "x"\r',
        '\n\r\n0123',
        '456789',
      ];
      for (const [i, part] of parts.entries()) setTimeout(() => socket.write(part), 30 * i);
    });
    const p = pool(1);
    for (let round = 0; round < 2; round++) {
      const answer = await p.request({ ...lean, url });
      expect(answer.statusCode).toBe(206);
      expect(answer.headers.etag).toBe('"x"');
      expect(await readBodyText(answer.body)).toBe('0123456789');
    }
  });

  it('fails a body cut short by the peer as node:http does (`aborted`, ECONNRESET), and an answer closed before its head', async () => {
    const url = await rawServer((socket, index) => {
      if (index === 0) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this');
      else socket.destroy();
    });
    const p = pool(1);
    const short = await p.request({ ...lean, url });
    await expect(readBodyText(short.body)).rejects.toMatchObject({ message: 'aborted', code: 'ECONNRESET' });
    await expect(p.request({ ...lean, url })).rejects.toMatchObject({ code: 'ECONNRESET' });
  });

  it('sends a GET again on a new socket when the pooled one was closed before answering (keep-alive race)', async () => {
    const connections: number[] = [];
    const server = createTcpServer((socket) => {
      let requests = 0;
      connections.push(0);
      const index = connections.length - 1;
      socket.on('error', () => {});
      socket.on('data', (data: Buffer) => {
        if (!data.includes('\r\n\r\n')) return;
        requests += 1;
        connections[index] = requests;
        if (requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        else socket.resetAndDestroy();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
    const p = pool(1);
    expect(await readBodyText((await p.request({ ...lean, url })).body)).toBe('ok');
    expect(await readBodyText((await p.request({ ...lean, url })).body)).toBe('ok');
    expect(connections).toEqual([2, 1]);
  });

  it('keeps at most `connections` sockets, closes one the server answered with `Connection: close`', async () => {
    const ports = new Set<number>();
    let open = 0;
    let most = 0;
    const { url } = await serve((req, res) => {
      ports.add(req.socket.remotePort ?? 0);
      open++;
      most = Math.max(most, open);
      setTimeout(() => {
        open--;
        if (req.url === '/close') res.setHeader('Connection', 'close');
        res.setHeader('Content-Length', '1');
        res.end('x');
      }, 20);
    });
    const p = pool(2);
    await Promise.all(
      Array.from({ length: 8 }, async () => discardBody((await p.request({ ...lean, url })).body)),
    );
    expect(most).toBe(2);
    expect(ports.size).toBe(2);
    await discardBody((await p.request({ ...lean, url: `${url}/close` })).body);
    // The closed socket is replaced: two at once need a new one besides the one still pooled.
    await Promise.all(
      Array.from({ length: 2 }, async () => discardBody((await p.request({ ...lean, url })).body)),
    );
    expect(ports.size).toBe(3);
  });

  it('fails a stalled answer and a stalled body with the stall error; an abort fails the request, or its body', async () => {
    const { url } = await serve((req, res) => {
      if (req.url === '/body') res.writeHead(200, { 'Content-Length': '100' }).write('first');
    });
    const p = pool(2);
    const stallMessage = (seconds: number) => `stalled ${seconds} s`;
    await expect(
      p.request({ ...lean, url: `${url}/head`, stallMs: 100, stallMessage }),
    ).rejects.toMatchObject({ code: 'timeout', temporary: true, message: 'stalled 0.1 s' });
    const answer = await p.request({ ...lean, url: `${url}/body`, stallMs: 1_500, stallMessage });
    await expect(readBodyText(answer.body)).rejects.toMatchObject({
      code: 'timeout',
      message: 'stalled 1.5 s',
    });
    const controller = new AbortController();
    const pending = p.request({ ...lean, url: `${url}/head`, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    const reading = new AbortController();
    const body = await p.request({ ...lean, url: `${url}/body`, signal: reading.signal });
    setTimeout(() => reading.abort(), 20);
    await expect(readBodyText(body.body)).rejects.toThrow('aborted');
  });

  it('bounds a connect that never completes with connectMs, and names an unreadable answer', async () => {
    const port = await unanswered();
    const p = destroyAfterTest(
      new HttpPool({ connections: 1, connectMs: 300, connectSetting: 'connectTimeoutMs' }),
    );
    await expect(p.request({ ...lean, url: `http://127.0.0.1:${port}/x` })).rejects.toMatchObject({
      code: 'timeout',
      message: `no connection to 127.0.0.1:${port} within 0.3 s (connectTimeoutMs)`,
    });
    const url = await rawServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    await expect(pool(1).request({ ...lean, url })).rejects.toMatchObject({ code: 'HPE_INVALID_CONSTANT' });
  });

  it('refuses a header value with a line break as node:http does, and an answer with two different lengths', async () => {
    const { url } = await serve((_req, res) => res.writeHead(200, { 'Content-Length': '2' }).end('ok'));
    const p = pool(1);
    await expect(p.request({ ...lean, url, headers: { 'x-a': 'b\r\nInjected: yes' } })).rejects.toMatchObject(
      { code: 'ERR_INVALID_CHAR' },
    );
    expect(await readBodyText((await p.request({ ...lean, url })).body)).toBe('ok');
    const twice = await rawServer((socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 20\r\n\r\nok'),
    );
    await expect(p.request({ ...lean, url: twice })).rejects.toMatchObject({
      code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
    });
  });

  it('destroy closes the sockets, the one carrying an answer too, and fails requests waiting for one', async () => {
    const { url } = await serve((_req, res) =>
      res.writeHead(200, { 'Content-Length': '100' }).write('first'),
    );
    const p = new HttpPool({ connections: 1 });
    const answer = await p.request({ ...lean, url });
    const waiting = expect(p.request({ ...lean, url })).rejects.toMatchObject({
      code: 'failed_precondition',
    });
    p.destroy();
    await expect(readBodyText(answer.body)).rejects.toMatchObject({ message: 'aborted' });
    await waiting;
  });

  it('sends an exchange with a body through node:http even when it asks for `lean`: a stream body with its Content-Length, not chunked, `sent` counted, the socket reused', async () => {
    const seen: Array<{ port: number; body: string; length?: string; te?: string }> = [];
    const { url } = await serve(async (req, res) => {
      seen.push({
        port: req.socket.remotePort ?? 0,
        body: await bodyOf(req),
        length: req.headers['content-length'],
        te: req.headers['transfer-encoding'],
      });
      res.writeHead(201, { 'Content-Length': '2' }).end('{}');
    });
    const p = pool(1);
    for (let round = 0; round < 2; round++) {
      const body = Readable.from([Buffer.from('hello '), Buffer.from('world')], { objectMode: false });
      const sent = { bytes: 0 };
      const answer = await p.request({
        lean: true,
        method: 'PUT',
        url,
        headers: { 'content-length': '11' },
        body,
        sent,
      });
      expect(answer.statusCode).toBe(201);
      expect(answer.body.constructor.name).toBe('IncomingMessage');
      expect(await readBodyText(answer.body)).toBe('{}');
      expect(sent.bytes).toBe(11);
    }
    expect(seen).toEqual([
      { port: seen[0]!.port, body: 'hello world', length: '11' },
      { port: seen[0]!.port, body: 'hello world', length: '11' },
    ]);
  });

  it("leaves an answer that begins with interim ones (100, 103) to node:http, reads HEAD, 204 and 304 answers as bodiless (a HEAD's Content-Length too) and reuses the socket", async () => {
    const ports: number[] = [];
    const url = await rawServer((socket, _index, head) => {
      ports.push(socket.remotePort ?? 0);
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n');
      else if (head.includes('/empty')) socket.write('HTTP/1.1 204 No Content\r\n\r\n');
      else if (head.includes('/same')) socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n');
      else {
        socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n');
        setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'), 20);
      }
    });
    const p = pool(1);
    const head = await p.request({ lean: true, method: 'HEAD', url });
    expect(head.headers['content-length']).toBe('1000');
    expect(await readBodyText(head.body)).toBe('');
    const final = await p.request({ lean: true, method: 'GET', url });
    expect(final.statusCode).toBe(200);
    expect(final.body.constructor.name).toBe('IncomingMessage');
    expect(await readBodyText(final.body)).toBe('final');
    const empty = await p.request({ lean: true, method: 'DELETE', url: `${url}/empty` });
    expect(empty.statusCode).toBe(204);
    expect(await readBodyText(empty.body)).toBe('');
    const same = await p.request({ lean: true, method: 'GET', url: `${url}/same` });
    expect(same.statusCode).toBe(304);
    expect(same.body.constructor.name).toBe('LeanBody');
    expect(await readBodyText(same.body)).toBe('');
    // HEAD and the first GET on one socket (closed at the interim answer), the GET again through
    // node:http's own, then the 204 and the 304 on one new socket.
    expect(ports).toHaveLength(5);
    expect(ports[0]).toBe(ports[1]);
    expect(ports[3]).toBe(ports[4]);
    expect(new Set(ports).size).toBe(3);
  });

  it('does not reuse the socket of an HTTP/1.0 answer; refuses a Content-Length beside a Transfer-Encoding', async () => {
    const ports: number[] = [];
    const url = await rawServer((socket, _index, head) => {
      ports.push(socket.remotePort ?? 0);
      if (head.includes('/old')) socket.write('HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold');
      else if (head.includes('/both')) {
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
        );
      } else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const p = pool(1);
    expect(await readBodyText((await p.request({ lean: true, method: 'GET', url })).body)).toBe('ok');
    expect(await readBodyText((await p.request({ lean: true, method: 'GET', url: `${url}/old` })).body)).toBe(
      'old',
    );
    expect(await readBodyText((await p.request({ lean: true, method: 'GET', url })).body)).toBe('ok');
    expect(ports).toHaveLength(3);
    expect(ports[0]).toBe(ports[1]);
    expect(new Set(ports).size).toBe(2);
    await expect(p.request({ lean: true, method: 'GET', url: `${url}/both` })).rejects.toMatchObject({
      code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
    });
  });

  it("keeps at most `connections` sockets per origin, as node:http's agent does", async () => {
    const most = [0, 0];
    const open = [0, 0];
    const servers = await Promise.all(
      [0, 1].map((i) =>
        serve((_req, res) => {
          open[i]!++;
          most[i] = Math.max(most[i]!, open[i]!);
          setTimeout(() => {
            open[i]!--;
            res.writeHead(200, { 'Content-Length': '1' }).end('x');
          }, 20);
        }),
      ),
    );
    const p = pool(2);
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) =>
        discardBody((await p.request({ lean: true, method: 'GET', url: servers[i % 2]!.url })).body),
      ),
    );
    expect(most).toEqual([2, 2]);
  });

  it('TAKE_BODY takes the lean body: chunks in order, the socket stopped while it says no, then reused', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024, 7);
    const ports: number[] = [];
    const { url } = await serve((req, res) => {
      ports.push(req.socket.remotePort ?? 0);
      res.setHeader('Content-Length', String(data.length));
      res.end(data);
    });
    const p = pool(1);
    const answer = await p.request({ ...lean, url });
    let bytes = 0;
    let control: ReturnType<TakeBody> | undefined;
    const done = finished(answer.body);
    control = (answer.body as unknown as { [TAKE_BODY]: TakeBody })[TAKE_BODY].call(answer.body, (chunk) => {
      bytes += chunk.length;
      (chunk as { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK]?.();
      setTimeout(() => control?.resume(), 1);
      return false;
    });
    await done;
    expect(bytes).toBe(data.length);
    await discardBody((await p.request({ ...lean, url })).body);
    expect(ports[0]).toBe(ports[1]);
  });
});
