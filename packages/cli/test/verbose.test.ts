import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, tempDir } from './helpers.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** An artifact server that answers its first `failures` requests with 503, then lists one file. */
async function flakyServer(failures: number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    if (requests <= failures) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ files: [{ path: 'a.txt', is_dir: false, file_size: '3' }] }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/api/2.0/mlflow-artifacts/artifacts`, requests: () => requests };
}

describe('--verbose', () => {
  it('prints each retry of a storage request on stderr, and nothing without it', async () => {
    const env = { MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.01' };
    const flaky = await flakyServer(2);
    const verbose = await cli(['--verbose', 'ls', flaky.url], { env });
    expect(verbose.code, verbose.stderr).toBe(0);
    const lines = verbose.stderr.split('\n').filter((line) => line.startsWith('artifacts: retrying'));
    expect(lines, verbose.stderr).toHaveLength(2);
    expect(lines[0]).toMatch(/HTTP 503/);
    expect(flaky.requests()).toBe(3);

    // with core's retries (ARTIFACTS_MAX_RETRIES), core's retry layer retries and reports
    const core = await flakyServer(2);
    const layered = await cli(['--verbose', 'ls', core.url], { env: { ARTIFACTS_MAX_RETRIES: '2' } });
    expect(layered.code, layered.stderr).toBe(0);
    const coreLines = layered.stderr
      .split('\n')
      .filter((line) => line.startsWith('artifacts: retrying list'));
    expect(coreLines, layered.stderr).toHaveLength(2);
    expect(core.requests()).toBe(3);

    const quiet = await flakyServer(2);
    const plain = await cli(['ls', quiet.url], { env });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).not.toMatch(/retrying/);
  });

  it('names the file and the part (number and bytes) of a part retry of a download', async () => {
    // 20 MiB through @artifacts/http: ranged GETs of 8 MiB; the second range fails once with 503.
    const MiB = 1024 * 1024;
    const body = Buffer.alloc(20 * MiB, 7);
    const failed: string[] = [];
    const server = createServer((req, res) => {
      if (!req.url?.includes('/artifacts/model.bin')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({ files: [{ path: 'model.bin', is_dir: false, file_size: String(body.length) }] }),
        );
        return;
      }
      const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
      const start = Number(from ?? 0);
      const end = Math.min(Number(to ?? body.length - 1), body.length - 1);
      if (start === 8 * MiB && failed.length === 0) {
        failed.push(String(req.headers.range));
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('busy');
        return;
      }
      res.writeHead(206, {
        etag: '"v1"',
        'content-range': `bytes ${start}-${end}/${body.length}`,
        'content-length': end - start + 1,
      });
      res.end(body.subarray(start, end + 1));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const root = `http://127.0.0.1:${port}/api/2.0/mlflow-artifacts/artifacts`;
    const dst = await tempDir();
    const env = {
      MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR: '0.01',
      MLFLOW_HTTP_REQUEST_BACKOFF_JITTER: '0',
      // Parts of 8 MiB: from a server on this machine the default is one GET for the whole file.
      ARTIFACTS_HTTP_DOWNLOAD_PART_SIZE: String(8 * MiB),
    };
    const result = await cli(['--verbose', 'download', `${root}/model.bin`, dst], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(failed).toEqual(['bytes=8388608-16777215']);
    expect((await readFile(join(dst, 'model.bin'))).equals(body)).toBe(true);
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('artifacts: retrying'));
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^artifacts: retrying part 2 \(bytes 8388608–16777215\) of "model\.bin" in \d+ ms \(attempt 1 of \d+ failed: .*503/,
    );
  });

  it('a dead server (connection refused, never answered) fails at once, with no retries', async () => {
    const gone = await flakyServer(0);
    const url = gone.url;
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const started = Date.now();
    const result = await cli(['--verbose', 'ls', `${url}/run1`]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/nothing accepts connections on/);
    expect(result.stderr).not.toMatch(/retrying/);
    // MLflow's default is 7 retries with doubling backoff (about 3 minutes). The run includes
    // starting Node and importing the CLI, which on a loaded CI machine alone can take 10-20 s
    // (see vitest.shared.ts); no retry is proved by the stderr above, the clock tells minutes apart.
    expect(Date.now() - started).toBeLessThan(45_000);
  });
});
