import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BackendPlugin } from './driver.js';
import { ArtifactsError } from './errors.js';

/** The first-party package serving each well-known scheme, imported on first use. */
export const FIRST_PARTY_BACKENDS: Readonly<Record<string, string>> = {
  file: '@artifacts/local',
  s3: '@artifacts/s3',
  s3a: '@artifacts/s3',
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

/** Imports a package by name, resolved from the application (cwd) first, then from core itself. */
async function importPackage(name: string): Promise<void> {
  try {
    const fromApp = createRequire(join(process.cwd(), 'noop.js')).resolve(name);
    await import(pathToFileURL(fromApp).href);
    return;
  } catch (error) {
    if (!isModuleNotFound(error, name)) throw error;
  }
  await import(name);
}

function isModuleNotFound(error: unknown, name: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    (code === 'MODULE_NOT_FOUND' ||
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') &&
    message.includes(name)
  );
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
        throw ArtifactsError.unsupported(
          `no backend is installed for ${scheme}: URIs; install ${pkg} (npm install ${pkg}) and import it`,
          { cause: error },
        );
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
