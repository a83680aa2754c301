import { mkdir, mkdtemp, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError, openRepository, type RetryEvent } from '@artifacts/core';
import { selfSignedCert } from '@artifacts/integration/certs';
import '@artifacts/local';
import { type ArtifactServer, createArtifactServer } from '@artifacts/server';
import { dataBytes, describeConnectFailures, readAll } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import '../src/index.js';

const PASSWORD = 'p4ss-w0rd-never-printed';
const TOKEN = 'token-never-printed-0123';
const FAST_RETRIES = { backoffFactor: 0.01, backoffJitter: 0 };

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'artifacts-http-test-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

async function startServer(
  options: Parameters<typeof createArtifactServer>[0] = {},
): Promise<ArtifactServer> {
  const server = await createArtifactServer({
    artifactsDestination: await mkdtemp(join(work, 'dest-')),
    port: 0,
    accessLog: false,
    auth: { users: { bob: PASSWORD }, tokens: [TOKEN] },
    ...options,
  });
  await server.listen();
  return server;
}

/** A throwaway HTTP server whose answers the test decides (for failures a real server won't produce). */
async function fake(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<ArtifactsError> {
  try {
    await promise;
  } catch (error) {
    if (ArtifactsError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('credentials', () => {
  let server: ArtifactServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.close());

  it('MLFLOW_TRACKING_USERNAME/PASSWORD and MLFLOW_TRACKING_TOKEN are sent to the server', async () => {
    const uri = `mlflow-artifacts:/creds`;
    const saved = { ...process.env };
    try {
      process.env.MLFLOW_TRACKING_URI = server.address!.url;
      process.env.MLFLOW_TRACKING_USERNAME = 'bob';
      process.env.MLFLOW_TRACKING_PASSWORD = PASSWORD;
      const basic = await openRepository(uri);
      await basic.write('a.txt', 'basic');
      await basic.close();
      delete process.env.MLFLOW_TRACKING_USERNAME;
      delete process.env.MLFLOW_TRACKING_PASSWORD;
      process.env.MLFLOW_TRACKING_TOKEN = TOKEN;
      const bearer = await openRepository(uri);
      expect((await readAll(await bearer.openRead('a.txt'))).toString()).toBe('basic');
      await bearer.close();
    } finally {
      process.env = saved;
    }
  });

  it('a wrong password is unauthenticated, and no credential appears in the message', async () => {
    const repo = await openRepository(`${server.address!.url}/api/2.0/mlflow-artifacts/artifacts/x`, {
      username: 'bob',
      password: `${PASSWORD}-wrong`,
    });
    const error = await rejection(repo.listArtifacts());
    expect(error.code).toBe('unauthenticated');
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).not.toContain(Buffer.from(`bob:${PASSWORD}-wrong`).toString('base64'));
    await repo.close();
  });

  it('status codes map to error codes: 404 not_found, 501 unsupported', async () => {
    const repo = await openRepository(`${server.address!.url}/api/2.0/mlflow-artifacts/artifacts/x`, {
      token: TOKEN,
    });
    expect((await rejection(repo.openRead('missing.bin'))).code).toBe('not_found');
    await repo.close();
  });
});

describe('TLS settings', () => {
  let server: ArtifactServer;
  let ca: string;
  beforeAll(async () => {
    const cert = selfSignedCert(join(work, 'tls'));
    ca = cert.certFile;
    server = await startServer({
      tls: { cert: await readFile(ca), key: await readFile(cert.keyFile) },
    });
  });
  afterAll(() => server.close());
  const uri = () => `${server.address!.url}/api/2.0/mlflow-artifacts/artifacts/tls`;

  // Our own server over TLS with a self-signed certificate, and the same URI at a closed port or a
  // name that does not resolve.
  describeConnectFailures('http', {
    openAt: (host, port) =>
      openRepository(`http://${host}:${port}/api/2.0/mlflow-artifacts/artifacts/x`, { token: TOKEN }),
    secrets: () => [TOKEN],
    untrusted: {
      open: () => openRepository(uri(), { token: TOKEN }),
      hint: /MLFLOW_TRACKING_SERVER_CERT_PATH/,
    },
  });

  it('MLFLOW_TRACKING_SERVER_CERT_PATH trusts the server; MLFLOW_TRACKING_INSECURE_TLS skips verification', async () => {
    const trusted = await openRepository(uri(), { token: TOKEN, serverCertPath: ca });
    await trusted.write('t.txt', 'over tls');
    await trusted.close();
    const insecure = await openRepository(uri(), { token: TOKEN, insecureTls: true });
    expect((await readAll(await insecure.openRead('t.txt'))).toString()).toBe('over tls');
    await insecure.close();
  });

  it('setting both is refused, as MLflow does', async () => {
    await expect(openRepository(uri(), { insecureTls: true, serverCertPath: ca })).rejects.toThrow(
      /options insecureTls and serverCertPath exclude each other/,
    );
  });
});

describe('a malicious server', () => {
  const hostileNames = [
    '../escaped.txt',
    '..',
    '/etc/passwd',
    'a/../../x',
    '%2e%2e',
    'C:\\evil',
    'sub/../../x',
  ];

  it.each(hostileNames)(
    'listing %j is refused and a download writes nothing outside its directory',
    async (name) => {
      const server = await fake((req, res) => {
        res.setHeader('content-type', 'application/json');
        if (req.url?.includes('?path=')) {
          res.end(JSON.stringify({ files: [{ path: name, is_dir: false, file_size: 4 }] }));
        } else {
          res.end('evil');
        }
      });
      const parent = await mkdtemp(join(work, 'victim-'));
      const dst = join(parent, 'downloads');
      await mkdir(dst);
      try {
        const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
          maxRetries: 0,
        });
        const listing = await rejection(repo.listArtifacts());
        expect(listing.code).toBe('invalid_argument');
        await expect(repo.downloadArtifacts('', dst)).rejects.toThrow();
        await repo.close();
        expect(await readdir(parent)).toEqual(['downloads']);
        expect(await readdir(dst, { recursive: true })).toEqual([]);
      } finally {
        await server.close();
      }
    },
  );
});

describe('retries', () => {
  it('GET, list and DELETE are retried on 503/429/408 with backoff, honouring Retry-After', async () => {
    let calls = 0;
    const server = await fake((req, res) => {
      calls++;
      if (calls === 1) {
        res.statusCode = 503;
        return res.end();
      }
      if (calls === 2) {
        res.statusCode = 429;
        res.setHeader('retry-after', '0');
        return res.end();
      }
      if (calls === 3) {
        res.statusCode = 408;
        return res.end();
      }
      res.setHeader('content-type', 'application/json');
      res.end(
        req.url?.includes('?path=')
          ? JSON.stringify({ files: [{ path: 'a.txt', is_dir: false, file_size: 1 }] })
          : '{}',
      );
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, FAST_RETRIES);
      expect(await repo.listArtifacts()).toEqual([{ path: 'a.txt', isDir: false, fileSize: 1 }]);
      expect(calls).toBe(4);
      await repo.close();
    } finally {
      await server.close();
    }
  });

  it('gives up after maxRetries with unavailable, naming the status', async () => {
    const server = await fake((_req, res) => {
      res.statusCode = 502;
      res.end('<html>bad gateway</html>');
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, {
        ...FAST_RETRIES,
        maxRetries: 2,
      });
      const error = await rejection(repo.listArtifacts());
      expect(error.code).toBe('unavailable');
      expect(error.message).toMatch(/HTTP 502/);
      await repo.close();
    } finally {
      await server.close();
    }
  });

  it('a streamed PUT whose body was already sent is not replayed; the error says so', async () => {
    let puts = 0;
    const server = await fake((req, res) => {
      puts++;
      req.resume();
      req.on('end', () => {
        res.statusCode = 503;
        res.end();
      });
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, FAST_RETRIES);
      const { Readable } = await import('node:stream');
      const error = await rejection(repo.write('stream.bin', Readable.from([Buffer.from('one-shot body')])));
      expect(error.message).toMatch(/not retried/);
      expect(puts).toBe(1);
      await repo.close();
    } finally {
      await server.close();
    }
  });

  it('a PUT refused by a server that answered before is retried (it is restarting), and each retry is reported', async () => {
    const destination = await mkdtemp(join(work, 'late-'));
    const options = {
      artifactsDestination: destination,
      host: '127.0.0.1',
      port: 0,
      accessLog: false,
      auth: { allowUnauthenticated: true },
    } as const;
    const first = await createArtifactServer(options);
    const { port } = await first.listen();
    const retries: RetryEvent[] = [];
    const repo = await openRepository(`http://127.0.0.1:${port}/api/2.0/mlflow-artifacts/artifacts`, {
      // No core maxRetries: MLFLOW_HTTP_REQUEST_MAX_RETRIES's default (7) on MLflow's schedule.
      backoffFactor: 0.2,
      backoffJitter: 0,
      onRetry: (event: RetryEvent) => retries.push(event),
    });
    expect(await repo.listArtifacts()).toEqual([]);
    await first.close();
    const second = await createArtifactServer({ ...options, port });
    const file = join(work, 'late.bin');
    await writeFile(file, dataBytes(100_000, { seed: 'late' }));
    const upload = repo.logArtifact(file);
    setTimeout(() => void second.listen(), 150);
    await upload;
    expect(
      (await readAll(await repo.openRead('late.bin'))).equals(dataBytes(100_000, { seed: 'late' })),
    ).toBe(true);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries[0]).toMatchObject({ attempt: 1 });
    expect(String(retries[0]!.error)).toMatch(/uploading artifact "late\.bin".*ECONNREFUSED/);
    await repo.close();
    await second.close();
  });

  it('connection refused by a host that never answered fails at once with a hint, not after minutes of backoff', async () => {
    const probe = await fake(() => undefined);
    const port = Number(new URL(probe.url).port);
    await probe.close();
    const retries: RetryEvent[] = [];
    // MLflow's defaults (7 retries, factor 2) would wait about 185 s.
    const repo = await openRepository(`http://127.0.0.1:${port}/api/2.0/mlflow-artifacts/artifacts`, {
      onRetry: (event: RetryEvent) => retries.push(event),
    });
    const started = performance.now();
    const error = await rejection(repo.listArtifacts());
    // No retry at all (asserted below); 30 s is room for a loaded machine and still far from 185 s.
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(
      new RegExp(
        `nothing accepts connections on 127\\.0\\.0\\.1 port ${port} \\(.*ECONNREFUSED.*MLFLOW_TRACKING_URI`,
      ),
    );
    expect(error).toMatchObject({ temporary: false, context: { reason: 'connection_refused', port } });
    expect(retries).toEqual([]);
    await repo.close();
  });

  it("GET retries on 503 are reported to openRepository's onRetry with the status and the wait", async () => {
    let calls = 0;
    const server = await fake((_req, res) => {
      calls++;
      res.setHeader('content-type', 'application/json');
      if (calls === 1) {
        res.statusCode = 503;
        res.setHeader('retry-after', '0');
        return res.end();
      }
      res.end('{}');
    });
    try {
      const retries: RetryEvent[] = [];
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, {
        ...FAST_RETRIES,
        onRetry: (event: RetryEvent) => retries.push(event),
      });
      expect(await repo.listArtifacts()).toEqual([]);
      expect(retries).toEqual([
        expect.objectContaining({
          error: expect.objectContaining({
            message: expect.stringMatching(/^listing the repository root failed: HTTP 503 from http/),
          }),
          attempt: 1,
          maxAttempts: 8,
          // Retry-After: 0 asks for no wait; MLflow's step (factor 0.01 s, no jitter) is the floor.
          delayMs: 10,
        }),
      ]);
      await repo.close();
    } finally {
      await server.close();
    }
  });
});

describe('one retry budget with core', () => {
  it("core's retry layer retries on MLflow's schedule; openRepository's maxRetries wins over MLFLOW_HTTP_REQUEST_MAX_RETRIES", async () => {
    let calls = 0;
    const server = await fake((_req, res) => {
      calls++;
      res.statusCode = 503;
      res.end();
    });
    vi.stubEnv('MLFLOW_HTTP_REQUEST_MAX_RETRIES', '3');
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', '0.02');
    vi.stubEnv('MLFLOW_HTTP_REQUEST_BACKOFF_JITTER', '0');
    try {
      const events: RetryEvent[] = [];
      const url = `${server.url}/api/2.0/mlflow-artifacts/artifacts`;
      let repo = await openRepository(url, { onRetry: (event) => events.push(event) });
      expect((await rejection(repo.listArtifacts())).code).toBe('unavailable');
      await repo.close();
      // MLFLOW_HTTP_REQUEST_MAX_RETRIES=3: four requests; waits of factor × 2^(n−1) s, whole.
      expect(calls).toBe(4);
      expect(events.map((event) => [event.operation, event.attempt, event.delayMs])).toEqual([
        ['list', 1, 20],
        ['list', 2, 40],
        ['list', 3, 80],
      ]);
      for (const [maxRetries, requests] of [
        [1, 2],
        [5, 6],
      ] as const) {
        calls = 0;
        repo = await openRepository(url, { maxRetries });
        expect((await rejection(repo.stat('a.txt'))).code).toBe('unavailable');
        await repo.close();
        expect(calls).toBe(requests);
      }
    } finally {
      vi.unstubAllEnvs();
      await server.close();
    }
  });

  it("openRepository's maxRetries reaches the client: 0 is one request, 2 is three, each error temporary", async () => {
    let calls = 0;
    const server = await fake((_req, res) => {
      calls++;
      res.statusCode = 503;
      res.setHeader('content-type', 'text/plain');
      res.end('The artifact store is overloaded, retry later');
    });
    try {
      for (const [maxRetries, requests] of [
        [0, 1],
        [2, 3],
      ] as const) {
        calls = 0;
        const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, {
          ...FAST_RETRIES,
          maxRetries,
        });
        const error = await rejection(repo.listArtifacts());
        expect(error.code).toBe('unavailable');
        expect(error.temporary).toBe(true);
        expect(calls).toBe(requests);
        await repo.close();
      }
    } finally {
      await server.close();
    }
  });

  it("the server's message is in the error: plain text too, bounded, with no credential echoed", async () => {
    const server = await fake((req, res) => {
      res.statusCode = 500;
      res.setHeader('content-type', 'text/html');
      res.end(
        `<html><body><h1>Internal error</h1><p>while serving ${String(req.headers.authorization)}</p>${'x'.repeat(5000)}</body></html>`,
      );
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, {
        ...FAST_RETRIES,
        token: TOKEN,
        maxRetries: 0,
      });
      const error = await rejection(repo.listArtifacts());
      expect(error.message).toMatch(/HTTP 500 from .*Internal error while serving Bearer \*\*\*/);
      expect(error.message).not.toContain(TOKEN);
      expect(error.message).not.toContain('<');
      expect(error.message.length).toBeLessThan(600);
      await repo.close();
    } finally {
      await server.close();
    }
  });
});

describe('a hostile listing', () => {
  /** A server whose listings come from `listing(path)`; files read as 'x'. */
  async function lister(listing: (path: string) => unknown) {
    let requests = 0;
    const server = await fake((req, res) => {
      requests++;
      res.setHeader('content-type', 'application/json');
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.has('path'))
        return res.end(JSON.stringify(listing(url.searchParams.get('path') ?? '')));
      res.end('x');
    });
    return { server, requests: () => requests };
  }

  it('a server that lists a new directory inside every directory is cut at listMaxDepth', async () => {
    let n = 0;
    const l = await lister(() => ({ files: [{ path: `d${n++}`, is_dir: true }] }));
    const dst = await mkdtemp(join(work, 'deep-'));
    try {
      const repo = await openRepository(`${l.server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        maxRetries: 0,
        listMaxDepth: 20,
      });
      const error = await rejection(repo.downloadArtifacts('', dst));
      expect(error.message).toMatch(/deeper than 20 levels.*ARTIFACTS_HTTP_LIST_MAX_DEPTH/);
      expect(l.requests()).toBeLessThanOrEqual(22);
      await repo.close();
    } finally {
      await l.server.close();
    }
  });

  it('the default depth bound stops an endless walk too (the default is 256)', async () => {
    let n = 0;
    const l = await lister(() => ({ files: [{ path: `d${n++}`, is_dir: true }] }));
    try {
      const repo = await openRepository(`${l.server.url}/api/2.0/mlflow-artifacts/artifacts`, {
        maxRetries: 0,
      });
      const error = await rejection(repo.downloadArtifacts('', await mkdtemp(join(work, 'endless-'))));
      expect(error.message).toMatch(/deeper than 256 levels/);
      expect(l.requests()).toBeLessThanOrEqual(260);
      await repo.close();
    } finally {
      await l.server.close();
    }
  });

  it('a directory that lists as its parent, level after level, is a loop: stopped after a few requests', async () => {
    const l = await lister(() => ({
      files: [
        { path: 'loop', is_dir: true },
        { path: 'weights.bin', is_dir: false, file_size: 1 },
      ],
    }));
    const dst = await mkdtemp(join(work, 'loop-'));
    try {
      const repo = await openRepository(`${l.server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        maxRetries: 0,
      });
      const error = await rejection(repo.downloadArtifacts('', dst));
      expect(error.message).toMatch(/same listing 9 levels in a row, a loop/);
      expect(l.requests()).toBeLessThanOrEqual(12);
      await repo.close();
    } finally {
      await l.server.close();
    }
  });

  it('a listing that explodes in breadth is cut at listMaxEntries (ARTIFACTS_HTTP_LIST_MAX_ENTRIES)', async () => {
    let n = 0;
    const l = await lister(() => ({
      files: Array.from({ length: 100 }, () => ({ path: `w${n++}`, is_dir: true })),
    }));
    process.env.ARTIFACTS_HTTP_LIST_MAX_ENTRIES = '1000';
    try {
      const repo = await openRepository(`${l.server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        maxRetries: 0,
      });
      const error = await rejection(repo.downloadArtifacts('', await mkdtemp(join(work, 'wide-'))));
      expect(error.message).toMatch(/more than 1000 entries.*ARTIFACTS_HTTP_LIST_MAX_ENTRIES/);
      expect(l.requests()).toBeLessThanOrEqual(20);
      await repo.close();
    } finally {
      delete process.env.ARTIFACTS_HTTP_LIST_MAX_ENTRIES;
      await l.server.close();
    }
  });

  it('a real tree with a repeated name (model/model/…) is walked normally', async () => {
    const tree: Record<string, unknown> = {
      run: { files: [{ path: 'model', is_dir: true }] },
      'run/model': { files: [{ path: 'model', is_dir: true }] },
      'run/model/model': { files: [{ path: 'MLmodel', is_dir: false, file_size: 1 }] },
    };
    const l = await lister((path) => tree[path] ?? {});
    try {
      const repo = await openRepository(`${l.server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        maxRetries: 0,
      });
      const dst = await mkdtemp(join(work, 'tree-'));
      await repo.downloadArtifacts('', dst);
      expect(await readFile(join(dst, 'model', 'model', 'MLmodel'), 'utf8')).toBe('x');
      await repo.close();
    } finally {
      await l.server.close();
    }
  });
});

describe('walking a tree (downloading a directory)', () => {
  it("a directory is listed as soon as its parent's listing names it, not after the rest of its parent's level", async () => {
    // `run` holds a slow directory and a fast one; the fast one holds `inner`. `inner` must be asked
    // for while the slow listing is still unanswered (a walk in batches waited for the slow one).
    const tree: Record<string, unknown> = {
      run: {
        files: [
          { path: 'slow', is_dir: true },
          { path: 'fast', is_dir: true },
        ],
      },
      'run/slow': { files: [{ path: 'a.txt', is_dir: false, file_size: 1 }] },
      'run/fast': { files: [{ path: 'inner', is_dir: true }] },
      'run/fast/inner': { files: [{ path: 'b.txt', is_dir: false, file_size: 1 }] },
    };
    const asked: string[] = [];
    let slowAnswered = false;
    let innerAskedBeforeSlow = false;
    let innerAsked = false;
    const waitingForInner: Array<() => void> = [];
    const server = await fake((req, res) => {
      res.setHeader('content-type', 'application/json');
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.searchParams.get('path');
      if (path === null) return res.end('x');
      asked.push(path);
      if (path === 'run/fast/inner') {
        innerAskedBeforeSlow = !slowAnswered;
        innerAsked = true;
        for (const answer of waitingForInner.splice(0)) answer();
      }
      if (path !== 'run/slow') return res.end(JSON.stringify(tree[path] ?? {}));
      // Slow until `inner` is asked for, not for a fixed 400 ms a loaded machine's fast branch can
      // overrun. A walk in batches never asks while this waits: it gets the answer after 10 s.
      const answer = () => {
        clearTimeout(fallback);
        slowAnswered = true;
        res.end(JSON.stringify(tree[path]));
      };
      const fallback = setTimeout(answer, 10_000);
      if (innerAsked) answer();
      else waitingForInner.push(answer);
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        maxRetries: 0,
      });
      expect((await repo.listArtifactsRecursive()).map((f) => f.path)).toEqual([
        'fast/inner/b.txt',
        'slow/a.txt',
      ]);
      expect(asked.sort()).toEqual(['run', 'run/fast', 'run/fast/inner', 'run/slow']);
      expect(innerAskedBeforeSlow).toBe(true);
      const dst = await mkdtemp(join(work, 'walk-'));
      await repo.downloadArtifacts('', dst);
      expect(await readFile(join(dst, 'fast', 'inner', 'b.txt'), 'utf8')).toBe('x');
      expect(await readFile(join(dst, 'slow', 'a.txt'), 'utf8')).toBe('x');
      await repo.close();
    } finally {
      await server.close();
    }
  });

  it('a listing that fails stops the walk with its error while others are in flight', async () => {
    const server = await fake((req, res) => {
      res.setHeader('content-type', 'application/json');
      const path = new URL(req.url ?? '/', 'http://x').searchParams.get('path');
      if (path === 'run')
        return res.end(JSON.stringify({ files: ['a', 'b', 'c'].map((d) => ({ path: d, is_dir: true })) }));
      if (path === 'run/b') {
        res.statusCode = 403;
        return res.end(JSON.stringify({ error_code: 'PERMISSION_DENIED', message: 'not b' }));
      }
      setTimeout(() => res.end(JSON.stringify({ files: [{ path: 'f', is_dir: false, file_size: 1 }] })), 200);
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        maxRetries: 0,
      });
      const error = await rejection(repo.listArtifactsRecursive());
      expect(error.code).toBe('permission_denied');
      expect(error.message).toMatch(/not b/);
      await repo.close();
    } finally {
      await server.close();
    }
  });
});

describe('a server that ignores Range (as MLflow does)', () => {
  it('the client cuts the requested bytes out of the whole file', async () => {
    const body = Buffer.from('0123456789');
    const server = await fake((_req, res) => {
      res.setHeader('content-length', body.length);
      res.end(body);
    });
    try {
      const repo = await openRepository(`${server.url}/api/2.0/mlflow-artifacts/artifacts`, {
        maxRetries: 0,
      });
      expect((await readAll(await repo.openRead('f.bin', { range: { start: 2, end: 5 } }))).toString()).toBe(
        '2345',
      );
      expect((await readAll(await repo.openRead('f.bin', { range: { start: 7 } }))).toString()).toBe('789');
      await repo.close();
    } finally {
      await server.close();
    }
  });
});

describe('proxied multipart uploads', () => {
  const MULTIPART = {
    multipartUpload: true,
    multipartMinimumFileSize: 1,
    multipartChunkSize: 4096,
    ...FAST_RETRIES,
  };

  it('fall back to one PUT when the destination has no multipart support (501)', async () => {
    const server = await startServer({ auth: { allowUnauthenticated: true } });
    try {
      const repo = await openRepository(
        `${server.address!.url}/api/2.0/mlflow-artifacts/artifacts/mp`,
        MULTIPART,
      );
      const file = join(work, 'fallback.bin');
      await writeFile(file, dataBytes(10_000, { seed: 'fb' }));
      await repo.logArtifact(file, 'dir');
      expect(
        (await readAll(await repo.openRead('dir/fallback.bin'))).equals(dataBytes(10_000, { seed: 'fb' })),
      ).toBe(true);
      await repo.close();
    } finally {
      await server.close();
    }
  });

  /** An mpu server plus "storage" that fails some part PUTs on demand and records what arrives. */
  async function mpuFake(failPart: (partNumber: number, attempt: number) => number | undefined) {
    const log: string[] = [];
    const parts = new Map<number, Buffer>();
    const attempts = new Map<number, number>();
    let completed: unknown;
    const server = await fake((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const body = Buffer.concat(chunks);
        if (url.pathname.startsWith('/storage/')) {
          const part = Number(url.searchParams.get('partNumber'));
          const attempt = (attempts.get(part) ?? 0) + 1;
          attempts.set(part, attempt);
          log.push(`part ${part} ${req.headers.authorization ? 'with' : 'without'} auth`);
          const status = failPart(part, attempt);
          if (status) {
            res.statusCode = status;
            return res.end();
          }
          parts.set(part, body);
          res.setHeader('etag', `"etag-${part}"`);
          return res.end();
        }
        res.setHeader('content-type', 'application/json');
        if (url.pathname.includes('/mpu/create/')) {
          const request = JSON.parse(body.toString()) as { path: string; num_parts: number };
          log.push(`create ${url.pathname.split('/mpu/create/')[1]} ${request.path} ${request.num_parts}`);
          const origin = `http://${req.headers.host}`;
          return res.end(
            JSON.stringify({
              upload_id: 'up-1',
              credentials: Array.from({ length: request.num_parts }, (_, i) => ({
                url: `${origin}/storage/obj?partNumber=${i + 1}&X-Amz-Signature=secret-sig`,
                part_number: i + 1,
                headers: {},
              })),
            }),
          );
        }
        if (url.pathname.includes('/mpu/complete/')) {
          completed = JSON.parse(body.toString());
          log.push('complete');
          return res.end('{}');
        }
        if (url.pathname.includes('/mpu/abort/')) {
          log.push('abort');
          return res.end('{}');
        }
        res.statusCode = 404;
        res.end('{"error_code":"ENDPOINT_NOT_FOUND","message":"no"}');
      });
    });
    return { server, log, parts, attempts, completed: () => completed };
  }

  it('upload parts straight to storage, retry a failed part, and complete with the ETags in order', async () => {
    const m = await mpuFake((part, attempt) => (part === 2 && attempt === 1 ? 503 : undefined));
    try {
      const repo = await openRepository(`${m.server.url}/api/2.0/mlflow-artifacts/artifacts/run`, {
        ...MULTIPART,
        token: TOKEN,
      });
      const data = dataBytes(10_000, { seed: 'mp' });
      const file = join(work, 'model.bin');
      await writeFile(file, data);
      await repo.logArtifact(file, 'models');
      expect(m.log[0]).toBe('create run/models model.bin 3');
      expect(m.attempts.get(2)).toBe(2);
      expect(
        m.log.filter((line) => line.startsWith('part')).every((line) => line.endsWith('without auth')),
      ).toBe(true);
      expect(Buffer.concat([m.parts.get(1)!, m.parts.get(2)!, m.parts.get(3)!]).equals(data)).toBe(true);
      expect(m.completed()).toMatchObject({
        path: 'model.bin',
        upload_id: 'up-1',
        parts: [
          { part_number: 1, etag: '"etag-1"' },
          { part_number: 2, etag: '"etag-2"' },
          { part_number: 3, etag: '"etag-3"' },
        ],
      });
      await repo.close();
    } finally {
      await m.server.close();
    }
  });

  it('abort the upload when a part keeps failing, without printing the presigned signature', async () => {
    const m = await mpuFake((part) => (part === 3 ? 403 : undefined));
    try {
      const repo = await openRepository(`${m.server.url}/api/2.0/mlflow-artifacts/artifacts/run`, MULTIPART);
      const file = join(work, 'doomed.bin');
      await writeFile(file, dataBytes(10_000, { seed: 'doomed' }));
      const error = await rejection(repo.logArtifact(file));
      expect(error.code).toBe('permission_denied');
      expect(error.message).not.toContain('secret-sig');
      expect(m.log).toContain('abort');
      expect(m.log).not.toContain('complete');
      await repo.close();
    } finally {
      await m.server.close();
    }
  });
});

describe('ranged downloads from our own server', () => {
  /** Our server behind a forwarder that records each GET of a file and the body bytes it served. */
  async function counted(server: ArtifactServer) {
    const target = new URL(server.address!.url);
    const gets: Array<{ path: string; range: string | undefined; bytes: number }> = [];
    const front = await fake((req, res) => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          const entry =
            req.method === 'GET' && req.url?.includes('/artifacts/')
              ? { path: req.url, range: req.headers.range, bytes: 0 }
              : undefined;
          if (entry) gets.push(entry);
          answer.on('data', (chunk: Buffer) => {
            if (entry) entry.bytes += chunk.length;
          });
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    });
    return { url: `${front.url}/api/2.0/mlflow-artifacts/artifacts/ranged`, gets, close: front.close };
  }

  it('from a server on this machine, a download is one GET of the whole file (open-ended range)', async () => {
    const server = await startServer({ auth: { allowUnauthenticated: true } });
    const front = await counted(server);
    try {
      const repo = await openRepository(front.url, { maxRetries: 0 });
      const size = 20 * 1024 * 1024 + 5;
      const data = dataBytes(size, { seed: 'one' });
      await repo.write('one.bin', data);
      const dst = await mkdtemp(join(work, 'one-'));
      front.gets.length = 0;
      await repo.downloadArtifacts('one.bin', dst);
      expect((await readFile(join(dst, 'one.bin'))).equals(data)).toBe(true);
      expect(front.gets.map((get) => [get.range, get.bytes])).toEqual([['bytes=0-', size]]);
      front.gets.length = 0;
      expect((await readAll(await repo.openRead('one.bin'))).equals(data)).toBe(true);
      expect(front.gets.map((get) => get.range)).toEqual(['bytes=0-']);
      // `downloadPartSize` (ARTIFACTS_HTTP_DOWNLOAD_PART_SIZE) still splits it.
      const split = await openRepository(front.url, { maxRetries: 0, downloadPartSize: 8 * 1024 * 1024 });
      front.gets.length = 0;
      await split.downloadArtifacts('one.bin', dst);
      expect(front.gets).toHaveLength(3);
      await split.close();
      await repo.close();
    } finally {
      await front.close();
      await server.close();
    }
  });

  it("stat names the version a read serves (the server's HEAD), and still tells a directory from nothing", async () => {
    const server = await startServer({ auth: { allowUnauthenticated: true } });
    try {
      const repo = await openRepository(`${server.address!.url}/api/2.0/mlflow-artifacts/artifacts/v`, {
        maxRetries: 0,
      });
      await repo.write('dir/model.bin', dataBytes(1000, { seed: 'v' }));
      const stat = await repo.stat('dir/model.bin');
      expect(stat).toMatchObject({ path: 'dir/model.bin', isDir: false, fileSize: 1000 });
      // A local destination names no version of its own: the server's is its size and modification time.
      expect(stat.lastModified).toBeInstanceOf(Date);
      expect(stat.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
      let opened: { lastModified?: Date; etag?: string } = {};
      await readAll(await repo.openRead('dir/model.bin', { onOpen: (info) => (opened = info) }));
      expect(opened.lastModified?.getTime()).toBe(stat.lastModified?.getTime());
      expect(opened.etag).toBe(stat.etag);
      expect(await repo.stat('dir')).toEqual({ path: 'dir', isDir: true });
      expect(await repo.exists('dir/missing.bin')).toBe(false);
      // A client whose first answer is the listing still gets the validators.
      const fresh = await openRepository(`${server.address!.url}/api/2.0/mlflow-artifacts/artifacts/v`, {
        maxRetries: 0,
      });
      expect((await fresh.stat('dir/model.bin')).lastModified?.getTime()).toBe(stat.lastModified?.getTime());
      await fresh.close();
      await repo.close();
    } finally {
      await server.close();
    }
  });

  it('a large download asks for each byte once: the first request is the first range, no whole-file GET', async () => {
    const server = await startServer({ auth: { allowUnauthenticated: true } });
    const front = await counted(server);
    try {
      const repo = await openRepository(front.url, { maxRetries: 0, downloadPartSize: 8 * 1024 * 1024 });
      const size = 40 * 1024 * 1024 + 123; // 8 MiB parts: 5 full and a tail
      const data = dataBytes(size);
      await repo.write('big.bin', data);
      await repo.write('small.txt', 'small');
      await repo.write('empty.txt', '');
      const dst = await mkdtemp(join(work, 'ranged-'));

      front.gets.length = 0;
      await repo.downloadArtifacts('big.bin', dst);
      expect((await readFile(join(dst, 'big.bin'))).equals(data)).toBe(true);
      expect(front.gets.every((get) => get.range !== undefined)).toBe(true);
      expect(front.gets).toHaveLength(6);
      expect(front.gets.reduce((sum, get) => sum + get.bytes, 0)).toBe(size);

      front.gets.length = 0;
      expect((await readAll(await repo.openRead('big.bin'))).equals(data)).toBe(true);
      expect(front.gets).toHaveLength(6);
      expect(front.gets.reduce((sum, get) => sum + get.bytes, 0)).toBe(size);

      // A small file is one request; an empty one (no byte to range over: 416) one more.
      front.gets.length = 0;
      expect((await readAll(await repo.openRead('small.txt'))).toString()).toBe('small');
      expect(front.gets.map((get) => get.bytes)).toEqual([5]);
      front.gets.length = 0;
      expect((await readAll(await repo.openRead('empty.txt'))).length).toBe(0);
      expect(front.gets.map((get) => get.range === undefined)).toEqual([false, true]);
      await repo.close();
    } finally {
      await front.close();
      await server.close();
    }
  });

  it('a file replaced mid-download (same size) fails the read instead of mixing two versions', async () => {
    const destination = await mkdtemp(join(work, 'replaced-'));
    const server = await startServer({
      artifactsDestination: destination,
      auth: { allowUnauthenticated: true },
    });
    try {
      const repo = await openRepository(`${server.address!.url}/api/2.0/mlflow-artifacts/artifacts`, {
        maxRetries: 0,
        downloadPartSize: 1024 * 1024,
        downloadConcurrency: 1,
      });
      const size = 4 * 1024 * 1024;
      await repo.write('model.bin', dataBytes(size, { seed: 'old' }));
      const stream = await repo.openRead('model.bin');
      const chunks = stream[Symbol.asyncIterator]();
      await chunks.next();
      // A writer replaces it (temporary file, rename) with as many bytes, a second later.
      const file = join(destination, 'model.bin');
      await writeFile(`${file}.new`, dataBytes(size, { seed: 'new' }));
      const later = new Date(Date.now() + 1000);
      await utimes(`${file}.new`, later, later);
      await rename(`${file}.new`, file);
      const error = await rejection(
        (async () => {
          for (let next = await chunks.next(); !next.done; next = await chunks.next());
        })(),
      );
      expect(error.code).toBe('failed_precondition');
      expect(error.message).toContain('changed while it was being read');
      await repo.close();
    } finally {
      await server.close();
    }
  });
});
