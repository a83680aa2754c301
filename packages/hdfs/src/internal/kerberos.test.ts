import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError } from '@artifacts/core';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { spnegoToken } from './kerberos.js';
import { WebHdfsClient } from './webhdfs-client.js';

// A stand-in for the GSSAPI binding, to reach each failure of gss_acquire_cred on demand; the real
// library against a real KDC and a Kerberized NameNode is tested in test/kerberos/.
const fake = vi.hoisted(() => ({
  calls: [] as { service: string; principal: string | undefined; ccache: string | undefined }[],
  failWith: undefined as string | undefined,
}));
vi.mock('kerberos', () => {
  const binding = {
    GSS_MECH_OID_SPNEGO: 6,
    async initializeClient(service: string, options: { principal?: string }) {
      fake.calls.push({ service, principal: options.principal, ccache: process.env.KRB5CCNAME });
      await new Promise((r) => setTimeout(r, 5));
      return {
        async step() {
          if (fake.failWith) throw new Error(fake.failWith);
          return `token-for-${process.env.KRB5CCNAME}`;
        },
      };
    },
  };
  return { ...binding, default: binding };
});
const { calls } = fake;

const dir = mkdtempSync(join(tmpdir(), 'hdfs-kerberos-'));
const cacheA = join(dir, 'a.cc');
const cacheB = join(dir, 'b.cc');
writeFileSync(cacheA, 'x');
writeFileSync(cacheB, 'x');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  calls.length = 0;
  fake.failWith = undefined;
});

const auth = (ticketCache: string | undefined, principal?: string) => ({
  ticketCache,
  principal,
  reason: 'MLFLOW_KERBEROS_TICKET_CACHE',
});

describe('spnegoToken', () => {
  it('uses each repository its own cache, one token at a time, and restores KRB5CCNAME', async () => {
    process.env.KRB5CCNAME = '/outside';
    const tokens = await Promise.all([
      spnegoToken(auth(cacheA, 'alice'), 'nn1'),
      spnegoToken(auth(cacheB), 'nn2'),
      spnegoToken(auth(cacheA, 'alice'), 'nn1'),
    ]);
    expect(tokens).toEqual([`token-for-${cacheA}`, `token-for-${cacheB}`, `token-for-${cacheA}`]);
    expect(calls).toEqual([
      { service: 'HTTP@nn1', principal: 'alice', ccache: cacheA },
      { service: 'HTTP@nn2', principal: undefined, ccache: cacheB },
      { service: 'HTTP@nn1', principal: 'alice', ccache: cacheA },
    ]);
    expect(process.env.KRB5CCNAME).toBe('/outside');
    // without a cache of its own, GSSAPI's default (KRB5CCNAME) is left alone
    await spnegoToken(auth(undefined), 'nn1');
    expect(calls.at(-1)?.ccache).toBe('/outside');
    delete process.env.KRB5CCNAME;
  });

  it('a missing cache file is unauthenticated, names the file, and asks GSSAPI nothing', async () => {
    const missing = join(dir, 'nope.cc');
    const error = await spnegoToken(auth(`FILE:${missing}`), 'nn').catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain(`FILE:${missing} does not exist`);
    expect(calls).toEqual([]);
  });

  it('names the problem GSSAPI reports: expiry, a principal missing from the cache', async () => {
    fake.failWith = 'Ticket expired';
    const expired = await spnegoToken(auth(cacheA), 'nn').catch((e: unknown) => e);
    expect(ArtifactsError.is(expired, 'unauthenticated')).toBe(true);
    expect((expired as Error).message).toContain(
      `the Kerberos ticket in the ticket cache ${cacheA} has expired`,
    );

    fake.failWith = "Can't find client principal bob@REALM in cache collection";
    const other = await spnegoToken(auth(cacheA, 'bob'), 'nn').catch((e: unknown) => e);
    expect(ArtifactsError.is(other, 'unauthenticated')).toBe(true);
    expect((other as Error).message).toContain(`${cacheA} holds no ticket for principal bob`);
  });
});

describe('WebHdfsClient with Kerberos', () => {
  it("sends a token once, then the NameNode's hadoop.auth cookie; a refused cookie gets a fresh token", async () => {
    const seen: string[] = [];
    let refused: string | undefined;
    const server = createServer((req, res) => {
      const cookie = req.headers.cookie;
      const auth = req.headers.authorization;
      seen.push(cookie ? `cookie ${cookie}` : auth ? 'token' : 'none');
      if (cookie && cookie === refused) {
        res.writeHead(401, {
          'set-cookie': 'hadoop.auth=; Path=/; HttpOnly',
          'www-authenticate': 'Negotiate',
        });
        res.end();
        return;
      }
      if (!cookie && !auth) {
        res.writeHead(401, { 'www-authenticate': 'Negotiate' });
        res.end();
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/json',
        ...(cookie ? {} : { 'set-cookie': `hadoop.auth="u=alice&s=${seen.length}"; Path=/; HttpOnly` }),
      });
      res.end(JSON.stringify({ FileStatus: { pathSuffix: '', type: 'FILE', length: 3 } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = new WebHdfsClient({
      endpoints: [endpoint],
      root: '/r',
      user: undefined,
      kerberos: auth(cacheA, 'alice'),
      maxConnections: 2,
      downloadPartSize: 1024,
      ca: undefined,
      label: 'test',
    });
    const stat = () => client.json('GET', '/r/a', 'GETFILESTATUS', {}, { what: 'stat' });
    await stat();
    await stat();
    refused = 'hadoop.auth="u=alice&s=1"';
    await stat();
    await stat();
    expect(seen).toEqual([
      'token',
      'cookie hadoop.auth="u=alice&s=1"',
      'cookie hadoop.auth="u=alice&s=1"',
      'token',
      'cookie hadoop.auth="u=alice&s=4"',
    ]);
    expect(calls.length).toBe(2);
    await client.close();
    await new Promise((r) => server.close(r));
  });
});
