import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { dataBytes, hashData, hashStream, sampleMemory } from '@artifacts/testkit';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { artifactRoutes, createArtifactHandler } from '../src/index.js';
import { call, type Fixture, filesUnder, startFixture } from './helpers.js';

const A = '/api/2.0/mlflow-artifacts/artifacts';

/** A raw connection whose response is read until the server closes it. */
function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<string>((resolve) =>
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1'))),
  );
  const ready = new Promise((resolve) => socket.once('connect', resolve));
  return { socket, closed, ready };
}

/** Waits until `condition` holds, checking every 20 ms, for at most 10 s. */
async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (const started = Date.now(); !(await condition()); ) {
    if (Date.now() - started > 10_000) throw new Error(`waited 10 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('graceful shutdown', () => {
  it('lets an in-flight upload finish, answers 503 to requests on open connections, refuses new ones', async () => {
    const f = await startFixture({ auth: { allowUnauthenticated: true }, shutdownTimeoutMs: 20_000 });
    try {
      const port = Number(new URL(f.url).port);
      const body = dataBytes(2 * 1024 * 1024, { seed: 'shutdown' });
      // An upload half sent, and a second connection in the middle of its request headers.
      const upload = connect(port);
      await upload.ready;
      upload.socket.write(
        `PUT ${A}/inflight/model.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      upload.socket.write(body.subarray(0, 1024 * 1024));
      const late = connect(port);
      await late.ready;
      late.socket.write(`GET ${A}?path= HTTP/1.1\r\nHost: localhost\r\n`);
      // Close only once the server has the upload in flight (its temporary file is there) and has
      // taken both connections: on a busy machine that takes longer than any guessed delay.
      const listener = f.server.app.server;
      await until(async () => (await filesUnder(f.destination)).length > 0, 'the upload in flight');
      await until(
        () => new Promise<boolean>((resolve) => listener.getConnections((_e, n) => resolve(n === 2))),
        'both connections taken',
      );

      const closing = f.server.close();
      await until(() => !listener.listening, 'the listener closed');
      await expect(call(f.url, 'GET', '/health')).rejects.toThrow(/ECONNREFUSED/);

      late.socket.write('\r\n');
      const lateAnswer = await late.closed;
      expect(lateAnswer).toMatch(/^HTTP\/1\.1 503/);
      expect(lateAnswer).toContain('TEMPORARILY_UNAVAILABLE');

      upload.socket.write(body.subarray(1024 * 1024));
      const uploadAnswer = await upload.closed;
      expect(uploadAnswer).toMatch(/^HTTP\/1\.1 200/);
      await closing;
      expect((await readFile(join(f.destination, 'inflight', 'model.bin'))).equals(body)).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('lets an in-flight download finish', async () => {
    const f = await startFixture({ auth: { allowUnauthenticated: true } });
    try {
      const size = 8 * 1024 * 1024;
      await call(f.url, 'PUT', `${A}/dl.bin`, { body: dataBytes(size, { seed: 'dl' }) });
      let answered!: () => void;
      const started = new Promise<void>((resolve) => {
        answered = resolve;
      });
      const received = new Promise<{ status: number; hash: string }>((resolve, reject) => {
        http
          .get(`${f.url}${A}/dl.bin`, { agent: false }, (res) => {
            res.pause();
            answered();
            // Read slowly: the server is asked to close while most of the file is still to come.
            setTimeout(() => {
              hashStream(res)
                .then((hash) => resolve({ status: res.statusCode ?? 0, hash: hash.digest }))
                .catch(reject);
            }, 300);
          })
          .on('error', reject);
      });
      // Close only once the download is in flight (its headers arrived), not after a guessed delay:
      // under load a fixed wait could close the server before the GET reached it.
      await Promise.race([started, received]);
      await Promise.all([f.server.close(), received]);
      const { status, hash } = await received;
      expect(status).toBe(200);
      expect(hash).toBe((await hashData(size, { seed: 'dl' })).digest);
    } finally {
      await f.close();
    }
  });
});

describe('memory stays flat', () => {
  let f: Fixture;
  afterAll(() => f?.close());

  it('while 256 MiB stream up through the server and back down', { timeout: 300_000 }, async () => {
    f = await startFixture({ auth: { allowUnauthenticated: true } });
    const size = 256 * 1024 * 1024;
    const { dataStream } = await import('@artifacts/testkit');
    const up = sampleMemory();
    const put = await call(f.url, 'PUT', `${A}/big/weights.bin`, {
      body: dataStream(size, { seed: 'big' }),
      headers: { 'content-length': String(size) },
    });
    const upReport = up.stop();
    expect(put.status).toBe(200);

    const down = sampleMemory();
    const hash = await new Promise<string>((resolve, reject) => {
      http
        .get(`${f.url}${A}/big/weights.bin`, { agent: false }, (res) => {
          hashStream(res)
            .then((h) => resolve(h.digest))
            .catch(reject);
        })
        .on('error', reject);
    });
    const downReport = down.stop();
    expect(hash).toBe((await hashData(size, { seed: 'big' })).digest);
    // Client and server share this process: growth covers both ends of the transfer.
    expect(upReport.growth).toBeLessThan(100 * 1024 * 1024);
    expect(downReport.growth).toBeLessThan(100 * 1024 * 1024);
  });
});

describe('mounting the routes in an existing app', () => {
  it('as a Fastify plugin under a prefix, next to the app’s own routes', async () => {
    const f = await startFixture({ auth: { allowUnauthenticated: true } });
    const app = Fastify();
    app.get('/own', async () => ({ own: true }));
    // The app's own JSON parser stays in place next to the plugin's raw-body upload scope.
    app.post('/echo', async (request) => request.body);
    await app.register(artifactRoutes, {
      prefix: '/mlflow',
      repository: f.server.repository,
      auth: { tokens: ['mounted-token-123'] },
      accessLog: false,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
      const headers = { authorization: 'Bearer mounted-token-123' };
      expect(
        (await call(base, 'PUT', `/mlflow${A}/mounted.txt`, { body: 'via plugin', headers })).status,
      ).toBe(200);
      expect((await call(base, 'GET', `/mlflow${A}/mounted.txt`, { headers })).body.toString()).toBe(
        'via plugin',
      );
      expect((await call(base, 'GET', `/mlflow${A}/mounted.txt`)).status).toBe(401);
      expect((await call(base, 'GET', '/own')).json()).toEqual({ own: true });
      const echo = await call(base, 'POST', '/echo', {
        body: '{"a":1}',
        headers: { 'content-type': 'application/json' },
      });
      expect(echo.json()).toEqual({ a: 1 });
    } finally {
      await app.close();
      await f.close();
    }
  });

  it('as a plain (req, res) handler', async () => {
    const f = await startFixture({ auth: { allowUnauthenticated: true } });
    const handler = await createArtifactHandler({
      repository: f.server.repository,
      auth: { allowUnauthenticated: true },
      accessLog: false,
    });
    const plain = http.createServer(handler);
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
      expect((await call(base, 'PUT', `${A}/plain.txt`, { body: 'via handler' })).status).toBe(200);
      expect((await call(base, 'GET', `${A}?path=`)).json()).toEqual({
        files: [{ path: 'plain.txt', is_dir: false, file_size: 11 }],
      });
    } finally {
      await new Promise((resolve) => plain.close(resolve));
      await f.close();
    }
  });

  it('the plugin refuses to mount without credentials unless open access is explicit', async () => {
    const f = await startFixture({ auth: { allowUnauthenticated: true } });
    try {
      const app = Fastify();
      await expect(
        app.register(artifactRoutes, { repository: f.server.repository, accessLog: false }),
      ).rejects.toThrow(/no users or tokens are configured/);
    } finally {
      await f.close();
    }
  });
});
