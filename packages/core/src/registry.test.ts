import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
import { ArtifactsError } from './errors.js';
import { openRepository } from './open.js';
import { FIRST_PARTY_BACKENDS, registerBackend, registeredSchemes, resolveBackend } from './registry.js';

const REGISTRY = Symbol.for('@artifacts/core/registry');

afterEach(() => {
  delete process.env.ARTIFACTS_PLUGINS;
  (globalThis as unknown as Record<symbol, { pluginsLoaded?: unknown }>)[REGISTRY]!.pluginsLoaded = undefined;
});

async function rejection(promise: Promise<unknown>): Promise<ArtifactsError> {
  try {
    await promise;
  } catch (error) {
    if (ArtifactsError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('registry', () => {
  it('opens a repository with a registered backend and passes options and the parsed location', async () => {
    const driver = new MemoryDriver();
    let seen: unknown;
    registerBackend({
      name: 'mem-test',
      schemes: ['memtest'],
      open(location, options) {
        seen = { location, options };
        return driver;
      },
    });
    const repo = await openRepository('memtest://user:topsecret@host/root', {
      flavour: 'x',
      maxConcurrency: 2,
    });
    expect(repo.uri).toBe('memtest://user:***@host/root');
    expect(seen).toMatchObject({
      location: { scheme: 'memtest', host: 'host', password: 'topsecret' },
      options: { flavour: 'x' },
    });
    expect((seen as { options: Record<string, unknown> }).options.maxConcurrency).toBeUndefined();
    await repo.write('a.txt', 'hi');
    expect(driver.objects.get('a.txt')?.toString()).toBe('hi');
    expect(registeredSchemes()).toContain('memtest');
  });

  it('lets a later registration override an earlier one', async () => {
    registerBackend({ name: 'first', schemes: ['over'], open: () => new MemoryDriver() });
    registerBackend({ name: 'second', schemes: ['over'], open: () => new MemoryDriver() });
    expect((await resolveBackend('over')).name).toBe('second');
  });

  it('names the registered schemes for an unknown scheme', async () => {
    registerBackend({ name: 'mem-test', schemes: ['memtest'], open: () => new MemoryDriver() });
    const error = await rejection(openRepository('nosuch://bucket/x'));
    expect(error.code).toBe('unsupported');
    expect(error.message).toContain('no backend for URI scheme "nosuch"');
    expect(error.message).toContain('memtest');
    expect(error.message).toContain('ARTIFACTS_PLUGINS');
  });

  it('names the package to install for a first-party scheme that is not installed', async () => {
    // A well-known scheme whose package is surely absent (the workspace may hoist the real ones).
    (FIRST_PARTY_BACKENDS as Record<string, string>).nopkg = '@artifacts/not-installed-backend';
    try {
      const error = await rejection(openRepository('nopkg://host/x'));
      expect(error.code).toBe('unsupported');
      expect(error.message).toContain('install @artifacts/not-installed-backend');
    } finally {
      delete (FIRST_PARTY_BACKENDS as Record<string, string>).nopkg;
    }
  });

  it('imports the packages listed in ARTIFACTS_PLUGINS', async () => {
    process.env.ARTIFACTS_PLUGINS = fileURLToPath(
      new URL('../test/fixtures/demo-plugin.mjs', import.meta.url),
    );
    expect((await resolveBackend('demo')).name).toBe('demo-plugin');
    const error = await rejection(openRepository('demo://h/x'));
    expect(error.message).toContain('demo backend opened');
  });

  it('explains an ARTIFACTS_PLUGINS entry that cannot be imported', async () => {
    process.env.ARTIFACTS_PLUGINS = 'artifacts-plugin-that-does-not-exist';
    const error = await rejection(resolveBackend('s3'));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('ARTIFACTS_PLUGINS lists "artifacts-plugin-that-does-not-exist"');
  });

  it('refuses malformed plugins', () => {
    expect(() => registerBackend({ name: 'bad', schemes: [], open: () => new MemoryDriver() })).toThrow(
      /non-empty schemes/,
    );
    expect(() =>
      registerBackend({ name: 'bad', schemes: ['Bad Scheme'], open: () => new MemoryDriver() }),
    ).toThrow(/lower-case/);
  });

  it('keeps secrets out of errors thrown while opening', async () => {
    registerBackend({
      name: 'leaky',
      schemes: ['leaky'],
      open(location) {
        throw new Error(`login failed with password ${location.password}`);
      },
    });
    const error = await rejection(openRepository('leaky://u:s3cr3t-pass@h/x'));
    expect(error.message).not.toContain('s3cr3t-pass');
    expect(error.message).toContain('leaky://u:***@h/x');
  });

  it('validates repository options', async () => {
    registerBackend({ name: 'mem-test', schemes: ['memtest'], open: () => new MemoryDriver() });
    expect((await rejection(openRepository('memtest://h/x', { maxConcurrency: 0 }))).message).toContain(
      'maxConcurrency',
    );
    process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT = 'soon';
    try {
      expect((await rejection(openRepository('memtest://h/x'))).message).toContain(
        'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT',
      );
    } finally {
      delete process.env.MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT;
    }
  });
});
