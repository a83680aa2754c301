import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSockets } from '../src/runtime.ts';
import { hdfsPeakRssMiB } from '../src/servers/hdfs.ts';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';
import { isLoopback } from '../src/util.ts';

let srv: LaunchedForTest;
let env: Record<string, string>;

/** `<webhdfs>/webhdfs/v1<path>?op=…&user.name=…` */
function url(path: string, op: string, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ op, 'user.name': env.HADOOP_USER_NAME!, ...extra });
  return `${env.ARTIFACTS_IT_HDFS_WEBHDFS_URL}/webhdfs/v1${path}?${q}`;
}

/**
 * PUT with node:http. The datanode answers every CREATE/APPEND with an unsolicited `100 Continue`
 * before the final status (Hadoop's WebHdfsHandler sends it whether or not the request said
 * `Expect: 100-continue`); fetch (undici) rejects that as "bad response", node:http skips it.
 */
function httpPut(location: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      location,
      { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** CREATE in two steps: the namenode answers 307 with the datanode's URL, which takes the body. */
async function create(path: string, body: string): Promise<void> {
  const nn = await fetch(url(path, 'CREATE', { overwrite: 'true' }), { method: 'PUT', redirect: 'manual' });
  expect(nn.status).toBe(307);
  const location = nn.headers.get('location')!;
  expect(new URL(location).hostname).toBe('127.0.0.1');
  expect(await httpPut(location, body)).toBe(201);
}

async function open(path: string): Promise<Response> {
  return fetch(url(path, 'OPEN')); // follows the 307 to the datanode
}

async function listStatus(path: string): Promise<{ pathSuffix: string; type: string; length: number }[]> {
  const res = await fetch(url(path, 'LISTSTATUS'));
  expect(res.status).toBe(200);
  const json = (await res.json()) as {
    FileStatuses: { FileStatus: { pathSuffix: string; type: string; length: number }[] };
  };
  return json.FileStatuses.FileStatus.map(({ pathSuffix, type, length }) => ({ pathSuffix, type, length }));
}

beforeAll(async () => {
  srv = await launchForTest('hdfs');
  env = srv.env;
});
afterAll(async () => {
  const peak = srv ? hdfsPeakRssMiB(srv.server.running) : undefined;
  if (peak) process.stderr.write(`[hdfs] MiniDFSCluster peak RSS ${peak} MiB\n`);
  await srv?.stop();
});

describe('MiniDFSCluster (hdfs, WebHDFS)', () => {
  it('exports the documented variables, a HADOOP_CONF_DIR, and listens on loopback only', () => {
    const uri = new URL(env.ARTIFACTS_IT_HDFS_URI!);
    const web = new URL(env.ARTIFACTS_IT_HDFS_WEBHDFS_URL!);
    expect(uri.protocol).toBe('hdfs:');
    expect(uri.hostname).toBe('127.0.0.1');
    expect(uri.pathname).toBe('/artifacts-it');
    expect(web.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.ARTIFACTS_HDFS_WEBHDFS_URL).toBe(env.ARTIFACTS_IT_HDFS_WEBHDFS_URL);
    expect(env.HADOOP_USER_NAME).toBeTruthy();
    const core = readFileSync(join(env.HADOOP_CONF_DIR!, 'core-site.xml'), 'utf8');
    const hdfs = readFileSync(join(env.HADOOP_CONF_DIR!, 'hdfs-site.xml'), 'utf8');
    expect(core).toContain(`<name>fs.defaultFS</name><value>hdfs://127.0.0.1:${uri.port}</value>`);
    expect(hdfs).toContain(`<name>dfs.namenode.http-address</name><value>127.0.0.1:${web.port}</value>`);
    expect(hdfs).toContain('<name>dfs.webhdfs.enabled</name><value>true</value>');
    const sockets = serverSockets(srv.server.running);
    expect(sockets.map((s) => s.port)).toEqual(expect.arrayContaining([Number(uri.port), Number(web.port)]));
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
  });

  it('CREATE (via the datanode redirect), OPEN, ranged OPEN, LISTSTATUS, DELETE', async () => {
    const root = new URL(env.ARTIFACTS_IT_HDFS_URI!).pathname;
    await create(`${root}/smoke/one.txt`, 'hello hdfs');
    await create(`${root}/smoke/sub/two.txt`, 'two');
    expect(await (await open(`${root}/smoke/one.txt`)).text()).toBe('hello hdfs');
    const ranged = await fetch(url(`${root}/smoke/one.txt`, 'OPEN', { offset: '6', length: '4' }));
    expect(await ranged.text()).toBe('hdfs');
    expect(await listStatus(`${root}/smoke`)).toEqual([
      { pathSuffix: 'one.txt', type: 'FILE', length: 10 },
      { pathSuffix: 'sub', type: 'DIRECTORY', length: 0 },
    ]);
    const missing = await open(`${root}/smoke/nope.txt`);
    expect(missing.status).toBe(404);
    expect(
      ((await missing.json()) as { RemoteException: { exception: string } }).RemoteException.exception,
    ).toBe('FileNotFoundException');
    const del = await fetch(url(`${root}/smoke`, 'DELETE', { recursive: 'true' }), { method: 'DELETE' });
    expect(await del.json()).toEqual({ boolean: true });
    expect((await fetch(url(`${root}/smoke`, 'GETFILESTATUS'))).status).toBe(404);
  });

  it("fetch (undici) cannot take the datanode's unsolicited 100 Continue (why httpPut exists)", async () => {
    const root = new URL(env.ARTIFACTS_IT_HDFS_URI!).pathname;
    const nn = await fetch(url(`${root}/undici.txt`, 'CREATE', { overwrite: 'true' }), {
      method: 'PUT',
      redirect: 'manual',
    });
    await expect(fetch(nn.headers.get('location')!, { method: 'PUT', body: 'x' })).rejects.toThrow();
  });

  it('restart keeps the data and the namenode ports', async () => {
    const root = new URL(env.ARTIFACTS_IT_HDFS_URI!).pathname;
    await create(`${root}/kept.txt`, 'kept');
    await srv.server.running.restart!();
    expect(await (await open(`${root}/kept.txt`)).text()).toBe('kept');
    await create(`${root}/after-restart.txt`, 'new');
    expect((await listStatus(root)).map((s) => s.pathSuffix)).toEqual([
      'after-restart.txt',
      'kept.txt',
      'undici.txt',
    ]);
  });
});
