import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createArtifactServer } from '../src/index.js';

const made: string[] = [];
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'artifacts-server-startup-'));
  made.push(dir);
  return dir;
}

/**
 * The CommonJS modules a fresh process holds once a server over a local store is listening
 * (Node's own cache, `require.cache`: fastify and its dependencies are CommonJS). Run through tsx,
 * the workspace's loader, as core's start-up test is.
 */
async function modulesOfAListeningServer(): Promise<string[]> {
  const index = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const script = `
    const { createRequire } = await import('node:module');
    await import('@artifacts/local');
    const { createArtifactServer } = await import(${JSON.stringify(index)});
    const server = await createArtifactServer({
      artifactsDestination: ${JSON.stringify(await tempDir())},
      port: 0,
      auth: { allowUnauthenticated: true },
      accessLog: false,
    });
    await server.listen();
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));
    await server.close();`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
  return JSON.parse(out) as string[];
}

describe('start-up', () => {
  it("loads no schema compiler (Ajv, fast-json-stringify's compiler): our routes have no schema, and Ajv alone is ~5.5 MiB of the idle server", async () => {
    const loaded = await modulesOfAListeningServer();
    expect(loaded.some((path) => path.includes('/fastify/'))).toBe(true);
    expect(
      loaded.filter((path) =>
        /\/(ajv|@fastify\/ajv-compiler|@fastify\/fast-json-stringify-compiler)\//.test(path),
      ),
    ).toEqual([]);
  });

  it("still validates and serializes a route added with a schema, as fastify's defaults do (header names lower-cased)", async () => {
    const server = await createArtifactServer({
      artifactsDestination: await tempDir(),
      port: 0,
      auth: { allowUnauthenticated: true },
      accessLog: false,
    });
    try {
      server.app.get(
        '/extra/:n',
        {
          schema: {
            params: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] },
            headers: { type: 'object', properties: { 'X-Run': { type: 'string' } }, required: ['X-Run'] },
            response: { 200: { type: 'object', properties: { twice: { type: 'integer' } } } },
          },
        },
        async (request) => ({ twice: (request.params as { n: number }).n * 2, dropped: 'by the serializer' }),
      );
      const ok = await server.app.inject({ method: 'GET', url: '/extra/21', headers: { 'x-run': 'r1' } });
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toEqual({ twice: 42 });
      const badParam = await server.app.inject({
        method: 'GET',
        url: '/extra/x',
        headers: { 'x-run': 'r1' },
      });
      expect(badParam.statusCode).toBe(400);
      const noHeader = await server.app.inject({ method: 'GET', url: '/extra/1' });
      expect(noHeader.statusCode).toBe(400);
    } finally {
      await server.close();
    }
  });
});
