import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArtifactUri } from '@artifacts/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FtpOptions } from '../options.js';
import { ftpSettings, resolveSettings } from './settings.js';

const ENV = [
  'ARTIFACTS_FTP_USER',
  'ARTIFACTS_FTP_PASSWORD',
  'ARTIFACTS_FTP_TLS',
  'ARTIFACTS_FTP_CA_FILE',
  'ARTIFACTS_FTP_TLS_VERIFY',
  'ARTIFACTS_FTP_MAX_CONNECTIONS',
  'ARTIFACTS_FTP_SOCKET_TIMEOUT_MS',
  'ARTIFACTS_FTP_IDLE_TIMEOUT_MS',
];
const saved = new Map(ENV.map((name) => [name, process.env[name]]));
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'artifacts-ftp-settings-'));
});
afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function resolve(uri: string, options: FtpOptions = {}, env: Record<string, string> = {}) {
  for (const name of ENV) delete process.env[name];
  Object.assign(process.env, env);
  return resolveSettings(parseArtifactUri(uri), options);
}

describe('resolveSettings', () => {
  it('defaults to port 21, plain FTP, 4 connections, and decodes the URI password', async () => {
    const s = await resolve('ftp://alice:p%40ss%2Fw%3Ard@files.example.org/exp/1');
    expect(s).toMatchObject({
      host: 'files.example.org',
      port: 21,
      username: 'alice',
      password: 'p@ss/w:rd',
      tls: 'none',
      tlsVerify: true,
      root: '/exp/1',
      maxConnections: 4,
      label: 'ftp://alice@files.example.org',
    });
    expect(s.secrets).toEqual(['p@ss/w:rd']);
    expect(s.label).not.toContain('p@ss');
  });

  it('logs in anonymously when the URI names no user', async () => {
    const s = await resolve('ftp://mirror.example.org/pub');
    expect(s).toMatchObject({ username: 'anonymous', password: 'anonymous@', secrets: [] });
  });

  it('lets options win over variables, and variables over the defaults', async () => {
    const env = {
      ARTIFACTS_FTP_PASSWORD: 'from-env',
      ARTIFACTS_FTP_USER: 'env-user',
      ARTIFACTS_FTP_MAX_CONNECTIONS: '6',
    };
    expect(await resolve('ftp://h/x', {}, env)).toMatchObject({
      username: 'env-user',
      password: 'from-env',
      maxConnections: 6,
    });
    expect(await resolve('ftp://h/x', { password: 'opt', maxConnections: 1 }, env)).toMatchObject({
      password: 'opt',
      maxConnections: 1,
    });
    await expect(resolve('ftp://h/x', {}, { ARTIFACTS_FTP_MAX_CONNECTIONS: '0' })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });

  it('uses implicit TLS on port 990 for ftps://', async () => {
    expect(await resolve('ftps://u:p@h/x')).toMatchObject({
      tls: 'implicit',
      port: 990,
      label: 'ftps://u@h',
    });
    expect(await resolve('ftps://u:p@h:2990/x')).toMatchObject({ port: 2990, label: 'ftps://u@h:2990' });
    await expect(resolve('ftps://h/x', { tls: 'explicit' })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });

  it('turns explicit TLS on by option or ARTIFACTS_FTP_TLS (a mode or a boolean)', async () => {
    expect((await resolve('ftp://h/x', { tls: 'explicit' })).tls).toBe('explicit');
    expect((await resolve('ftp://h/x', { tls: true })).tls).toBe('explicit');
    expect((await resolve('ftp://h/x', {}, { ARTIFACTS_FTP_TLS: 'explicit' })).tls).toBe('explicit');
    expect((await resolve('ftp://h/x', {}, { ARTIFACTS_FTP_TLS: 'true' })).tls).toBe('explicit');
    expect((await resolve('ftp://h/x', {}, { ARTIFACTS_FTP_TLS: 'off' })).tls).toBe('none');
    expect((await resolve('ftp://h/x', { tls: false }, { ARTIFACTS_FTP_TLS: 'explicit' })).tls).toBe('none');
    await expect(resolve('ftp://h/x', {}, { ARTIFACTS_FTP_TLS: 'sometimes' })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });

  it('reads the CA from caFile or ARTIFACTS_FTP_CA_FILE, and keeps verification on unless turned off', async () => {
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    expect(
      (await resolve('ftp://h/x', { tls: 'explicit' }, { ARTIFACTS_FTP_CA_FILE: ca })).ca?.[0],
    ).toContain('BEGIN CERTIFICATE');
    expect(
      (await resolve('ftp://h/x', { tls: 'explicit', ca: 'PEM' }, { ARTIFACTS_FTP_CA_FILE: ca })).ca,
    ).toEqual(['PEM']);
    await expect(
      resolve('ftp://h/x', { tls: 'explicit', caFile: join(dir, 'missing.pem') }),
    ).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(
      (await resolve('ftp://h/x', { tls: 'explicit' }, { ARTIFACTS_FTP_TLS_VERIFY: 'false' })).tlsVerify,
    ).toBe(false);
    expect(
      (await resolve('ftp://h/x', { tlsVerify: true }, { ARTIFACTS_FTP_TLS_VERIFY: 'false' })).tlsVerify,
    ).toBe(true);
  });

  it('refuses an unknown option with the closest name', async () => {
    await expect(resolve('ftp://h/x', { maxConnection: 2 } as never)).rejects.toThrow(
      /unknown option "maxConnection" for @artifacts\/ftp; did you mean "maxConnections"\?/,
    );
  });

  it('the README options table is the declaration', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(ftpSettings.markdownTable());
  });
});
