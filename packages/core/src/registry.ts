import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BackendPlugin } from './driver.js';
import { ArtifactsError, type ArtifactsErrorCode } from './errors.js';

/**
 * The first-party package serving each well-known scheme, imported on first use. It must equal the
 * union of the first-party plugins' own `schemes` (scripts/check-packages.mjs imports every backend
 * and compares).
 */
export const FIRST_PARTY_BACKENDS: Readonly<Record<string, string>> = {
  file: '@artifacts/local',
  s3: '@artifacts/s3',
  s3a: '@artifacts/s3',
  s3n: '@artifacts/s3',
  gs: '@artifacts/gcs',
  wasbs: '@artifacts/azure',
  wasb: '@artifacts/azure',
  sftp: '@artifacts/sftp',
  ftp: '@artifacts/ftp',
  ftps: '@artifacts/ftp',
  hdfs: '@artifacts/hdfs',
  viewfs: '@artifacts/hdfs',
  webhdfs: '@artifacts/hdfs',
  swebhdfs: '@artifacts/hdfs',
  'mlflow-artifacts': '@artifacts/http',
  http: '@artifacts/http',
  https: '@artifacts/http',
};

interface Registry {
  plugins: Map<string, BackendPlugin<never>>;
  pluginsLoaded: Promise<void> | undefined;
}

// On globalThis under Symbol.for so that every copy of core (ESM and CJS, or two versions) shares it.
const KEY = Symbol.for('@artifacts/core/registry');

function registry(): Registry {
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  let current = holder[KEY];
  if (!current) {
    current = { plugins: new Map(), pluginsLoaded: undefined };
    holder[KEY] = current;
  }
  return current;
}

/** Registers (or replaces) the backend for each of `plugin.schemes`. Third-party plugins may override built-ins. */
export function registerBackend<Options>(plugin: BackendPlugin<Options>): void {
  if (
    !plugin ||
    typeof plugin.open !== 'function' ||
    !Array.isArray(plugin.schemes) ||
    plugin.schemes.length === 0
  ) {
    throw ArtifactsError.invalidArgument(
      'a backend plugin needs a name, a non-empty schemes array and an open() function',
    );
  }
  for (const scheme of plugin.schemes) {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
      throw ArtifactsError.invalidArgument(
        `backend ${plugin.name}: scheme ${JSON.stringify(scheme)} must be lower-case letters, digits, '+', '.' or '-'`,
      );
    }
    registry().plugins.set(scheme, plugin as unknown as BackendPlugin<never>);
  }
}

/** Schemes with a registered backend, sorted. */
export function registeredSchemes(): string[] {
  return [...registry().plugins.keys()].sort();
}

/**
 * Set to `1` to also look for backend packages (first-party schemes and ARTIFACTS_PLUGINS names) in
 * the `node_modules` of the working directory and its parents. Off by default: a globally installed
 * `artifacts` command run inside an untrusted checkout must never import that checkout's code.
 */
// tsup.config.ts defines it per output format; unset (vitest runs the source as ESM) means ESM.
declare const __ARTIFACTS_CORE_FORMAT__: string | undefined;
const BUILD_FORMAT = typeof __ARTIFACTS_CORE_FORMAT__ === 'string' ? __ARTIFACTS_CORE_FORMAT__ : 'esm';

export const RESOLVE_FROM_CWD_ENV = 'ARTIFACTS_RESOLVE_FROM_CWD';

/**
 * Loads a module in the format of the running copy of core, so a lazily loaded backend shares this
 * copy of core (and `err instanceof ArtifactsError` holds): the ESM build imports (ESM build of the
 * backend), the CommonJS build requires (its CJS build). Resolution starts beside core, which is where an
 * application's `node_modules` and a global install's siblings of `@artifacts/cli` are.
 */
async function loadBesideCore(specifier: string): Promise<unknown> {
  if (BUILD_FORMAT === 'cjs') {
    try {
      return require(specifier);
    } catch (error) {
      // An ESM-only plugin with top-level await cannot be required; import it instead.
      const code = (error as { code?: unknown } | null)?.code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    }
  }
  return import(specifier);
}

/** Loads a package from the working directory's `node_modules` (only when RESOLVE_FROM_CWD_ENV is 1). */
async function loadFromCwd(name: string): Promise<unknown> {
  const base = join(process.cwd(), 'noop.js');
  if (BUILD_FORMAT === 'cjs') return createRequire(base)(name);
  const entry = esmEntry(name, process.cwd());
  if (!entry) throw moduleNotFound(name, process.cwd());
  return import(pathToFileURL(entry).href);
}

function moduleNotFound(name: string, from: string): Error {
  return Object.assign(new Error(`Cannot find package '${name}' from ${from}`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}

const ESM_CONDITIONS = ['node', 'import', 'default'];

function pickExport(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const item of target) {
      const found = pickExport(item);
      if (found) return found;
    }
    return undefined;
  }
  if (target && typeof target === 'object') {
    for (const [condition, value] of Object.entries(target)) {
      if (!ESM_CONDITIONS.includes(condition)) continue;
      const found = pickExport(value);
      if (found) return found;
    }
  }
  return undefined;
}

/** The `.` entry of an `exports` field (a string, an array, a conditions object or a subpath map). */
function exportsRoot(exportsField: unknown): unknown {
  if (!exportsField || typeof exportsField !== 'object' || Array.isArray(exportsField)) return exportsField;
  const map = exportsField as Record<string, unknown>;
  return Object.keys(map).some((key) => key.startsWith('.')) ? map['.'] : map;
}

/**
 * The file `import(name)` would load if it were written in a module inside `from`: the nearest
 * `node_modules/<name>` up the tree, its `exports['.']` under the import conditions, else `main`.
 */
export function esmEntry(name: string, from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifestPath = join(pkgDir, 'package.json');
    if (existsSync(manifestPath)) {
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports?: unknown; main?: string };
      const target =
        manifest.exports === undefined
          ? (manifest.main ?? 'index.js')
          : pickExport(exportsRoot(manifest.exports));
      return target === undefined ? undefined : join(pkgDir, target);
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function resolveFromCwd(): boolean {
  return process.env[RESOLVE_FROM_CWD_ENV] === '1';
}

/**
 * Imports a package by name: beside core first; then, when RESOLVE_FROM_CWD_ENV=1, from the working
 * directory. A path (absolute, or relative to the working directory) is imported as given.
 */
async function importPackage(name: string): Promise<void> {
  if (isAbsolute(name) || name.startsWith('./') || name.startsWith('../')) {
    await import(pathToFileURL(resolve(name)).href);
    return;
  }
  try {
    await loadBesideCore(name);
    return;
  } catch (error) {
    if (!isModuleNotFound(error, name) || !resolveFromCwd()) throw error;
  }
  await loadFromCwd(name);
}

/**
 * Whether `error` is an import's "package not installed" for `name` (CommonJS's and ESM's codes, and a
 * package whose entry is not exported), as opposed to a package that is there but fails to load —
 * one of whose own files is missing (`Cannot find module '../build/Release/kerberos.node'`) is there.
 */
export function isModuleNotFound(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    (code === 'MODULE_NOT_FOUND' ||
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') &&
    [`'${name}'`, `"${name}"`, `'${name}/`, `/${name}/package.json`].some((form) => message.includes(form))
  );
}

/**
 * Imports an optional peer package with `load` (a thunk written in the package that depends on it,
 * so that the import resolves from there: `() => import('kerberos')`). When the package is not
 * installed, fails with an ArtifactsError `code` (default `unsupported`) that says `why` it is needed
 * and how to install it; a package that is there but fails to load fails as it did.
 */
export async function importOptional<T>(
  load: () => Promise<T>,
  pkg: string,
  why: string,
  code: ArtifactsErrorCode = 'unsupported',
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (!isModuleNotFound(error, pkg)) throw error;
    throw new ArtifactsError(
      code,
      `${why}: the optional package ${pkg} is not installed (npm install ${pkg})`,
      {
        cause: error,
      },
    );
  }
}

/** Imports every package named in ARTIFACTS_PLUGINS (comma or whitespace separated), once. */
function loadEnvPlugins(): Promise<void> {
  const reg = registry();
  reg.pluginsLoaded ??= (async () => {
    const names = (process.env.ARTIFACTS_PLUGINS ?? '').split(/[\s,]+/).filter(Boolean);
    for (const name of names) {
      try {
        await importPackage(name);
      } catch (error) {
        reg.pluginsLoaded = undefined;
        throw new ArtifactsError(
          'invalid_argument',
          `ARTIFACTS_PLUGINS lists ${JSON.stringify(name)}, which could not be imported: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
  })();
  return reg.pluginsLoaded;
}

/** The plugin for a scheme: registered, from ARTIFACTS_PLUGINS, or the first-party package imported on demand. */
export async function resolveBackend(scheme: string): Promise<BackendPlugin<never>> {
  await loadEnvPlugins();
  const found = registry().plugins.get(scheme);
  if (found) return found;
  const pkg = FIRST_PARTY_BACKENDS[scheme];
  if (pkg) {
    try {
      await importPackage(pkg);
    } catch (error) {
      if (isModuleNotFound(error, pkg)) {
        throw ArtifactsError.unsupported(missingBackendMessage(scheme, pkg), { cause: error });
      }
      throw new ArtifactsError(
        'internal',
        `loading ${pkg} for ${scheme}: URIs failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const loaded = registry().plugins.get(scheme);
    if (loaded) return loaded;
    throw ArtifactsError.unsupported(`${pkg} was imported but registered no backend for ${scheme}: URIs`);
  }
  const known = registeredSchemes();
  throw ArtifactsError.unsupported(
    `no backend for URI scheme ${JSON.stringify(scheme)}; registered schemes: ${known.length ? known.join(', ') : '(none)'}; first-party schemes: ${Object.keys(FIRST_PARTY_BACKENDS).join(', ')}. A third-party backend registers itself with registerBackend() or through ARTIFACTS_PLUGINS.`,
  );
}

/** What to do when a first-party backend is not installed: for an application and for the CLI. */
function missingBackendMessage(scheme: string, pkg: string): string {
  const cwd = resolveFromCwd()
    ? ''
    : ` (a copy in the working directory's node_modules is used only with ${RESOLVE_FROM_CWD_ENV}=1)`;
  return (
    `no backend is installed for ${scheme}: URIs. ` +
    `In an application: npm install ${pkg}, then import '${pkg}' once before opening the URI. ` +
    `For the artifacts command: install it beside the command, npm install --global ${pkg}${cwd}.`
  );
}
