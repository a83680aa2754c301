import { describe, expect, it } from 'vitest';
import {
  algorithmsForKeyTypes,
  fingerprint,
  hostMatches,
  knownHostsName,
  knownKeyTypes,
  parseKnownHosts,
  verifyHostKey,
} from './known-hosts.js';

// Keys and fingerprints made with ssh-keygen (-lf printed the fingerprints, -H hashed the entry).
const K1 = 'AAAAC3NzaC1lZDI1NTE5AAAAIExvyWTDqNrHupOi2M/PUMSeo2w1U69xuNGHbFF4NkL7';
const K1_FP = 'SHA256:fYa5O6wu5c5Y2lTRcXbpV6Wx3B6dU12vKZYW8yHE2CM';
const K2 = 'AAAAC3NzaC1lZDI1NTE5AAAAIEr2ApGjBycNC1hwcPdCdAZVYXFFgVIpzmXy+9mvM6si';
const K3 =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOxhE0ctCO+ecVAW3TItyGtcKXFROrsWEsfaVpQNCKChRDqmouKH0f3ZZ5CCnKgtWWkVLlyoguELRxbQl+hXOpw=';
const K3_FP = 'SHA256:aevpa2ztPgB8C/+9H1vDwqAddNVUG6zO0rrZyHV0o7U';
const HASHED_K1_FOR_127_2222 = '|1|X8gG89sLY7eSRWqZsErMNHHR6c0=|tTqd47gU9ypBtYxWeiUgKmw1Gvw=';

const blob = (base64: string) => Buffer.from(base64, 'base64');

describe('fingerprint', () => {
  it('matches what ssh-keygen -lf prints', () => {
    expect(fingerprint(blob(K1))).toBe(K1_FP);
    expect(fingerprint(blob(K3))).toBe(K3_FP);
  });
});

describe('knownHostsName', () => {
  it('uses the bare host on port 22 and [host]:port elsewhere', () => {
    expect(knownHostsName('example.org', 22)).toBe('example.org');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
    expect(knownHostsName('[::1]', 2222)).toBe('[::1]:2222');
  });
});

describe('hostMatches', () => {
  it('matches plain, wildcard and comma-separated patterns, case-insensitively', () => {
    expect(hostMatches('example.org', ['example.org'])).toBe(true);
    expect(hostMatches('EXAMPLE.org', ['example.org'])).toBe(true);
    expect(hostMatches('other,*.example.org', ['a.example.org'])).toBe(true);
    expect(hostMatches('h?st', ['host'])).toBe(true);
    // `?` is exactly one character, as in OpenSSH.
    expect(hostMatches('h?st', ['hst'])).toBe(false);
    expect(hostMatches('db?', ['db'])).toBe(false);
    expect(hostMatches('example.org', ['example.org.evil'])).toBe(false);
    expect(hostMatches('[127.0.0.1]:2222', ['127.0.0.1'])).toBe(false);
    expect(hostMatches('[127.0.0.1]:2222', ['[127.0.0.1]:2222'])).toBe(true);
  });

  it('lets a negated pattern win', () => {
    expect(hostMatches('*.example.org,!bad.example.org', ['bad.example.org'])).toBe(false);
    expect(hostMatches('*.example.org,!bad.example.org', ['good.example.org'])).toBe(true);
  });

  it('matches hashed names (ssh-keygen -H) only for the exact host and port', () => {
    expect(hostMatches(HASHED_K1_FOR_127_2222, ['[127.0.0.1]:2222'])).toBe(true);
    expect(hostMatches(HASHED_K1_FOR_127_2222, ['[127.0.0.1]:2223'])).toBe(false);
    expect(hostMatches(HASHED_K1_FOR_127_2222, ['127.0.0.1'])).toBe(false);
  });
});

describe('parseKnownHosts', () => {
  it('skips comments, blank, malformed and unknown-marker lines and records where each entry came from', () => {
    const entries = parseKnownHosts(
      [
        '# comment',
        '',
        `host1 ssh-ed25519 ${K1} comment here`,
        'host2 ssh-ed25519',
        `host3 ssh-rsa ${K1}`,
        `@weird host4 ssh-ed25519 ${K1}`,
        `@revoked * ssh-ed25519 ${K2}`,
        `@cert-authority *.example.org ssh-ed25519 ${K2}`,
      ].join('\n'),
      '/tmp/kh',
    );
    expect(entries.map((e) => [e.hosts, e.marker, e.source])).toEqual([
      ['host1', undefined, '/tmp/kh:3'],
      ['*', 'revoked', '/tmp/kh:7'],
      ['*.example.org', 'cert-authority', '/tmp/kh:8'],
    ]);
  });
});

describe('verifyHostKey', () => {
  const entries = parseKnownHosts(
    [
      `${HASHED_K1_FOR_127_2222} ssh-ed25519 ${K1}`,
      `old.example.org ssh-ed25519 ${K2}`,
      `ecdsa-only.example.org ecdsa-sha2-nistp256 ${K3}`,
    ].join('\n'),
    'kh',
  );

  it('trusts a key known_hosts holds for the host, hashed entries included', () => {
    expect(verifyHostKey(entries, ['[127.0.0.1]:2222'], blob(K1))).toEqual({
      status: 'trusted',
      source: 'kh:1',
    });
  });

  it('reports a changed key when the host has a different key of the same type', () => {
    const verdict = verifyHostKey(entries, ['old.example.org'], blob(K1));
    expect(verdict).toEqual({ status: 'changed', sources: ['kh:2'] });
  });

  it('reports an unknown host, and a key of a type known_hosts has no entry of as unknown too', () => {
    expect(verifyHostKey(entries, ['new.example.org'], blob(K1))).toEqual({ status: 'unknown' });
    expect(verifyHostKey(entries, ['ecdsa-only.example.org'], blob(K1))).toEqual({ status: 'unknown' });
  });

  it('refuses a revoked key even when another line trusts it', () => {
    const withRevoked = [...entries, ...parseKnownHosts(`@revoked * ssh-ed25519 ${K1}`, 'revoked')];
    expect(verifyHostKey(withRevoked, ['[127.0.0.1]:2222'], blob(K1))).toEqual({
      status: 'revoked',
      source: 'revoked:1',
    });
  });

  it('names the key types known for a host so key exchange can prefer them', () => {
    expect(knownKeyTypes(entries, ['ecdsa-only.example.org'])).toEqual(['ecdsa-sha2-nistp256']);
    expect(algorithmsForKeyTypes(['ssh-rsa', 'ssh-ed25519'])).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ]);
  });
});
