import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { ArtifactsError } from './errors.js';
import { closestName, connectionPoolSettings, defineSettings, type OptionsOf } from './settings.js';

const settings = defineSettings('@artifacts/example', {
  blockSize: { type: 'integer', help: 'bytes per block', default: 4, min: 1, max: 64 },
  accountKey: { type: 'string', help: 'the key', env: 'EXAMPLE_KEY', secret: true },
  verify: { type: 'boolean', help: 'verify TLS', env: 'EXAMPLE_VERIFY', default: true },
});

afterEach(() => {
  delete process.env.EXAMPLE_KEY;
  delete process.env.EXAMPLE_VERIFY;
});

function failure(fn: () => unknown): ArtifactsError {
  try {
    fn();
  } catch (error) {
    if (ArtifactsError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a failure');
}

describe('defineSettings', () => {
  it('gives options, then variables, then defaults, typed', () => {
    process.env.EXAMPLE_VERIFY = 'false';
    process.env.EXAMPLE_KEY = 'from-env-secret';
    const { values, sources, secrets } = settings.resolve({ blockSize: 8 });
    expect(values).toEqual({ blockSize: 8, accountKey: 'from-env-secret', verify: false });
    expect(sources).toEqual({ blockSize: 'option', accountKey: 'EXAMPLE_KEY', verify: 'EXAMPLE_VERIFY' });
    expect(secrets).toEqual(['from-env-secret']);
    delete process.env.EXAMPLE_KEY;
    delete process.env.EXAMPLE_VERIFY;
    expect(settings.resolve({}).values).toEqual({ blockSize: 4, verify: true });
  });

  it('refuses an unknown key with the closest name', () => {
    const error = failure(() => settings.resolve({ blocksize: 8 }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('did you mean "blockSize"?');
    expect(failure(() => settings.resolve({ zzzzzzzzzz: 1 })).message).not.toContain('did you mean');
  });

  it('refuses wrong types and bounds, naming the option or variable, never a secret value', () => {
    expect(failure(() => settings.resolve({ blockSize: 65 })).message).toBe(
      'option blockSize must be an integer between 1 and 64, got 65',
    );
    expect(failure(() => settings.resolve({ accountKey: 42 })).message).not.toContain('42');
    process.env.EXAMPLE_VERIFY = 'maybe';
    expect(failure(() => settings.resolve({})).message).toContain('EXAMPLE_VERIFY');
  });

  it('renders the README table from the declaration', () => {
    expect(settings.markdownTable()).toBe(
      [
        '| option | default | environment variable | meaning |',
        '| --- | --- | --- | --- |',
        '| `blockSize` | `4` | — | bytes per block |',
        '| `accountKey` | — | `EXAMPLE_KEY` | the key (secret) |',
        '| `verify` | `true` | `EXAMPLE_VERIFY` | verify TLS |',
      ].join('\n'),
    );
  });

  it('finds typos, not unrelated names', () => {
    expect(closestName('endpointURL', ['endpointUrl', 'region'])).toBe('endpointUrl');
    expect(closestName('colour', ['region', 'bucket'])).toBeUndefined();
    expect(closestName('endpoint', ['region', 'endpointUrl'])).toBe('endpointUrl');
    expect(closestName('end', ['region', 'endpointUrl'])).toBeUndefined();
  });

  it('takes enums case-insensitively, lists from commas, and custom parsers', () => {
    const extra = defineSettings('@artifacts/example', {
      style: {
        type: 'enum',
        values: ['auto', 'path'] as const,
        ignoreCase: true,
        env: 'EXAMPLE_STYLE',
        help: 's',
      },
      hosts: { type: 'list', env: 'EXAMPLE_HOSTS', help: 'h' },
      chunk: { type: 'integer', min: 4, multipleOf: 4, help: 'c' },
      mode: {
        type: 'custom',
        parse: (value: unknown, from: string) => {
          if (value === true || value === 'fallback') return value;
          throw ArtifactsError.invalidArgument(`${from} must be true or 'fallback'`);
        },
        help: 'm',
      },
    });
    process.env.EXAMPLE_STYLE = 'PATH';
    process.env.EXAMPLE_HOSTS = ' a, b ,,c ';
    try {
      expect(extra.resolve({ chunk: 8, mode: 'fallback' }).values).toEqual({
        style: 'path',
        hosts: ['a', 'b', 'c'],
        chunk: 8,
        mode: 'fallback',
      });
      expect(failure(() => extra.resolve({ chunk: 6 })).message).toBe(
        'option chunk must be an integer >= 4, a multiple of 4, got 6',
      );
      expect(failure(() => extra.resolve({ mode: 1 })).message).toBe(
        "option mode must be true or 'fallback'",
      );
      process.env.EXAMPLE_STYLE = 'sideways';
      expect(failure(() => extra.resolve({})).message).toContain(
        'environment variable EXAMPLE_STYLE must be one of auto, path',
      );
    } finally {
      delete process.env.EXAMPLE_STYLE;
      delete process.env.EXAMPLE_HOSTS;
    }
  });

  it('puts URI values between the option and the variable, and run-time defaults after it', () => {
    process.env.EXAMPLE_KEY = 'from-env';
    const fromUri = settings.resolve({}, { uri: { accountKey: 'from-uri' } });
    expect(fromUri.values.accountKey).toBe('from-uri');
    expect(fromUri.sources.accountKey).toBe('uri');
    expect(fromUri.secrets).toEqual(['from-uri']);
    expect(
      settings.resolve({ accountKey: 'opt' }, { uri: { accountKey: 'from-uri' } }).values.accountKey,
    ).toBe('opt');
    expect(settings.resolve({}, { defaults: { blockSize: 16 } }).values.blockSize).toBe(16);
    // Checked like an option: a run-time default (a config file's) out of bounds, or of the wrong
    // type, is refused naming the setting and where it came from, never used as it is.
    const outOfBounds = failure(() =>
      settings.resolve({}, { defaults: { blockSize: 0 }, defaultsFrom: 'ssh config' }),
    );
    expect(outOfBounds.code).toBe('invalid_argument');
    expect(outOfBounds.message).toBe('blockSize (ssh config) must be an integer between 1 and 64, got 0');
    expect(failure(() => settings.resolve({}, { defaults: { verify: 'no' as never } })).message).toBe(
      'verify (a run-time default) must be a boolean, got "no"',
    );
    expect(failure(() => settings.resolve({}, { uri: { blockSize: 1.5 } })).message).toBe(
      'blockSize (from the URI) must be an integer between 1 and 64, got 1.5',
    );
    // A secret's value stays hidden in the refusal.
    expect(failure(() => settings.resolve({}, { uri: { accountKey: 7 as never } })).message).toBe(
      'accountKey (from the URI) must be a string, got a value (hidden)',
    );
    expect(settings.resolve({}, { env: { EXAMPLE_VERIFY: 'no' } }).values).toEqual({
      blockSize: 4,
      verify: false,
    });
  });
});

describe('endpoints, files, alternatives and secrets declared', () => {
  const dir = mkdtempSync(join(tmpdir(), 'settings-test-'));
  const ca = join(dir, 'ca.pem');
  writeFileSync(ca, 'PEM text');
  const missing = join(dir, 'missing.pem');
  const store = defineSettings(
    '@artifacts/example',
    {
      endpoint: {
        type: 'url',
        env: 'EX_ENDPOINT',
        bareHost: { env: 'http' },
        credentialsHint: 'pass the key option',
        help: 'e',
      },
      ignoreTls: { type: 'boolean', env: 'EX_IGNORE_TLS', default: false, help: 'i' },
      caFile: { type: 'string', env: 'EX_CA_FILE', file: 'CA file', help: 'c' },
      connectionString: { type: 'string', env: 'EX_CONNECTION', secret: true, help: 'cs' },
      key: { type: 'string', env: 'EX_KEY', secret: true, help: 'k' },
      login: {
        type: 'object',
        parse: (value: unknown) => value as { user: string; password: string },
        secretsOf: (value: { user: string; password: string }) => [value.password],
        help: 'l',
      },
    },
    {
      alternatives: [
        { names: ['ignoreTls', 'caFile'] },
        { names: ['connectionString', 'key'], sameLevel: 'first' },
      ],
      secretEnv: ['EX_SDK_SECRET'],
    },
  );
  const env = (vars: Record<string, string>) => ({ env: vars });

  it('checks an endpoint: http(s) only, no credentials or query, a bare host:port only where declared', () => {
    expect(store.resolve({ endpoint: 'https://h:9000/' }, env({})).values.endpoint).toBe('https://h:9000');
    expect(store.resolve({}, env({ EX_ENDPOINT: 'h:9000' })).values.endpoint).toBe('http://h:9000');
    expect(failure(() => store.resolve({ endpoint: 'h:9000' }, env({}))).message).toMatch(
      /option endpoint "h:9000" is not a URL|option endpoint must be an http\(s\) URL/,
    );
    const withKey = failure(() => store.resolve({ endpoint: 'https://u:p@h' }, env({})));
    expect(withKey.message).toBe(
      'option endpoint must not carry a query string or credentials; pass the key option',
    );
    expect(failure(() => store.resolve({ endpoint: 42 }, env({}))).message).toBe(
      'option endpoint must be a URL, got 42',
    );
  });

  it("reads a file setting's text once resolved, naming the option or variable and the path when it cannot", () => {
    expect(store.resolve({ caFile: ca }, env({})).values.caFile).toBe('PEM text');
    const fromEnv = failure(() => store.resolve({}, env({ EX_CA_FILE: missing })));
    expect(fromEnv.code).toBe('invalid_argument');
    expect(fromEnv.message).toContain('CA file (environment variable EX_CA_FILE)');
    expect(fromEnv.message).toContain(missing);
    expect(failure(() => store.resolve({ caFile: missing }, env({}))).message).toContain(
      'CA file (option caFile)',
    );
  });

  it('refuses alternatives set together at one level, naming both; an option beats a variable', () => {
    expect(failure(() => store.resolve({ ignoreTls: true, caFile: ca }, env({}))).message).toBe(
      'options ignoreTls and caFile exclude each other: set only one',
    );
    expect(failure(() => store.resolve({}, env({ EX_IGNORE_TLS: 'true', EX_CA_FILE: ca }))).message).toBe(
      'EX_IGNORE_TLS and EX_CA_FILE are both set: they exclude each other, set only one',
    );
    // The variable overridden is dropped, so the missing file it names is never read.
    const ignore = store.resolve({ ignoreTls: true }, env({ EX_CA_FILE: missing }));
    expect(ignore.values).toMatchObject({ ignoreTls: true });
    expect(ignore.values.caFile).toBeUndefined();
    expect(ignore.sources.caFile).toBeUndefined();
    // A dropped setting with a default falls back to it; false counts as not set.
    const trusted = store.resolve({ caFile: ca }, env({ EX_IGNORE_TLS: 'true' }));
    expect(trusted.values).toMatchObject({ ignoreTls: false, caFile: 'PEM text' });
    expect(trusted.sources.ignoreTls).toBe('default');
    expect(store.resolve({ ignoreTls: false, caFile: ca }, env({})).values.caFile).toBe('PEM text');
  });

  it("with sameLevel 'first', the first named wins at the highest level set", () => {
    const both = store.resolve({ connectionString: 'cs-opt', key: 'key-opt' }, env({}));
    expect(both.values).toMatchObject({ connectionString: 'cs-opt' });
    expect(both.values.key).toBeUndefined();
    const keyInCode = store.resolve({ key: 'key-opt' }, env({ EX_CONNECTION: 'cs-env' }));
    expect(keyInCode.values.key).toBe('key-opt');
    expect(keyInCode.values.connectionString).toBeUndefined();
  });

  it('lists every secret: declared ones (even overridden), parts of structured values, SDK variables', () => {
    const { secrets } = store.resolve(
      { key: 'key-opt', login: { user: 'u', password: 'pw-in-object' } },
      env({ EX_CONNECTION: 'cs-env', EX_SDK_SECRET: 'sdk-secret' }),
    );
    expect(secrets.sort()).toEqual(['cs-env', 'key-opt', 'pw-in-object', 'sdk-secret']);
  });

  it('lists a secret given as bytes (a private key read by the caller) as its text', () => {
    const keyed = defineSettings('@artifacts/bytes', {
      privateKey: {
        type: 'custom',
        secret: true,
        parse: (v: unknown) => v as string | Uint8Array,
        help: 'key',
      },
    });
    const pem =
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n';
    expect(keyed.resolve({ privateKey: new TextEncoder().encode(pem) }, env({})).secrets).toEqual([pem]);
    expect(keyed.resolve({ privateKey: new Uint8Array(0) }, env({})).secrets).toEqual([]);
  });

  it('never prints the value of a setting holding secrets', () => {
    expect(failure(() => store.resolve({ login: 'hunter2-password' }, env({}))).message).toBe(
      'option login must be an object, got a value (hidden)',
    );
    expect(failure(() => store.resolve({ key: 12345 }, env({}))).message).toBe(
      'option key must be a string, got a value (hidden)',
    );
  });
});

describe('OptionsOf', () => {
  it('derives the public options type from the declaration: all optional, lists also as one string', () => {
    const declared = defineSettings('@artifacts/typed', {
      url: { type: 'list', help: 'endpoints' },
      size: { type: 'integer', default: 1, help: 'size' },
      mode: { type: 'enum', values: ['a', 'b'] as const, help: 'mode' },
      dir: { type: 'custom', parse: (v: unknown): string | false => v as string | false, help: 'dir' },
    });
    type Options = OptionsOf<typeof declared.specs>;
    expectTypeOf<Options>().toEqualTypeOf<{
      url?: string | readonly string[];
      size?: number;
      mode?: 'a' | 'b';
      dir?: string | false;
    }>();
    const options: Options = { url: 'http://a,http://b', mode: 'b' };
    expect(declared.resolve(options).values).toMatchObject({
      url: ['http://a', 'http://b'],
      size: 1,
      mode: 'b',
    });
  });
});

describe('OptionsOf of custom settings', () => {
  const declared = defineSettings('@artifacts/typed', {
    name: { type: 'string', help: 'a name' },
    size: { type: 'integer', default: 4, help: 'a size' },
    mode: { type: 'enum', values: ['a', 'b'] as const, help: 'a mode' },
    parsed: { type: 'custom', parse: (value: unknown): boolean | 'auto' => value as boolean, help: 'custom' },
  });
  type Options = OptionsOf<typeof declared.specs>;

  it('derives the public options type from the declaration: every setting optional, typed as it parses', () => {
    expectTypeOf<Options>().toEqualTypeOf<{
      name?: string;
      size?: number;
      mode?: 'a' | 'b';
      parsed?: boolean | 'auto';
    }>();
    const options: Options = { size: 8, mode: 'b', parsed: 'auto' };
    expect(declared.resolve(options).values).toEqual({ size: 8, mode: 'b', parsed: 'auto' });
  });
});

describe('connectionPoolSettings', () => {
  const pooled = defineSettings('@artifacts/example', {
    ...connectionPoolSettings('EXAMPLE', { connections: 'control connections', note: 'One transfer each' }),
  });

  it('declares maxConnections and idleTimeoutMs once, with the backend’s variables, defaults and bounds', () => {
    expect(pooled.resolve({}, { env: {} }).values).toEqual({ maxConnections: 4, idleTimeoutMs: 60000 });
    const fromEnv = pooled.resolve(
      {},
      { env: { EXAMPLE_MAX_CONNECTIONS: '2', EXAMPLE_IDLE_TIMEOUT_MS: '0' } },
    );
    expect(fromEnv.values).toEqual({ maxConnections: 2, idleTimeoutMs: 0 });
    expect(() => pooled.resolve({ maxConnections: 0 }, { env: {} })).toThrow(/maxConnections/);
    expect(() => pooled.resolve({}, { env: { EXAMPLE_IDLE_TIMEOUT_MS: '-1' } })).toThrow(
      /EXAMPLE_IDLE_TIMEOUT_MS/,
    );
    expectTypeOf<OptionsOf<typeof pooled.specs>>().toEqualTypeOf<{
      maxConnections?: number;
      idleTimeoutMs?: number;
    }>();
  });

  it('says in the README table what one connection is and what else the bound means', () => {
    expect(pooled.markdownTable()).toContain(
      '| `maxConnections` | `4` | `EXAMPLE_MAX_CONNECTIONS` | control connections open at once, at most; opened one at a time, only when needed. One transfer each |',
    );
  });
});
