import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpFaultProxy, startHttpFaultProxy } from './http-fault-proxy.js';

const BODY = Buffer.alloc(64 * 1024, 7);
const closing: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const item of closing.splice(0)) await item.close();
});

/** A server answering every request with BODY, after reading the request's whole body. */
async function upstream(): Promise<{ url: string; received: number[] }> {
  const received: number[] = [];
  const server: Server = createServer((req, res) => {
    let n = 0;
    req.on('data', (chunk: Buffer) => (n += chunk.length));
    req.on('end', () => {
      received.push(n);
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.end(BODY);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closing.push({ close: () => new Promise((resolve) => server.close(resolve)) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/** One request through the proxy: its status and body, or the error that ended it. */
function send(
  proxy: HttpFaultProxy,
  options: { method?: string; body?: Buffer; range?: string; timeoutMs?: number } = {},
): Promise<{ status?: number; body: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const req = request(`${proxy.url}/x`, {
      method: options.method ?? 'GET',
      headers: options.range ? { range: options.range } : {},
    });
    req.setTimeout(options.timeoutMs ?? 10_000, () => req.destroy(new Error('no answer')));
    req.on('response', (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', (error) =>
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks), error: error.message }),
      );
    });
    req.on('error', (error) => resolve({ body: Buffer.concat(chunks), error: error.message }));
    req.end(options.body);
  });
}

describe('startHttpFaultProxy', () => {
  it("edits an answer's headers in place and passes its body unchanged", async () => {
    const server = await upstream();
    const proxy = await startHttpFaultProxy(server.url, (r) =>
      r.method === 'HEAD'
        ? undefined
        : {
            answerHeaders: (headers) => {
              headers['x-copy-status'] = 'pending';
            },
          },
    );
    closing.push(proxy);
    const answer = await new Promise<{ headers: Record<string, unknown>; body: Buffer }>(
      (resolve, reject) => {
        request(`${proxy.url}/x`, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
        })
          .on('error', reject)
          .end();
      },
    );
    expect(answer.headers['x-copy-status']).toBe('pending');
    expect(answer.headers['content-length']).toBe(String(BODY.length));
    expect(answer.body.equals(BODY)).toBe(true);
  });

  it('forwards and records requests; fails the nth matching request with a status, once', async () => {
    const server = await upstream();
    const proxy = await startHttpFaultProxy(server.url);
    closing.push(proxy);
    const rule = proxy.inject(
      { status: 503, headers: { 'retry-after': '0' } },
      { match: (r) => r.method === 'GET', nth: 2 },
    );
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await send(proxy, { range: `bytes=${i}-` }));
    expect(answers.map((a) => a.status)).toEqual([200, 503, 200]);
    expect(answers[0]!.body.equals(BODY)).toBe(true);
    expect(rule.hits).toBe(1);
    expect(proxy.requests.map((r) => r.rangeStart)).toEqual([0, 1, 2]);
  });

  it('cuts an answer mid-way, corrupts a byte, and cuts a request body', async () => {
    const server = await upstream();
    const proxy = await startHttpFaultProxy(server.url);
    closing.push(proxy);
    proxy.inject({ cutResponse: 0.5 });
    const cut = await send(proxy);
    expect(cut.error).toBeDefined();
    expect(cut.body.length).toBeLessThan(BODY.length);

    proxy.inject({ corruptResponse: true });
    const corrupted = await send(proxy);
    expect(corrupted.body.length).toBe(BODY.length);
    expect(corrupted.body.equals(BODY)).toBe(false);

    proxy.inject({ cutRequest: 0.5 });
    const upload = await send(proxy, { method: 'PUT', body: Buffer.alloc(4 * 1024 * 1024) });
    expect(upload.error).toBeDefined();
    expect(server.received.every((n) => n < 4 * 1024 * 1024)).toBe(true);
  });

  it('stalls: the request gets no answer until the client gives up', async () => {
    const server = await upstream();
    const proxy = await startHttpFaultProxy(server.url, (r) =>
      r.method === 'GET' ? { stall: true } : undefined,
    );
    closing.push(proxy);
    const started = Date.now();
    const stalled = await send(proxy, { timeoutMs: 300 });
    expect(stalled.error).toBe('no answer');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(server.received).toEqual([]);
  });

  it('forwards a request held by a before hook once the hook settles, body and all', async () => {
    const server = await upstream();
    let held = false;
    const proxy = await startHttpFaultProxy(server.url, () => ({
      before: async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        held = true;
      },
    }));
    closing.push(proxy);
    const answer = await send(proxy, { method: 'PUT', body: Buffer.alloc(1000, 1), timeoutMs: 5_000 });
    expect(held).toBe(true);
    expect(answer.error).toBeUndefined();
    expect(answer.body.length).toBe(BODY.length);
    expect(server.received).toEqual([1000]);
  });
});
