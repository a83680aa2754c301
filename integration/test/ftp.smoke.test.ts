import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Client } from 'basic-ftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSockets } from '../src/runtime.ts';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';
import { isLoopback } from '../src/util.ts';

let srv: LaunchedForTest;
let env: Record<string, string>;

/** Connects with the credentials taken from ARTIFACTS_IT_FTP_URI (password percent-decoded). */
async function connect(secure: boolean, secureOptions: Record<string, unknown> = {}): Promise<Client> {
  const uri = new URL(env.ARTIFACTS_IT_FTP_URI!);
  const c = new Client(20_000);
  try {
    await c.access({
      host: uri.hostname,
      port: Number(uri.port),
      user: decodeURIComponent(uri.username),
      password: decodeURIComponent(uri.password),
      secure,
      secureOptions,
    });
  } catch (err) {
    c.close();
    throw err;
  }
  return c;
}

async function download(c: Client, path: string): Promise<string> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(chunk as Buffer);
      cb();
    },
  });
  await c.downloadTo(sink, path);
  return Buffer.concat(chunks).toString();
}

/** put, get, list, rename, delete under the URI's root directory. */
async function roundTrip(c: Client, tag: string): Promise<void> {
  const root = new URL(env.ARTIFACTS_IT_FTP_URI!).pathname;
  await c.ensureDir(`${root}/${tag}/sub`); // also changes into it
  await c.cd('/');
  await c.uploadFrom(Readable.from([Buffer.from(`one ${tag}`)]), `${root}/${tag}/.one.tmp`);
  await c.rename(`${root}/${tag}/.one.tmp`, `${root}/${tag}/one.txt`);
  await c.uploadFrom(Readable.from([Buffer.from('three')]), `${root}/${tag}/sub/three.txt`);
  expect(await download(c, `${root}/${tag}/one.txt`)).toBe(`one ${tag}`);
  const list = (await c.list(`${root}/${tag}`))
    .map((f) => [f.name, f.isDirectory, f.isFile ? f.size : null])
    .sort();
  expect(list).toEqual([
    ['one.txt', false, `one ${tag}`.length],
    ['sub', true, null],
  ]);
  await c.remove(`${root}/${tag}/one.txt`);
  await c.removeDir(`${root}/${tag}`);
  expect((await c.list(root)).map((f) => f.name)).not.toContain(tag);
}

beforeAll(async () => {
  srv = await launchForTest('ftp');
  env = srv.env;
});
afterAll(async () => {
  await srv?.stop();
});

describe('pure-ftpd (ftp)', () => {
  it('exports the documented variables and listens on loopback only', () => {
    const uri = new URL(env.ARTIFACTS_IT_FTP_URI!);
    expect(uri.protocol).toBe('ftp:');
    expect(uri.hostname).toBe('127.0.0.1');
    expect(uri.port).toBe(env.ARTIFACTS_IT_FTP_PORT);
    expect(uri.pathname).toBe('/root');
    expect(decodeURIComponent(uri.username)).toBe(env.ARTIFACTS_IT_FTP_USER);
    // the password needs percent-encoding, so decoding is exercised
    expect(env.ARTIFACTS_IT_FTP_PASSWORD).toMatch(/[@/:]/);
    expect(uri.password).not.toBe(env.ARTIFACTS_IT_FTP_PASSWORD);
    expect(decodeURIComponent(uri.password)).toBe(env.ARTIFACTS_IT_FTP_PASSWORD);
    expect(env.ARTIFACTS_IT_FTP_HOST).toBe('127.0.0.1');
    expect(readFileSync(env.ARTIFACTS_FTP_CA_FILE!, 'utf8')).toContain('BEGIN CERTIFICATE');
    const sockets = serverSockets(srv.server.running);
    expect(sockets.length).toBeGreaterThan(0);
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
  });

  it("stores the test user's password as SHA-512 crypt, not pure-pw's memory-hard default that every login pays", () => {
    const passwd = readFileSync(join(srv.server.stateDir, 'pure-ftpd', 'pureftpd.passwd'), 'utf8');
    const [user, hash] = passwd.split(':');
    expect(user).toBe(env.ARTIFACTS_IT_FTP_USER);
    expect(hash).toMatch(/^\$6\$[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/);
  });

  it('plain FTP: put, get, list, rename, delete', async () => {
    const c = await connect(false);
    try {
      await roundTrip(c, 'plain');
    } finally {
      c.close();
    }
  });

  it('explicit FTPS verified against ARTIFACTS_FTP_CA_FILE: put, get, list, rename, delete', async () => {
    const c = await connect(true, { ca: readFileSync(env.ARTIFACTS_FTP_CA_FILE!) });
    try {
      await roundTrip(c, 'tls');
    } finally {
      c.close();
    }
  });

  it('explicit FTPS without the CA is rejected (certificate verification stays on)', async () => {
    await expect(connect(true)).rejects.toThrow(/self[- ]signed|certificate/i);
  });

  it('a wrong password is rejected', async () => {
    const uri = new URL(env.ARTIFACTS_IT_FTP_URI!);
    const c = new Client(20_000);
    try {
      await expect(
        c.access({
          host: uri.hostname,
          port: Number(uri.port),
          user: env.ARTIFACTS_IT_FTP_USER,
          password: 'wrong',
        }),
      ).rejects.toThrow(/530/);
    } finally {
      c.close();
    }
  });

  it('restart drops live connections and keeps the port, the credentials and the data', async () => {
    const live = await connect(false);
    await live.uploadFrom(Readable.from([Buffer.from('kept')]), '/root/kept.txt');
    await srv.server.running.restart!();
    // the restart dropped the live control connection (what a stale-connection test needs)
    await expect(live.list('/root')).rejects.toThrow();
    live.close();
    const c = await connect(true, { ca: readFileSync(env.ARTIFACTS_FTP_CA_FILE!) });
    try {
      expect(await download(c, '/root/kept.txt')).toBe('kept');
      await c.remove('/root/kept.txt');
    } finally {
      c.close();
    }
  });
});
