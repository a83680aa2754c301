import { readdir } from 'node:fs/promises';
import { baseName, validateArtifactPath } from '@artifacts/core';
import { HOSTILE_PATHS } from '@artifacts/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createArtifactServer } from '../src/index.js';
import { BASIC, call, type Fixture, filesUnder, PASSWORD, startFixture, TOKEN, USER } from './helpers.js';

const A = '/api/2.0/mlflow-artifacts/artifacts';
const M = '/api/2.0/mlflow-artifacts/mpu';
const JSON_HEADERS = { 'content-type': 'application/json' };
const MPU_BODY = JSON.stringify({
  path: 'model.bin',
  num_parts: 2,
  upload_id: 'u',
  parts: [{ part_number: 1, etag: 'e' }],
});

/** Every route of the API (both prefixes), with a body where it takes one. */
const ROUTES: Array<{ method: string; path: string; body?: string; headers?: Record<string, string> }> = [];
for (const prefix of ['/api/2.0', '/ajax-api/2.0']) {
  const base = `${prefix}/mlflow-artifacts`;
  ROUTES.push(
    { method: 'GET', path: `${base}/artifacts?path=` },
    { method: 'GET', path: `${base}/artifacts/secret.txt` },
    { method: 'HEAD', path: `${base}/artifacts/secret.txt` },
    { method: 'PUT', path: `${base}/artifacts/uploaded.txt`, body: 'unauthenticated bytes' },
    { method: 'DELETE', path: `${base}/artifacts/secret.txt` },
    { method: 'GET', path: `${base}/presigned/secret.txt` },
    { method: 'GET', path: `${prefix.replace('2.0', '3.0')}/mlflow/server-info` },
    { method: 'POST', path: `${base}/mpu/create/dir`, body: MPU_BODY, headers: JSON_HEADERS },
    { method: 'POST', path: `${base}/mpu/complete/dir`, body: MPU_BODY, headers: JSON_HEADERS },
    { method: 'POST', path: `${base}/mpu/abort/dir`, body: MPU_BODY, headers: JSON_HEADERS },
  );
}

describe('authentication', () => {
  let f: Fixture;
  const logged: string[] = [];
  beforeAll(async () => {
    f = await startFixture({
      host: '127.0.0.1',
      auth: { users: { [USER]: PASSWORD }, tokens: [TOKEN] },
      accessLog: (entry) => logged.push(JSON.stringify(entry)),
    });
    await call(f.url, 'PUT', `${A}/secret.txt`, { body: 'top secret', auth: BASIC });
  });
  afterAll(() => f.close());

  it.each(ROUTES)(
    '$method $path without credentials is 401 UNAUTHENTICATED with a challenge',
    async (route) => {
      const answer = await call(f.url, route.method, route.path, {
        ...(route.body ? { body: route.body } : {}),
        ...(route.headers ? { headers: route.headers } : {}),
      });
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toMatch(/^Basic realm="artifacts"/);
      if (route.method !== 'HEAD') expect(answer.json().error_code).toBe('UNAUTHENTICATED');
    },
  );

  it.each(ROUTES)('$method $path with a wrong password or token is 401', async (route) => {
    for (const authorization of [
      `Basic ${Buffer.from(`${USER}:wrong`).toString('base64')}`,
      `Basic ${Buffer.from(`mallory:${PASSWORD}`).toString('base64')}`,
      'Bearer not-the-token-at-all',
      `Token ${TOKEN}`,
    ]) {
      const answer = await call(f.url, route.method, route.path, {
        headers: { authorization, ...route.headers },
        ...(route.body ? { body: route.body } : {}),
      });
      expect(answer.status, authorization).toBe(401);
    }
  });

  it('the refused requests wrote and deleted nothing', async () => {
    expect(await filesUnder(f.destination)).toEqual(['secret.txt']);
    const kept = await call(f.url, 'GET', `${A}/secret.txt`, { auth: BASIC });
    expect(kept.body.toString()).toBe('top secret');
  });

  it.each(ROUTES)(
    '$method $path with valid basic or bearer credentials gets past authentication',
    async (route) => {
      for (const authorization of [`Basic ${Buffer.from(BASIC).toString('base64')}`, `Bearer ${TOKEN}`]) {
        const answer = await call(f.url, route.method, route.path, {
          headers: { authorization, ...route.headers },
          ...(route.body ? { body: route.body } : {}),
        });
        expect(answer.status, authorization).not.toBe(401);
      }
    },
  );

  it('GET /health needs no credentials', async () => {
    expect((await call(f.url, 'GET', '/health')).status).toBe(200);
  });

  it('no password, token or Authorization value reaches the access log', () => {
    const log = logged.join('\n');
    expect(logged.length).toBeGreaterThan(ROUTES.length);
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain(TOKEN);
    expect(log).not.toContain(Buffer.from(BASIC).toString('base64'));
    const entry = JSON.parse(logged.find((line) => line.includes('"user":"alice"'))!) as Record<
      string,
      unknown
    >;
    expect(entry).toMatchObject({
      method: expect.any(String),
      route: expect.any(String),
      status: expect.any(Number),
    });
    expect(entry.bytesIn).toBeGreaterThan(0);
    expect(entry.bytesOut).toBeGreaterThan(0);
    expect(typeof entry.durationMs).toBe('number');
  });
});

describe('start-up refuses to serve without authentication', () => {
  it('when no user or token is configured and open access was not asked for', async () => {
    await expect(
      createArtifactServer({ artifactsDestination: '/tmp/never', port: 0, auth: {} }),
    ).rejects.toThrow(/refusing to serve without authentication/);
  });

  it.each(['0.0.0.0', '::', '192.168.1.10', 'example.com'])(
    'when open access is asked for on %s',
    async (host) => {
      await expect(
        createArtifactServer({
          artifactsDestination: '/tmp/never',
          host,
          port: 0,
          auth: { allowUnauthenticated: true },
        }),
      ).rejects.toThrow(/only allowed on a loopback address/);
    },
  );
});

/** The path as a client could put it in a request line: unsafe bytes escaped, '%', '/', '.' and '\\' kept. */
function rawForm(path: string): string {
  return path.replace(/[\u0000-\u0020\u007f#?]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

describe('hostile paths are refused with 400 before anything is touched', () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await startFixture({ auth: { allowUnauthenticated: true } });
  });
  afterAll(() => f.close());

  const expectRefused = async (answer: { status: number; json(): Record<string, unknown> }, what: string) => {
    expect(answer.status, what).toBe(400);
    expect(answer.json().error_code, what).toBe('INVALID_PARAMETER_VALUE');
  };

  it.each(HOSTILE_PATHS.map((path) => [JSON.stringify(path), path]))('in the URL: %s', async (_, path) => {
    for (const form of new Set([rawForm(path), encodeURIComponent(path)])) {
      for (const method of ['PUT', 'GET', 'DELETE']) {
        const answer = await call(f.url, method, `${A}/${form}`, method === 'PUT' ? { body: 'evil' } : {});
        await expectRefused(answer, `${method} ${form}`);
      }
      const mpu = await call(f.url, 'POST', `${M}/create/${form}`, {
        headers: JSON_HEADERS,
        body: JSON.stringify({ path: 'x.bin', num_parts: 1 }),
      });
      await expectRefused(mpu, `mpu ${form}`);
    }
  });

  it.each(HOSTILE_PATHS.map((path) => [JSON.stringify(path), path]))(
    'in the ?path= query: %s',
    async (_, path) => {
      await expectRefused(await call(f.url, 'GET', `${A}?path=${encodeURIComponent(path)}`), path);
    },
  );

  // The body's `path` is the client's local file name; only its base name is used, and it must be safe.
  const hostileNames = [
    '..',
    '.',
    '',
    'a/..',
    '%2e%2e',
    '%252e%252e',
    'a\u0000b',
    'x\ny',
    '#',
    'a%23b',
    'C:\\x\\..',
  ];
  it.each(hostileNames.map((name) => [JSON.stringify(name), name]))(
    'in the JSON body: %s',
    async (_, name) => {
      for (const action of ['create', 'complete', 'abort']) {
        const answer = await call(f.url, 'POST', `${M}/${action}/dir`, {
          headers: JSON_HEADERS,
          body: JSON.stringify({
            path: name,
            num_parts: 1,
            upload_id: 'u',
            parts: [{ part_number: 1, etag: 'e' }],
          }),
        });
        await expectRefused(answer, `${action} ${JSON.stringify(name)}`);
      }
    },
  );

  it('a local path in the body is reduced to its base name (as MLflow does) and that is validated', async () => {
    for (const path of ['/home/me/run/model.bin', '../../model.bin', 'C:\\Users\\me\\model.bin']) {
      expect(validateArtifactPath(baseName(path))).toBe('model.bin');
      const answer = await call(f.url, 'POST', `${M}/create/dir`, {
        headers: JSON_HEADERS,
        body: JSON.stringify({ path, num_parts: 1 }),
      });
      // Past validation: the local destination then says it has no multipart support.
      expect(answer.status).toBe(501);
    }
  });

  it('nothing was written inside or outside the destination', async () => {
    expect(await filesUnder(f.destination)).toEqual([]);
    expect(['destination']).toEqual(expect.arrayContaining(await readdir(f.parent)));
  });
});
