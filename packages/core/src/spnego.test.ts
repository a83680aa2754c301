import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { asksForNegotiate, Spnego, type SpnegoUser, spnegoToken } from './spnego.js';

// A stand-in for the GSSAPI binding, handed in as the user's `load`, to reach each failure of
// gss_acquire_cred on demand; the real library against a real KDC is tested by hdfs (a Kerberized
// NameNode) and http (a server behind a SPNEGO check) in their test/kerberos/.
const calls: { service: string; principal: string | undefined; ccache: string | undefined }[] = [];
let failWith: string | undefined;
const binding = {
  GSS_MECH_OID_SPNEGO: 6,
  async initializeClient(service: string, options: { principal?: string }) {
    calls.push({ service, principal: options.principal, ccache: process.env.KRB5CCNAME });
    await new Promise((r) => setTimeout(r, 5));
    return {
      async step() {
        if (failWith) throw new Error(failWith);
        return `token-for-${process.env.KRB5CCNAME}`;
      },
    };
  },
};
const user: SpnegoUser = {
  load: async () => ({ default: binding }),
  owner: '@artifacts/test',
  principalSetting: 'THE_PRINCIPAL',
  server: 'the server',
};

const dir = mkdtempSync(join(tmpdir(), 'core-spnego-'));
const cacheA = join(dir, 'a.cc');
const cacheB = join(dir, 'b.cc');
writeFileSync(cacheA, 'x');
writeFileSync(cacheB, 'x');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  calls.length = 0;
  failWith = undefined;
});

const auth = (ticketCache: string | undefined, principal?: string) => ({
  ticketCache,
  principal,
  reason: 'THE_CACHE',
});

describe('spnegoToken', () => {
  it('uses each repository its own cache, one token at a time, and restores KRB5CCNAME', async () => {
    process.env.KRB5CCNAME = '/outside';
    const tokens = await Promise.all([
      spnegoToken(auth(cacheA, 'alice'), 'nn1', user),
      spnegoToken(auth(cacheB), 'nn2', user),
      spnegoToken(auth(cacheA, 'alice'), 'nn1', user),
    ]);
    expect(tokens).toEqual([`token-for-${cacheA}`, `token-for-${cacheB}`, `token-for-${cacheA}`]);
    expect(calls).toEqual([
      { service: 'HTTP@nn1', principal: 'alice', ccache: cacheA },
      { service: 'HTTP@nn2', principal: undefined, ccache: cacheB },
      { service: 'HTTP@nn1', principal: 'alice', ccache: cacheA },
    ]);
    expect(process.env.KRB5CCNAME).toBe('/outside');
    // without a cache of its own, GSSAPI's default (KRB5CCNAME) is left alone
    await spnegoToken(auth(undefined), 'nn1', user);
    expect(calls.at(-1)?.ccache).toBe('/outside');
    delete process.env.KRB5CCNAME;
  });

  it('a missing cache file is unauthenticated, names the file, and asks GSSAPI nothing', async () => {
    const missing = join(dir, 'nope.cc');
    const error = await spnegoToken(auth(`FILE:${missing}`), 'nn', user).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unauthenticated')).toBe(true);
    expect((error as Error).message).toContain(`FILE:${missing} does not exist`);
    expect((error as Error).message).toContain('(or fix THE_CACHE)');
    expect(calls).toEqual([]);
  });

  it('names the problem GSSAPI reports: expiry, a principal missing from the cache, an unknown service', async () => {
    failWith = 'Ticket expired';
    const expired = await spnegoToken(auth(cacheA), 'nn', user).catch((e: unknown) => e);
    expect(ArtifactsError.is(expired, 'unauthenticated')).toBe(true);
    expect((expired as Error).message).toContain(
      `the Kerberos ticket in the ticket cache ${cacheA} has expired`,
    );

    failWith = "Can't find client principal bob@REALM in cache collection";
    const other = await spnegoToken(auth(cacheA, 'bob'), 'nn', user).catch((e: unknown) => e);
    expect(ArtifactsError.is(other, 'unauthenticated')).toBe(true);
    expect((other as Error).message).toContain(`${cacheA} holds no ticket for principal bob (THE_PRINCIPAL`);

    failWith = 'Server not found in Kerberos database';
    const service = await spnegoToken(auth(cacheA), 'web', user).catch((e: unknown) => e);
    expect((service as Error).message).toContain(
      "no service principal for HTTP@web (the server's HTTP principal must be HTTP/",
    );
  });

  it('a binding that is not installed says which package to install it beside', async () => {
    const missing: SpnegoUser = {
      ...user,
      load: () =>
        Promise.reject(
          Object.assign(new Error("Cannot find package 'kerberos'"), { code: 'ERR_MODULE_NOT_FOUND' }),
        ),
    };
    const error = await spnegoToken(auth(cacheA), 'nn', missing).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'unsupported')).toBe(true);
    expect((error as Error).message).toContain(
      'Kerberos is requested (THE_CACHE); install kerberos beside @artifacts/test',
    );
  });
});

describe('Spnego', () => {
  it('sends a token for the host of each URL, then the session cookie its origin set; a refused cookie is forgotten', async () => {
    const spnego = new Spnego(auth(cacheA), { ...user, cookie: 'hadoop.auth' });
    expect(await spnego.headers('http://[::1]:9870/webhdfs/v1/a')).toEqual({
      authorization: `Negotiate token-for-${cacheA}`,
    });
    expect(calls.at(-1)?.service).toBe('HTTP@::1');
    spnego.answered('http://nn:1/x', { 'set-cookie': ['other=1', 'hadoop.auth="u=a&s=1"; Path=/'] });
    expect(await spnego.headers('http://nn:1/y')).toEqual({ cookie: 'hadoop.auth="u=a&s=1"' });
    expect(spnego.cookie('http://nn:1/z')).toBe('hadoop.auth="u=a&s=1"');
    // another origin has none
    expect(spnego.cookie('http://nn:2/z')).toBeUndefined();
    expect(spnego.refused('http://nn:1/y', undefined)).toBe(false);
    expect(spnego.refused('http://nn:1/y', 'hadoop.auth="u=a&s=1"')).toBe(true);
    expect(spnego.cookie('http://nn:1/z')).toBeUndefined();
    // an empty cookie set by the server forgets it too
    spnego.answered('http://nn:1/x', { 'set-cookie': ['hadoop.auth="u=a&s=2"'] });
    spnego.answered('http://nn:1/x', { 'set-cookie': ['hadoop.auth=; Path=/'] });
    expect(spnego.cookie('http://nn:1/z')).toBeUndefined();
  });

  it('without a session cookie named, every request gets a new token', async () => {
    const spnego = new Spnego(auth(cacheB), user);
    spnego.answered('http://web/x', { 'set-cookie': ['hadoop.auth="u=a&s=1"'] });
    await spnego.headers('http://web/a');
    await spnego.headers('http://web/b');
    expect(calls.map((c) => c.service)).toEqual(['HTTP@web', 'HTTP@web']);
  });

  it('asksForNegotiate reads WWW-Authenticate', () => {
    expect(asksForNegotiate({ 'www-authenticate': 'Negotiate' })).toBe(true);
    expect(asksForNegotiate({ 'www-authenticate': ['Basic realm="x"', 'negotiate abc'] } as never)).toBe(
      true,
    );
    expect(asksForNegotiate({ 'www-authenticate': 'Basic realm="x"' })).toBe(false);
    expect(asksForNegotiate({})).toBe(false);
  });
});
