import { describe, expect, it } from 'vitest';
import { credentialsSetting, objectSetting } from './object-setting.js';
import { defineSettings } from './settings.js';

const headers = objectSetting({
  backend: '@artifacts/x',
  noun: 'header',
  members: { Name: 'string', Flag: 'boolean', When: 'date', Meta: 'map', Kind: ['ONE', 'TWO'] },
  example: '{"Name": "a"}',
});

describe('objectSetting', () => {
  it('parses JSON text and objects into typed members', () => {
    expect(
      headers.parse(
        '{"Name": "a", "Flag": true, "When": "2030-01-01T00:00:00Z", "Meta": {"k": "v"}, "Kind": "two"}',
        'X',
      ),
    ).toEqual({
      Name: 'a',
      Flag: true,
      When: new Date('2030-01-01T00:00:00Z'),
      Meta: { k: 'v' },
      Kind: 'TWO',
    });
    expect(headers.parse({ When: 0 }, 'X')).toEqual({ When: new Date(0) });
  });

  it('refuses bad JSON, non-objects, unknown members and wrong types, naming the source, never the value', () => {
    const fails = (value: Record<string, unknown> | string, message: RegExp) => {
      let caught: unknown;
      try {
        headers.parse(value, 'environment variable X_ARGS');
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(message) });
      expect((caught as Error).message).toMatch(/^@artifacts\/x: environment variable X_ARGS: /);
      expect((caught as Error).message).not.toContain('s3cr3t');
    };
    fails('{s3cr3t', /is not valid JSON .*expected an object such as \{"Name": "a"\}/);
    fails('["s3cr3t"]', /must be a JSON object of headers/);
    fails(
      { Nope: 's3cr3t', Other: 1, Name: 'a' },
      /unknown header\(s\) Nope, Other; allowed: Flag, Kind, Meta, Name, When$/,
    );
    fails({ Name: 7 }, /Name must be a string/);
    fails({ Flag: 's3cr3t' }, /Flag must be true or false/);
    fails({ When: 's3cr3t' }, /When must be a date/);
    fails({ Meta: { k: 1 } }, /Meta must be an object of string values/);
    fails({ Meta: ['s3cr3t'] }, /Meta must be an object of string values/);
    fails({ Kind: 's3cr3t' }, /Kind must be one of ONE, TWO/);
  });

  it('is a setting of a declaration: the variable read, the option checked', () => {
    const settings = defineSettings('@artifacts/x', { args: { ...headers, env: 'X_ARGS', help: 'h' } });
    expect(settings.resolve({}, { env: { X_ARGS: '{"Kind": "one"}' } }).values.args).toEqual({ Kind: 'ONE' });
    expect(() => settings.resolve({ args: { Bad: 1 } })).toThrow(/option args: unknown header\(s\) Bad/);
  });
});

describe('credentialsSetting', () => {
  interface Keys {
    id: string;
    key: string;
    token?: string;
  }
  const settings = defineSettings('@artifacts/x', {
    credentials: {
      ...credentialsSetting<Keys>({
        backend: '@artifacts/x',
        required: ['id', 'key'],
        optional: ['token'],
        secret: ['key', 'token'],
      }),
      help: 'h',
    },
  });

  it('takes an object with the required strings, its secret members listed for scrubbing, or a provider', () => {
    const resolved = settings.resolve({ credentials: { id: 'AK', key: 'k3y', token: 't0k' } });
    expect(resolved.values.credentials).toEqual({ id: 'AK', key: 'k3y', token: 't0k' });
    expect(resolved.secrets).toEqual(['k3y', 't0k']);
    const provider = async () => ({ id: 'AK', key: 'k3y' });
    expect(settings.resolve({ credentials: provider }).values.credentials).toBe(provider);
    expect(settings.resolve({ credentials: provider }).secrets).toEqual([]);
  });

  it('refuses a missing or empty required member, or another type, never echoing a value', () => {
    for (const credentials of [{ id: 'AK', key: '' }, { id: 'AK' }, { id: 7, key: 'k3y' }, 'k3y', null]) {
      let caught: unknown;
      try {
        settings.resolve({ credentials });
      } catch (error) {
        caught = error;
      }
      expect(caught).toMatchObject({
        code: 'invalid_argument',
        message:
          '@artifacts/x: option credentials must be { id, key, token? } with non-empty strings, or a provider function',
      });
    }
  });

  it('without provider functions, with methods, with required members for some objects only', () => {
    const token = credentialsSetting<{ getToken: () => Promise<string> }>({
      backend: '@artifacts/y',
      required: [],
      secret: [],
      methods: ['getToken'],
      provider: false,
    });
    const credential = { getToken: async () => 't' };
    expect(token.parse(credential, 'option credential')).toBe(credential);
    for (const bad of [async () => credential, { getToken: 's3cr3t' }, {}, ['s3cr3t'], 's3cr3t']) {
      expect(() => token.parse(bad as never, 'option credential')).toThrow(
        /^@artifacts\/y: option credential must be \{ getToken\(\) \}$/,
      );
    }
    const key = credentialsSetting<{ type?: string; client_email: string; private_key: string }>({
      backend: '@artifacts/z',
      required: ['client_email', 'private_key'],
      secret: ['private_key'],
      provider: false,
      requiredOf: (value) => value.type === undefined || value.type === 'service_account',
      shape: 'a key',
    });
    const full = { client_email: 'a@b', private_key: 'pr1v' };
    expect(key.parse(full, 'option credentials')).toBe(full);
    expect(key.secretsOf(full)).toEqual(['pr1v']);
    const other = { type: 'authorized_user', refresh_token: 'r' } as never;
    expect(key.parse(other, 'option credentials')).toBe(other);
    for (const bad of [{ private_key: 'pr1v' }, { type: 'service_account', client_email: 'a@b' }]) {
      expect(() => key.parse(bad as never, 'option credentials')).toThrow(
        /^@artifacts\/z: option credentials must be a key$/,
      );
    }
  });
});
