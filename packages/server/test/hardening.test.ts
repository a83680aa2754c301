import { mkdir, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BASIC, call, type Fixture, filesUnder, PASSWORD, startFixture, USER } from './helpers.js';

const A = '/api/2.0/mlflow-artifacts/artifacts';
const M = '/api/2.0/mlflow-artifacts/mpu';
const OPEN = { host: '127.0.0.1', auth: { allowUnauthenticated: true } } as const;

function port(f: Fixture): string {
  return new URL(f.url).port;
}

describe('Host header (DNS rebinding)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture(OPEN);
  });
  afterAll(() => f.close());

  it('a request naming another host is refused with 403 before anything is stored', async () => {
    const answer = await call(f.url, 'PUT', `${A}/rebound.txt`, {
      headers: { host: `evil.example:${port(f)}`, origin: `http://evil.example:${port(f)}` },
      body: 'written by a rebound page',
    });
    expect(answer.status).toBe(403);
    expect(answer.json()).toMatchObject({ error_code: 'PERMISSION_DENIED' });
    expect(answer.json().message).toMatch(/evil\.example.*ARTIFACTS_SERVER_ALLOWED_HOSTS/);
    const read = await call(f.url, 'GET', `${A}?path=`, { headers: { host: 'evil.example' } });
    expect(read.status).toBe(403);
    expect(await filesUnder(f.destination)).toEqual([]);
  });

  it.each(['localhost', '127.0.0.1', '127.0.0.2', '[::1]', 'app.localhost', 'LOCALHOST.'])(
    'the loopback name %s is answered by default on a loopback bind',
    async (name) => {
      const answer = await call(f.url, 'GET', `${A}?path=`, { headers: { host: `${name}:${port(f)}` } });
      expect(answer.status).toBe(200);
    },
  );

  it('GET /health answers whatever the Host (load balancers probe by address)', async () => {
    const answer = await call(f.url, 'GET', '/health', { headers: { host: '10.1.2.3:5000' } });
    expect(answer.status).toBe(200);
  });
});

describe('allowedHosts', () => {
  const saved = process.env.ARTIFACTS_SERVER_ALLOWED_HOSTS;
  afterEach(() => {
    if (saved === undefined) delete process.env.ARTIFACTS_SERVER_ALLOWED_HOSTS;
    else process.env.ARTIFACTS_SERVER_ALLOWED_HOSTS = saved;
  });

  it('the option names the hosts answered; .domain covers subdomains; the rest is refused', async () => {
    const f = await startFixture({
      host: '127.0.0.1',
      auth: { users: { [USER]: PASSWORD } },
      allowedHosts: ['artifacts.example.com', '.corp.example'],
    });
    try {
      const get = (host: string) => call(f.url, 'GET', `${A}?path=`, { headers: { host }, auth: BASIC });
      expect((await get('artifacts.example.com')).status).toBe(200);
      expect((await get('ARTIFACTS.example.com:443')).status).toBe(200);
      expect((await get('a.b.corp.example')).status).toBe(200);
      expect((await get('corp.example')).status).toBe(200);
      expect((await get('evilcorp.example')).status).toBe(403);
      expect((await get('localhost')).status).toBe(403);
    } finally {
      await f.close();
    }
  });

  it('ARTIFACTS_SERVER_ALLOWED_HOSTS sets the list; * allows any host', async () => {
    process.env.ARTIFACTS_SERVER_ALLOWED_HOSTS = 'artifacts.internal, 10.0.0.7';
    const f = await startFixture(OPEN);
    try {
      const get = (host: string) => call(f.url, 'GET', `${A}?path=`, { headers: { host } });
      expect((await get('artifacts.internal:5000')).status).toBe(200);
      expect((await get('10.0.0.7')).status).toBe(200);
      expect((await get('127.0.0.1')).status).toBe(403);
    } finally {
      await f.close();
    }
    process.env.ARTIFACTS_SERVER_ALLOWED_HOSTS = '*';
    const any = await startFixture(OPEN);
    try {
      const answer = await call(any.url, 'GET', `${A}?path=`, { headers: { host: 'whatever.example' } });
      expect(answer.status).toBe(200);
    } finally {
      await any.close();
    }
  });

  it('a malformed entry is refused at start-up with a message naming it', async () => {
    await expect(startFixture({ ...OPEN, allowedHosts: ['http://x.example/path'] })).rejects.toThrow(
      /"http:\/\/x\.example\/path" is not a host name/,
    );
  });
});

describe('cross-site requests (CSRF)', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture(OPEN);
  });
  afterAll(() => f.close());

  it('mpu/* refuses a text/plain body (an HTML form POST) with 415 instead of parsing it as JSON', async () => {
    const body = JSON.stringify({ path: 'x.bin', num_parts: 1 });
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const answer = await call(f.url, 'POST', `${M}/create/dir`, {
        headers: { 'content-type': type },
        body,
      });
      expect(answer.status).toBe(415);
      expect(answer.json().message).toMatch(/Content-Type: application\/json/);
    }
    const json = await call(f.url, 'POST', `${M}/create/dir`, {
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    // The JSON request reaches the handler (a local destination has no multipart: 501).
    expect(json.status).toBe(501);
  });

  it.each([
    ['PUT', `${A}/csrf.txt`],
    ['DELETE', `${A}/csrf.txt`],
    ['POST', `${M}/abort/dir`],
  ])('%s from a page of another origin is refused with 403', async (method, path) => {
    await call(f.url, 'PUT', `${A}/csrf.txt`, { body: 'keep me' });
    const variants: Array<Record<string, string>> = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const headers of variants) {
      const answer = await call(f.url, method, path, {
        headers: { ...headers, 'content-type': 'application/json' },
        ...(method === 'DELETE' ? {} : { body: JSON.stringify({ path: 'x.bin' }) }),
      });
      expect(answer.status, JSON.stringify(headers)).toBe(403);
      expect(answer.json().error_code).toBe('PERMISSION_DENIED');
    }
    expect((await call(f.url, 'GET', `${A}/csrf.txt`)).body.toString()).toBe('keep me');
  });

  it('same-origin pages and clients that send no Origin (MLflow, curl) still write; reads are not affected', async () => {
    const own = await call(f.url, 'PUT', `${A}/same-origin.txt`, {
      headers: { origin: f.url, 'sec-fetch-site': 'same-origin' },
      body: 'ok',
    });
    expect(own.status).toBe(200);
    expect((await call(f.url, 'PUT', `${A}/no-origin.txt`, { body: 'ok' })).status).toBe(200);
    const read = await call(f.url, 'GET', `${A}/same-origin.txt`, {
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(read.status).toBe(200);
  });

  it('allowedOrigins lets a trusted UI origin write', async () => {
    const g = await startFixture({ ...OPEN, allowedOrigins: ['https://ui.example.com/'] });
    try {
      const ok = await call(g.url, 'PUT', `${A}/ui.txt`, {
        headers: { origin: 'https://ui.example.com', 'sec-fetch-site': 'cross-site' },
        body: 'from the UI',
      });
      expect(ok.status).toBe(200);
      const other = await call(g.url, 'PUT', `${A}/ui.txt`, {
        headers: { origin: 'https://other.example.com' },
        body: 'no',
      });
      expect(other.status).toBe(403);
    } finally {
      await g.close();
    }
  });
});

describe('storage errors name only the client’s path', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture(OPEN);
  });
  afterAll(() => f.close());

  function expectClean(text: string) {
    expect(text).not.toContain(f.destination);
    expect(text).not.toContain(f.parent);
    expect(text).not.toMatch(/artifacts-tmp|ENOTDIR|ELOOP|file:\/\//);
  }

  it('a path under a file is 400 with a reason, no local path, no temp name', async () => {
    await call(f.url, 'PUT', `${A}/a/b.txt`, { body: 'b' });
    const answer = await call(f.url, 'PUT', `${A}/a/b.txt/c.txt`, { body: 'c' });
    expect(answer.status).toBe(400);
    expect(answer.json()).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'uploading artifact "a/b.txt/c.txt": a parent of the path is a file, not a directory',
    });
    expectClean(answer.body.toString());
  });

  it('a symlink loop in the store is 400, not 500 INTERNAL_ERROR, and names no local path', async () => {
    await mkdir(join(f.destination, 'loops'), { recursive: true });
    await symlink('self', join(f.destination, 'loops', 'self'));
    for (const [method, path] of [
      ['GET', `${A}/loops/self/x.txt`],
      ['PUT', `${A}/loops/self/x.txt`],
    ] as const) {
      const answer = await call(f.url, method, path, method === 'PUT' ? { body: 'x' } : {});
      expect(answer.status, answer.body.toString()).toBe(400);
      expect(answer.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(answer.json().message).toMatch(/"loops\/self\/x\.txt": .*symbolic link loop/);
      expectClean(answer.body.toString());
    }
  });

  it('a missing artifact says so about the client’s path only', async () => {
    await writeFile(join(f.parent, 'outside.txt'), 'x');
    const answer = await call(f.url, 'GET', `${A}/nothing/here.txt`);
    expect(answer.status).toBe(404);
    expect(answer.json().message).toBe('reading artifact "nothing/here.txt": it does not exist');
    expectClean(answer.body.toString());
  });
});

/** Opens a raw connection, sends `data`, and resolves with what came back and when the socket closed. */
function rawExchange(url: string, data: string): Promise<{ text: string; ms: number }> {
  const { hostname, port } = new URL(url);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.write(data));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve({ text, ms: performance.now() - started }));
  });
}

describe('connection limits', () => {
  it('the headers timeout fires when documented, not up to 30 s later', { timeout: 15_000 }, async () => {
    const f = await startFixture({ ...OPEN, limits: { headersTimeoutMs: 1_000 } });
    try {
      // Headers that never finish (a slowloris client).
      const { text, ms } = await rawExchange(f.url, 'GET /health HTTP/1.1\r\nHost: localhost\r\n');
      expect(text).toMatch(/^HTTP\/1\.1 408/);
      expect(ms).toBeGreaterThanOrEqual(900);
      // Without the short checking interval it fires up to 30 s late; 5 s leaves a loaded
      // machine's late timers room and still tells the two apart.
      expect(ms).toBeLessThan(5_000);
    } finally {
      await f.close();
    }
  });

  it('past maxConnections a connection gets 503 with Retry-After, and is served once one closes', async () => {
    const f = await startFixture({ ...OPEN, limits: { maxConnections: 2 } });
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const socket = net.connect(Number(port(f)), '127.0.0.1');
        // The server has seen the connection once it answered a request on it (kept alive).
        const answered = new Promise<string>((resolve) =>
          socket.once('data', (chunk) => resolve(String(chunk))),
        );
        socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
        expect(await answered).toMatch(/^HTTP\/1\.1 200/);
        held.push(socket);
      }
      const refused = await rawExchange(f.url, 'GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(refused.text).toMatch(/^HTTP\/1\.1 503/);
      expect(refused.text).toMatch(/Retry-After: 1/);
      expect(refused.text).toContain('TEMPORARILY_UNAVAILABLE');
      const closing = held.pop()!;
      const closed = new Promise((resolve) => closing.once('close', resolve));
      closing.destroy();
      await closed;
      // The server sees the close after this side does; on a busy machine a moment later. Until it
      // has, the cap still answers 503 (as a client retrying on Retry-After would see); then 200.
      let served = await call(f.url, 'GET', '/health');
      for (const started = Date.now(); served.status === 503 && Date.now() - started < 10_000; ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        served = await call(f.url, 'GET', '/health');
      }
      expect(served.status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await f.close();
    }
  });

  it('ARTIFACTS_SERVER_MAX_CONNECTIONS sets the cap; it defaults to 512', async () => {
    const { resolveLimits } = await import('../src/options.js');
    expect(resolveLimits().maxConnections).toBe(512);
    process.env.ARTIFACTS_SERVER_MAX_CONNECTIONS = '64';
    try {
      expect(resolveLimits().maxConnections).toBe(64);
    } finally {
      delete process.env.ARTIFACTS_SERVER_MAX_CONNECTIONS;
    }
  });
});
