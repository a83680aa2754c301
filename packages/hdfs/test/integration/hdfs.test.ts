import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactsError, isTempName, openRepository } from '@artifacts/core';
import { restartServer } from '@artifacts/integration/vitest';
import { describeResilience } from '@artifacts/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { connectionsTo, env, hdfsPath, rawList, unique, webhdfs } from './helpers.js';

async function text(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function owner(path: string): Promise<string> {
  const response = await webhdfs('GET', path, 'GETFILESTATUS');
  return ((await response.json()) as { FileStatus: { owner: string } }).FileStatus.owner;
}

// Environment variables the tests change, restored after each.
const SAVED = ['ARTIFACTS_HDFS_WEBHDFS_URL', 'HADOOP_CONF_DIR', 'HADOOP_USER_NAME', 'MLFLOW_KERBEROS_USER'];
let saved: Record<string, string | undefined> = {};
beforeEach(() => {
  saved = Object.fromEntries(SAVED.map((name) => [name, process.env[name]]));
});
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

describe('WebHDFS endpoint discovery', () => {
  it('hdfs://host:rpcport finds WebHDFS through HADOOP_CONF_DIR (hdfs-site.xml)', async () => {
    delete process.env.ARTIFACTS_HDFS_WEBHDFS_URL;
    const uri = unique(env('ARTIFACTS_IT_HDFS_URI'), 'conf');
    const repo = await openRepository(uri);
    await repo.write('a/b.txt', 'via hdfs-site.xml');
    expect(await text(await repo.openRead('a/b.txt'))).toBe('via hdfs-site.xml');
    expect(await rawList(`${hdfsPath(uri)}/a`)).toEqual(['b.txt']);
    await repo.close();
  });

  it('hdfs:///path takes the namenode from fs.defaultFS (core-site.xml)', async () => {
    delete process.env.ARTIFACTS_HDFS_WEBHDFS_URL;
    const path = hdfsPath(unique(env('ARTIFACTS_IT_HDFS_URI'), 'defaultfs'));
    const repo = await openRepository(`hdfs://${path}`);
    await repo.write('x.txt', 'default fs');
    expect(await rawList(path)).toEqual(['x.txt']);
    await repo.close();
  });

  it('without configuration or override, hdfs://host:rpcport tries http://host:9870 and says so', async () => {
    delete process.env.ARTIFACTS_HDFS_WEBHDFS_URL;
    delete process.env.HADOOP_CONF_DIR;
    const repo = await openRepository(unique(env('ARTIFACTS_IT_HDFS_URI'), 'noconf'));
    const error = await repo.stat('x').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unavailable')).toBe(true);
    expect((error as Error).message).toContain('127.0.0.1:9870');
    await repo.close();
  });

  it('the webhdfsUrl option wins over the environment', async () => {
    process.env.ARTIFACTS_HDFS_WEBHDFS_URL = 'http://127.0.0.1:9';
    const uri = unique(env('ARTIFACTS_IT_HDFS_URI'), 'opt');
    const repo = await openRepository(uri, { webhdfsUrl: env('ARTIFACTS_IT_HDFS_WEBHDFS_URL') });
    await repo.write('o.txt', 'option');
    expect(await rawList(hdfsPath(uri))).toEqual(['o.txt']);
    await repo.close();
  });

  it('webhdfs://host:httpport/path needs no configuration', async () => {
    delete process.env.ARTIFACTS_HDFS_WEBHDFS_URL;
    delete process.env.HADOOP_CONF_DIR;
    const http = new URL(env('ARTIFACTS_IT_HDFS_WEBHDFS_URL'));
    const path = hdfsPath(unique(env('ARTIFACTS_IT_HDFS_URI'), 'direct'));
    const repo = await openRepository(`webhdfs://${http.host}${path}`);
    await repo.write('w.txt', 'direct');
    expect(await rawList(path)).toEqual(['w.txt']);
    await repo.close();
  });

  it('viewfs:// resolves through the mount table of HADOOP_CONF_DIR', async () => {
    delete process.env.ARTIFACTS_HDFS_WEBHDFS_URL;
    const base = new URL(env('ARTIFACTS_IT_HDFS_URI'));
    const dir = mkdtempSync(join(tmpdir(), 'hdfs-viewfs-'));
    const conf = (props: Record<string, string>) =>
      `<configuration>${Object.entries(props)
        .map(([k, v]) => `<property><name>${k}</name><value>${v}</value></property>`)
        .join('')}</configuration>`;
    writeFileSync(
      join(dir, 'core-site.xml'),
      conf({
        'fs.defaultFS': 'viewfs://it',
        'fs.viewfs.mounttable.it.link./ml': `hdfs://${base.host}${base.pathname}`,
      }),
    );
    const siteDir = env('HADOOP_CONF_DIR');
    writeFileSync(
      join(dir, 'hdfs-site.xml'),
      (await import('node:fs')).readFileSync(join(siteDir, 'hdfs-site.xml'), 'utf8'),
    );
    const name = `view-${Date.now().toString(36)}`;
    const repo = await openRepository(`viewfs://it/ml/${name}`, { hadoopConfDir: dir });
    await repo.write('v.txt', 'viewfs');
    expect(await rawList(`${base.pathname}/${name}`)).toEqual(['v.txt']);
    const viaDefault = await openRepository(`hdfs:///ml/${name}`, { hadoopConfDir: dir });
    expect(await viaDefault.listArtifacts()).toEqual([{ path: 'v.txt', isDir: false, fileSize: 6 }]);
    await repo.close();
    await viaDefault.close();
  });
});

describe('authentication', () => {
  it('simple authentication: option > MLFLOW_KERBEROS_USER > HADOOP_USER_NAME', async () => {
    const uri = unique(env('ARTIFACTS_IT_HDFS_URI'), 'users');
    const path = hdfsPath(uri);
    process.env.HADOOP_USER_NAME = 'hadoop-user';
    process.env.MLFLOW_KERBEROS_USER = 'mlflow-user';
    const byOption = await openRepository(uri, { user: 'option-user' });
    await byOption.write('opt.txt', '1');
    const byMlflow = await openRepository(uri);
    await byMlflow.write('mlflow.txt', '1');
    delete process.env.MLFLOW_KERBEROS_USER;
    const byHadoop = await openRepository(uri);
    await byHadoop.write('hadoop.txt', '1');
    expect(await owner(`${path}/opt.txt`)).toBe('option-user');
    expect(await owner(`${path}/mlflow.txt`)).toBe('mlflow-user');
    expect(await owner(`${path}/hadoop.txt`)).toBe('hadoop-user');
    await Promise.all([byOption.close(), byMlflow.close(), byHadoop.close()]);
  });
});

/** Every name under `path`, recursively, as the NameNode lists them (temporary files included). */
async function storedNames(path: string): Promise<string[]> {
  const out: string[] = [];
  const response = await webhdfs('GET', path, 'LISTSTATUS');
  if (response.status === 404) return out;
  const body = (await response.json()) as {
    FileStatuses: { FileStatus: { pathSuffix: string; type: string }[] };
  };
  for (const status of body.FileStatuses.FileStatus) {
    if (status.pathSuffix === '') continue;
    out.push(`${path}/${status.pathSuffix}`);
    if (status.type === 'DIRECTORY') out.push(...(await storedNames(`${path}/${status.pathSuffix}`)));
  }
  return out;
}

describeResilience('hdfs on MiniDFSCluster', {
  open: (options) => openRepository(unique(env('ARTIFACTS_IT_HDFS_URI'), 'resilience'), options),
  restart: () => restartServer('hdfs'),
  storedNames: (repo) => storedNames(hdfsPath(repo.uri)),
  // The driver's sockets to the NameNode (DataNode transfers go to another port).
  connections: () => connectionsTo(Number(new URL(env('ARTIFACTS_IT_HDFS_WEBHDFS_URL')).port)),
});

describe('listings', () => {
  it('lists a directory larger than one LISTSTATUS_BATCH page (dfs.ls.limit = 1000)', async () => {
    const repo = await openRepository(unique(env('ARTIFACTS_IT_HDFS_URI'), 'batch'));
    const names = Array.from({ length: 1205 }, (_, i) => `d${String(i).padStart(4, '0')}`);
    // Empty directories are cheap (NameNode only): create them raw, list them through the driver.
    const root = hdfsPath(repo.uri);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => webhdfs('PUT', `${root}/${n}`, 'MKDIRS')));
    }
    const listed = await repo.listArtifacts();
    expect(listed.map((f) => f.path)).toEqual(names);
    expect(listed.every((f) => f.isDir)).toBe(true);
    await repo.deleteArtifacts();
    expect(await rawList(root)).toEqual([]);
    await repo.close();
  });
});

describe('uploads that do not complete', () => {
  it('a client process killed mid-upload leaves nothing at the key (its temporary file stays hidden)', async () => {
    const uri = unique(env('ARTIFACTS_IT_HDFS_URI'), 'killed');
    const script = fileURLToPath(new URL('./upload-child.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script, uri], {
      // The workspace root, where tsx is installed.
      cwd: fileURLToPath(new URL('../../../../', import.meta.url)),
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    // The child prints "sending" once several MiB of its body went out.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (data: Buffer) => {
        if (data.toString().includes('sending')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const repo = await openRepository(uri);
    expect(await repo.stat('model.bin').catch((e: unknown) => e)).toSatisfy((e) =>
      ArtifactsError.is(e, 'not_found'),
    );
    expect(await repo.listArtifacts()).toEqual([]);
    const raw = await rawList(hdfsPath(uri));
    expect(raw.every((name) => isTempName(name) && name.startsWith('.model.bin.'))).toBe(true);
    await repo.close();
  });
});
