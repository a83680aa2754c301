import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
import { ArtifactsError } from './errors.js';
import { openRepository } from './open.js';
import {
  esmEntry,
  FIRST_PARTY_BACKENDS,
  importOptional,
  isModuleNotFound,
  RESOLVE_FROM_CWD_ENV,
  registerBackend,
  registeredSchemes,
  resolveBackend,
} from './registry.js';

const REGISTRY = Symbol.for('@artifacts/core/registry');

afterEach(() => {
  delete process.env.ARTIFACTS_PLUGINS;
  delete process.env[RESOLVE_FROM_CWD_ENV];
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
      // For an application, and for the globally installed command.
      expect(error.message).toContain(
        "npm install @artifacts/not-installed-backend, then import '@artifacts/not-installed-backend'",
      );
      expect(error.message).toContain('npm install --global @artifacts/not-installed-backend');
      expect(error.message).toContain(`${RESOLVE_FROM_CWD_ENV}=1`);
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

  it('tells a package that is not installed from one that fails to load', async () => {
    const missing = await import('@artifacts/no-such-package' as string).catch((e: unknown) => e);
    expect(isModuleNotFound(missing, '@artifacts/no-such-package')).toBe(true);
    expect(isModuleNotFound(missing, '@artifacts/other')).toBe(false);
    const broken = Object.assign(new SyntaxError('Unexpected token in @artifacts/x'), { code: undefined });
    expect(isModuleNotFound(broken, '@artifacts/x')).toBe(false);
    // Installed, its native part not built: a file of the package is missing, not the package.
    const unbuilt = Object.assign(
      new Error(
        "Cannot find module '../build/Release/kerberos.node'\nRequire stack:\n- /n/node_modules/kerberos/lib/index.js",
      ),
      { code: 'MODULE_NOT_FOUND' },
    );
    expect(isModuleNotFound(unbuilt, 'kerberos')).toBe(false);
    const notExported = Object.assign(
      new Error('No "exports" main defined in /n/node_modules/kerberos/package.json'),
      {
        code: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      },
    );
    expect(isModuleNotFound(notExported, 'kerberos')).toBe(true);
  });

  it('imports an optional package, or says why it is needed and how to install it', async () => {
    const present = await importOptional(() => import('node:path'), 'node:path', 'unused');
    expect(present.join('a', 'b')).toBe('a/b');
    const why = 'Kerberos is requested (MLFLOW_KERBEROS_TICKET_CACHE is set)';
    const missing = await rejection(
      importOptional(() => import('@artifacts/no-such-package' as string), '@artifacts/no-such-package', why),
    );
    expect(missing.code).toBe('unsupported');
    expect(missing.message).toBe(
      `${why}: the optional package @artifacts/no-such-package is not installed (npm install @artifacts/no-such-package)`,
    );
    const coded = await rejection(
      importOptional(
        () => import('@artifacts/no-such-package' as string),
        '@artifacts/no-such-package',
        why,
        'failed_precondition',
      ),
    );
    expect(coded.code).toBe('failed_precondition');
    // A package that is there but fails to load is not disguised as a missing one.
    const broken = new SyntaxError('Unexpected token');
    await expect(importOptional(() => Promise.reject(broken), 'x', why)).rejects.toBe(broken);
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

  it('lazy-loads s3n like s3 and s3a, and knows no scheme nobody serves', () => {
    expect(FIRST_PARTY_BACKENDS.s3n).toBe('@artifacts/s3');
    expect(FIRST_PARTY_BACKENDS.abfss).toBeUndefined();
  });
});

/**
 * A project directory whose node_modules holds `name`, a plugin with an ESM and a CJS build that
 * register different plugin names, so a test can tell which build was loaded.
 */
function projectWithPlugin(name: string, scheme: string): string {
  const project = mkdtempSync(join(tmpdir(), 'artifacts-registry-'));
  const dir = join(project, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name,
      exports: { '.': { import: './index.mjs', require: './index.cjs' }, './package.json': './package.json' },
    }),
  );
  const register = (build: string) =>
    `globalThis[Symbol.for('@artifacts/core/registry')].plugins.set(${JSON.stringify(scheme)}, { name: '${name} (${build})', schemes: [${JSON.stringify(scheme)}], open() { throw new Error('not for use'); } });\n`;
  writeFileSync(join(dir, 'index.mjs'), register('esm'));
  writeFileSync(join(dir, 'index.cjs'), register('cjs'));
  return project;
}

describe('where lazily loaded packages come from', () => {
  const cwd = process.cwd();
  let project: string | undefined;
  afterEach(() => {
    process.chdir(cwd);
    if (project) rmSync(project, { recursive: true, force: true });
    project = undefined;
  });

  it("never imports the working directory's node_modules unless asked", async () => {
    project = projectWithPlugin('artifacts-cwd-plugin', 'cwdplugin');
    process.chdir(project);
    process.env.ARTIFACTS_PLUGINS = 'artifacts-cwd-plugin';
    const error = await rejection(resolveBackend('cwdplugin'));
    expect(error.message).toContain('ARTIFACTS_PLUGINS lists "artifacts-cwd-plugin"');
    expect(registeredSchemes()).not.toContain('cwdplugin');
  });

  it(`imports the ESM build from the working directory with ${RESOLVE_FROM_CWD_ENV}=1`, async () => {
    project = projectWithPlugin('artifacts-cwd-plugin-2', 'cwdplugintwo');
    process.chdir(project);
    process.env.ARTIFACTS_PLUGINS = 'artifacts-cwd-plugin-2';
    process.env[RESOLVE_FROM_CWD_ENV] = '1';
    expect((await resolveBackend('cwdplugintwo')).name).toBe('artifacts-cwd-plugin-2 (esm)');
  });

  it('finds the import entry of the nearest package the way import() does', () => {
    project = projectWithPlugin('some-plugin', 'someplugin');
    const nested = join(project, 'a', 'b');
    mkdirSync(nested, { recursive: true });
    expect(esmEntry('some-plugin', nested)).toBe(join(project, 'node_modules', 'some-plugin', 'index.mjs'));
    expect(esmEntry('not-there-at-all', nested)).toBeUndefined();
    const plain = join(project, 'node_modules', 'plain');
    mkdirSync(plain);
    writeFileSync(join(plain, 'package.json'), JSON.stringify({ name: 'plain', main: 'lib/main.js' }));
    expect(esmEntry('plain', project)).toBe(join(plain, 'lib', 'main.js'));
    const sugar = join(project, 'node_modules', 'sugar');
    mkdirSync(sugar);
    writeFileSync(
      join(sugar, 'package.json'),
      JSON.stringify({ name: 'sugar', exports: { node: { import: './n.mjs', require: './n.cjs' } } }),
    );
    expect(esmEntry('sugar', project)).toBe(join(sugar, 'n.mjs'));
  });
});
