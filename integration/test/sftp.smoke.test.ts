import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import SftpClient from 'ssh2-sftp-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSockets } from '../src/runtime.ts';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';
import { isLoopback } from '../src/util.ts';

let srv: LaunchedForTest;
let env: Record<string, string>;

/** `SHA256:<base64, no padding>` of a raw host key, as ssh-keygen -l prints it. */
function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function baseConfig(pinned: string) {
  return {
    host: env.ARTIFACTS_IT_SFTP_HOST!,
    port: Number(env.ARTIFACTS_IT_SFTP_PORT),
    readyTimeout: 20_000,
    hostVerifier: (key: Buffer) => fingerprintOf(key) === pinned,
  };
}

async function connect(cfg: Record<string, unknown>): Promise<SftpClient> {
  const c = new SftpClient();
  await c.connect(cfg);
  return c;
}

async function keyClient(): Promise<SftpClient> {
  return connect({
    ...baseConfig(env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT!),
    username: new URL(env.ARTIFACTS_IT_SFTP_URI!).username,
    privateKey: readFileSync(env.ARTIFACTS_SFTP_IDENTITY_FILE!),
  });
}

/** put, get, list, rename, delete under `root`. */
async function roundTrip(c: SftpClient, root: string, tag: string): Promise<void> {
  await c.mkdir(`${root}/${tag}/sub`, true);
  await c.put(Buffer.from(`one ${tag}`), `${root}/${tag}/.one.tmp`);
  await c.rename(`${root}/${tag}/.one.tmp`, `${root}/${tag}/one.txt`);
  await c.put(Buffer.from('three'), `${root}/${tag}/sub/three.txt`);
  expect(((await c.get(`${root}/${tag}/one.txt`)) as Buffer).toString()).toBe(`one ${tag}`);
  const list = (await c.list(`${root}/${tag}`)).map((f) => [f.name, f.type, f.size]).sort();
  expect(list).toEqual([
    ['one.txt', '-', `one ${tag}`.length],
    ['sub', 'd', expect.any(Number)],
  ]);
  await c.delete(`${root}/${tag}/one.txt`);
  await c.rmdir(`${root}/${tag}`, true);
  expect(await c.exists(`${root}/${tag}`)).toBe(false);
}

beforeAll(async () => {
  srv = await launchForTest('sftp');
  env = srv.env;
});
afterAll(async () => {
  await srv?.stop();
});

describe('OpenSSH sshd (sftp)', () => {
  it('exports the documented variables and listens on loopback only', () => {
    const port = env.ARTIFACTS_IT_SFTP_PORT!;
    expect(env.ARTIFACTS_IT_SFTP_HOST).toBe('127.0.0.1');
    expect(env.ARTIFACTS_IT_SFTP_URI).toMatch(new RegExp(`^sftp://it-key@127\\.0\\.0\\.1:${port}/.+/root$`));
    expect(env.ARTIFACTS_IT_SFTP_PASSWORD_URI).toMatch(
      new RegExp(`^sftp://it-pass@127\\.0\\.0\\.1:${port}/`),
    );
    expect(new URL(env.ARTIFACTS_IT_SFTP_PASSWORD_URI!).password).toBe('');
    expect(env.ARTIFACTS_IT_SFTP_PASSWORD_USER).toBe('it-pass');
    expect(env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    for (const f of [
      'ARTIFACTS_SFTP_IDENTITY_FILE',
      'ARTIFACTS_IT_SFTP_PASSPHRASE_KEY_FILE',
      'ARTIFACTS_SFTP_KNOWN_HOSTS',
    ]) {
      expect(existsSync(env[f]!), f).toBe(true);
    }
    expect(readFileSync(env.ARTIFACTS_SFTP_KNOWN_HOSTS!, 'utf8')).toMatch(
      new RegExp(`^\\[127\\.0\\.0\\.1\\]:${port} ssh-ed25519 [A-Za-z0-9+/=]+\\n$`),
    );
    const sockets = serverSockets(srv.server.running);
    expect(sockets.length).toBeGreaterThan(0);
    expect(sockets.filter((s) => !isLoopback(s.address))).toEqual([]);
  });

  it('the pinned known_hosts key is the key the server presents', async () => {
    let presented: Buffer | undefined;
    const c = await connect({
      ...baseConfig(env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT!),
      hostVerifier: (key: Buffer) => {
        presented = key;
        return fingerprintOf(key) === env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT;
      },
      username: 'it-key',
      privateKey: readFileSync(env.ARTIFACTS_SFTP_IDENTITY_FILE!),
    });
    await c.end();
    const known = readFileSync(env.ARTIFACTS_SFTP_KNOWN_HOSTS!, 'utf8').trim().split(' ')[2]!;
    expect(presented?.toString('base64')).toBe(known);
  });

  it('key user (unencrypted key, host key verified): put, get, list, rename, delete', async () => {
    const c = await keyClient();
    try {
      await roundTrip(c, new URL(env.ARTIFACTS_IT_SFTP_URI!).pathname, 'key');
    } finally {
      await c.end();
    }
  });

  it('password user: put, get, list, rename, delete', async () => {
    const uri = new URL(env.ARTIFACTS_IT_SFTP_PASSWORD_URI!);
    const c = await connect({
      ...baseConfig(env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT!),
      username: uri.username,
      password: env.ARTIFACTS_IT_SFTP_PASSWORD,
    });
    try {
      await roundTrip(c, uri.pathname, 'pass');
    } finally {
      await c.end();
    }
  });

  it('key protected by a passphrase: accepted with it, refused without or with a wrong one', async () => {
    const cfg = {
      ...baseConfig(env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT!),
      username: 'it-key',
      privateKey: readFileSync(env.ARTIFACTS_IT_SFTP_PASSPHRASE_KEY_FILE!),
    };
    const c = await connect({ ...cfg, passphrase: env.ARTIFACTS_IT_SFTP_KEY_PASSPHRASE });
    try {
      expect(await c.exists(new URL(env.ARTIFACTS_IT_SFTP_URI!).pathname)).toBe('d');
    } finally {
      await c.end();
    }
    await expect(connect({ ...cfg, passphrase: 'wrong passphrase' })).rejects.toThrow();
    await expect(connect(cfg)).rejects.toThrow();
  });

  it('a wrong host fingerprint is rejected', async () => {
    await expect(
      connect({
        ...baseConfig(`SHA256:${'A'.repeat(43)}`),
        username: 'it-key',
        privateKey: readFileSync(env.ARTIFACTS_SFTP_IDENTITY_FILE!),
      }),
    ).rejects.toThrow();
  });

  it('wrong credentials are rejected (bad password; password login for the key-only user)', async () => {
    const base = baseConfig(env.ARTIFACTS_IT_SFTP_HOST_FINGERPRINT!);
    await expect(connect({ ...base, username: 'it-pass', password: 'not-the-password' })).rejects.toThrow();
    await expect(
      connect({ ...base, username: 'it-key', password: env.ARTIFACTS_IT_SFTP_PASSWORD }),
    ).rejects.toThrow();
  });

  it('restart drops live sessions and keeps the port, the host key and the data', async () => {
    const root = new URL(env.ARTIFACTS_IT_SFTP_URI!).pathname;
    const live = await keyClient();
    await live.put(Buffer.from('kept'), `${root}/kept.txt`);
    await srv.server.running.restart!();
    // the restart dropped the live session (what a stale-connection test needs)
    await expect(live.list(root)).rejects.toThrow();
    await live.end().catch(() => {});
    const c = await keyClient();
    try {
      expect(((await c.get(`${root}/kept.txt`)) as Buffer).toString()).toBe('kept');
      await c.delete(`${root}/kept.txt`);
    } finally {
      await c.end();
    }
  });
});
