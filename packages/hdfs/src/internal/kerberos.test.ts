import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebHdfsClient } from './webhdfs-client.js';

// A stand-in for the GSSAPI binding (core's Spnego loads it beside this package: the mock reaches
// it); core's spnego.test.ts tests the tokens, the real library against a real KDC and a Kerberized
// NameNode is tested in test/kerberos/.
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
