import { createRequire } from 'node:module';
import { ArtifactsError } from '@artifacts/core';

// tsup.config.ts defines it per output format; unset (vitest runs the source as ESM) means ESM.
declare const __ARTIFACTS_CLI_FORMAT__: string | undefined;
let picomatchModule: typeof import('picomatch') | undefined;

/**
 * picomatch, loaded on first use: about 3 ms of CPU at every start (docs/benchmarks/server.md), which
 * a command without a glob, `--include` or `--exclude` never needs.
 */
function picomatch(): typeof import('picomatch') {
  picomatchModule ??= (
    typeof __ARTIFACTS_CLI_FORMAT__ === 'string' && __ARTIFACTS_CLI_FORMAT__ === 'cjs'
      ? require
      : createRequire(import.meta.url)
  )('picomatch') as typeof import('picomatch');
  return picomatchModule;
}

/** `--include`/`--exclude` globs, as rclone and aws-cli take them. */
export interface SelectOptions {
  include?: string[];
  exclude?: string[];
}

/**
 * Whether a path (relative to the tree being copied, listed or removed) is selected: it matches an
 * `--include` (when any is given) and no `--exclude`. A pattern without `/` matches the file name at
 * any depth (`*.csv`); one with `/` matches the whole relative path (`plots/**`).
 */
export function selector(options: SelectOptions): (path: string) => boolean {
  const compile = (patterns: string[] | undefined) =>
    (patterns ?? []).map((pattern) =>
      // picomatch 4's `basename` also applies to a pattern with `/`, which then never matches.
      picomatch()(pattern, { basename: !pattern.includes('/'), dot: true }),
    );
  const include = compile(options.include);
  const exclude = compile(options.exclude);
  return (path) =>
    (include.length === 0 || include.some((match) => match(path))) && !exclude.some((match) => match(path));
}

export function isFiltered(options: SelectOptions): boolean {
  return (options.include?.length ?? 0) > 0 || (options.exclude?.length ?? 0) > 0;
}

/** A source argument that holds a glob: the location to list and the pattern to match below it. */
export interface GlobSource {
  base: string;
  pattern: string;
  /** Whether the pattern can match below the first level (holds `/` or `**`). */
  deep: boolean;
}

/**
 * Splits a quoted glob (`'s3://b/run/*.csv'`, `'./out/**\/*.bin'`) into the location before its first
 * glob segment and the pattern after it; undefined when the argument holds no glob. `?` is a glob
 * character in local paths only (in a URI it starts the query).
 */
export function splitGlob(uri: string): GlobSource | undefined {
  const schemeMatch = /^[a-zA-Z][a-zA-Z0-9+.-]*:(\/\/[^/]*)?/.exec(uri);
  const isUri = schemeMatch !== null && uri[schemeMatch[0].length] !== undefined && !/^[a-zA-Z]:\\/.test(uri);
  let head = uri;
  let query = '';
  if (schemeMatch && isUri) {
    const q = uri.indexOf('?');
    if (q !== -1) {
      head = uri.slice(0, q);
      query = uri.slice(q);
    }
  }
  const prefix = schemeMatch && isUri ? schemeMatch[0] : '';
  const rest = head.slice(prefix.length);
  const segments = rest.split('/');
  const globChars = prefix ? /[*[{]/ : /[*?[{]/;
  const index = segments.findIndex((segment) => globChars.test(segment));
  if (index === -1) return undefined;
  const pattern = segments.slice(index).join('/');
  if (!picomatch().scan(pattern).isGlob) return undefined;
  let base = prefix + segments.slice(0, index).join('/');
  if (base === '') base = rest.startsWith('/') ? '/' : '.';
  if (base === prefix && prefix.endsWith(':')) base = `${prefix}/`;
  return { base: base + query, pattern, deep: pattern.includes('/') || pattern.includes('**') };
}

export function globMatcher(pattern: string): (path: string) => boolean {
  return picomatch()(pattern, { dot: false });
}

export function noMatch(pattern: string, base: string): ArtifactsError {
  return new ArtifactsError('not_found', `nothing matches ${JSON.stringify(pattern)} in ${base}`, {
    context: { pattern },
  });
}
