import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError } from '@artifacts/core';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { spnegoToken } from './kerberos.js';

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
