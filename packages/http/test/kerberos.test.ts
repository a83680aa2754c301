/**
 * SPNEGO through the http client, against a stand-in for the GSSAPI binding (mocked: the real binding
 * against a real KDC, behind a server that checks the token, is test/kerberos/spnego.test.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ArtifactsError, openRepository } from '@artifacts/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import '../src/index.js';
import { resolveHttpOptions } from '../src/internal/settings.js';

const fake = vi.hoisted(() => ({ services: [] as string[], ccaches: [] as (string | undefined)[] }));
vi.mock('kerberos', () => {
  const binding = {
    GSS_MECH_OID_SPNEGO: 6,
    async initializeClient(service: string) {
      fake.services.push(service);
      fake.ccaches.push(process.env.KRB5CCNAME);
      return { step: async () => `tok${fake.services.length}` };
    },
  };
  return { ...binding, default: binding };
});

afterEach(() => {
  vi.unstubAllEnvs();
  fake.services.length = 0;
  fake.ccaches.length = 0;
});

/** A server that answers 401 Negotiate to a request without a token, and lists what each sent. */
async function negotiating(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    const auth = req.headers.authorization;
    seen.push(auth ?? 'none');
    if (!auth?.startsWith('Negotiate ')) {
      res.writeHead(401, { 'www-authenticate': 'Negotiate', 'content-type': 'text/plain' });
      res.end('Unauthorized');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ files: [{ path: 'a.txt', is_dir: false, file_size: 1 }] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/2.0/mlflow-artifacts/artifacts/root`,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('Kerberos settings', () => {
  it('kerberos, a ticket cache or a principal turns SPNEGO on; it names what turned it on', () => {
    expect(resolveHttpOptions({}).kerberos).toBeUndefined();
    expect(resolveHttpOptions({ kerberos: true }).kerberos).toEqual({
      ticketCache: undefined,
      principal: undefined,
      reason: 'the kerberos option',
    });
    vi.stubEnv('ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE', '/tmp/krb5cc_7');
    vi.stubEnv('ARTIFACTS_HTTP_KERBEROS_PRINCIPAL', 'alice');
    expect(resolveHttpOptions({}).kerberos).toEqual({
      ticketCache: '/tmp/krb5cc_7',
      principal: 'alice',
      reason: 'ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE',
    });
  });

  it('refuses Kerberos together with basic or bearer credentials (both are the Authorization header)', () => {
    vi.stubEnv('ARTIFACTS_HTTP_KERBEROS', 'true');
    vi.stubEnv('MLFLOW_TRACKING_TOKEN', 'secret-token');
    expect(() => resolveHttpOptions({})).toThrow(
      /Kerberos \(ARTIFACTS_HTTP_KERBEROS\) and HTTP credentials .* cannot both be set/,
    );
    expect(() => resolveHttpOptions({ kerberos: true, username: 'u', password: 'p' })).toThrow(
      ArtifactsError,
    );
  });
});

describe('the http client with Kerberos', () => {
  it('sends a new Negotiate token for HTTP@<host> with every request, from the ticket cache set', async () => {
    const server = await negotiating();
    const cache = '/tmp/never-read-by-the-mock';
    // a FILE cache is checked for existence: a non-FILE type is handed to GSSAPI as it is
    const repo = await openRepository(server.url, { kerberosTicketCache: `MEMORY:${cache}` });
    try {
      expect(await repo.listArtifacts()).toEqual([{ path: 'a.txt', isDir: false, fileSize: 1 }]);
      expect(await repo.listArtifacts()).toHaveLength(1);
      expect(server.seen).toEqual(['Negotiate tok1', 'Negotiate tok2']);
      expect(fake.services).toEqual(['HTTP@127.0.0.1', 'HTTP@127.0.0.1']);
      expect(fake.ccaches).toEqual([`MEMORY:${cache}`, `MEMORY:${cache}`]);
    } finally {
      await repo.close();
      await server.close();
    }
  });

  it('without Kerberos, a 401 asking for Negotiate says how to turn it on', async () => {
    const server = await negotiating();
    const repo = await openRepository(server.url, { maxRetries: 0 });
    try {
      const error = await repo.listArtifacts().catch((e: unknown) => e);
      expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
      expect((error as Error).message).toContain(
        'the server asks for Kerberos (SPNEGO): kinit, then set ARTIFACTS_HTTP_KERBEROS=true',
      );
      expect(server.seen).toEqual(['none']);
      expect(fake.services).toEqual([]);
    } finally {
      await repo.close();
      await server.close();
    }
  });
});
