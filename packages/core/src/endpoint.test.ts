import { describe, expect, it } from 'vitest';
import { checkEndpoint } from './endpoint.js';

describe('checkEndpoint', () => {
  it('keeps an http(s) URL without its trailing slashes', () => {
    expect(checkEndpoint('http://127.0.0.1:10000/acct/', 'option endpoint')).toBe(
      'http://127.0.0.1:10000/acct',
    );
    expect(checkEndpoint('https://x.example', 'option endpoint')).toBe('https://x.example');
  });

  it('gives a bare host:port the scheme asked, and refuses one when none is', () => {
    expect(checkEndpoint('localhost:4443', 'environment variable X', { bareHost: 'http' })).toBe(
      'http://localhost:4443',
    );
    expect(() => checkEndpoint('localhost:4443', 'option endpoint')).toThrow(/must be an http\(s\) URL/);
    expect(() => checkEndpoint('::', 'option endpoint', { bareHost: 'https' })).toThrow(
      'option endpoint "::" is not a URL or host:port',
    );
  });

  it('refuses other schemes, a query string and credentials, with the hint and no secret echoed', () => {
    expect(() => checkEndpoint('ftp://host', 'option endpoint')).toThrow(/got "ftp:"/);
    for (const bad of ['https://a.example/?sig=SECRET', 'https://user:SECRET@a.example'])
      expect(() => checkEndpoint(bad, 'option endpoint', { credentialsHint: 'use accountKey' })).toThrow(
        expect.objectContaining({
          code: 'invalid_argument',
          message: 'option endpoint must not carry a query string or credentials; use accountKey',
        }),
      );
  });
});
