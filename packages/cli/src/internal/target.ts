import { basename, dirname } from 'node:path';
import {
  type ArtifactRepository,
  ArtifactsError,
  FIRST_PARTY_BACKENDS,
  isModuleNotFound,
  isObjectStoreScheme,
  isTrackingUri,
  openRepository,
  parseArtifactUri,
  type RetryEvent,
  redactUri,
  registeredSchemes,
  resolveTrackingUri,
  validateArtifactPath,
} from '@artifacts/core';

/**
 * Where a command-line URI points: the repository is opened at `parent` and the command works on
 * `name` inside it (MLflow's CLI does the same), so `cat s3://b/p/f.txt`, `rm s3://b/p/x` and
 * `ls s3://b/p` work with any backend. At the root of a store (`s3://bucket`, `/`) there is no
 * parent: the repository is opened at the URI itself and `name` is ''.
 */
export interface Target {
  /** The URI as given. May hold a password: print `display`, never this. */
  uri: string;
  scheme: string;
  /** The URI of the parent location, or undefined at the root of a store. */
  parent: string | undefined;
  /** The last path segment, decoded; '' at the root. */
  name: string;
  /** The URI with any password or token redacted: the only form ever printed. */
  display: string;
}

/**
 * A command-line name with a colon is a URI only when what precedes the colon is a known scheme
 * (first-party, registered, or written `name://`) or when a `/` follows it (`mlflow-artifacts:/p`,
 * a plugin's `foo:/p`); otherwise it is a local file name (`epoch:3`, `run:best.ckpt`), which this
 * returns as `./epoch:3`.
 */
export function localize(uri: string): string {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.?)/s.exec(uri);
  if (!match) return uri;
  const scheme = match[1]!.toLowerCase();
  if (match[2] === '/' || scheme === 'file') return uri;
  if (scheme in FIRST_PARTY_BACKENDS || registeredSchemes().includes(scheme)) return uri;
  return `./${uri}`;
}

/** Splits a URI or local path into the location to open and the name to work on. */
export function parseTarget(given: string): Target {
  const uri = localize(given);
  const location = parseArtifactUri(uri);
  const display = redactUri(uri);
  const scheme = location.scheme;
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(uri)) {
    // A bare path: taken literally (no percent-decoding), resolved against the working directory.
    const absolute = location.path;
    if (absolute === dirname(absolute)) return { uri, scheme, parent: undefined, name: '', display };
    return { uri, scheme, parent: dirname(absolute), name: basename(absolute), display };
  }
  const q = uri.indexOf('?');
  const head = q === -1 ? uri : uri.slice(0, q);
  const query = q === -1 ? '' : uri.slice(q);
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*:(?:\/\/[^/]*)?)(.*)$/s.exec(head);
  const prefix = match?.[1] ?? head;
  const segments = (match?.[2] ?? '').split('/').filter((segment) => segment !== '' && segment !== '.');
  // The URI parser resolves what a URL library normalizes (`%2e%2e` in a file: URI is `..` to the
  // WHATWG parser); a command-line URI that climbs out of where it points is refused instead.
  if (segments.length > 0) {
    try {
      validateArtifactPath(segments.join('/'), { label: 'its path' });
    } catch (error) {
      throw ArtifactsError.invalidArgument(
        `invalid artifact URI ${JSON.stringify(display)}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  const last = segments.pop();
  if (last === undefined) return { uri, scheme, parent: undefined, name: '', display };
  // Object-store keys are literal; every other scheme percent-encodes its path (as appendToUri does).
  const name = isObjectStoreScheme(scheme) ? last : decodeSegment(uri, last);
  return { uri, scheme, parent: `${prefix}/${segments.join('/')}${query}`, name, display };
}

function decodeSegment(uri: string, segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw ArtifactsError.invalidArgument(
      `invalid artifact URI ${JSON.stringify(redactUri(uri))}: malformed percent-escape in ${JSON.stringify(segment)}`,
    );
  }
}

/**
 * Imports the first-party backend package for a scheme from the CLI's own location, so a backend
 * installed beside the CLI (an optional peer dependency) is found even when the working directory
 * is elsewhere. Core's own lazy import (from the working directory, then from core) still follows.
 */
export async function loadBackend(scheme: string): Promise<void> {
  if (registeredSchemes().includes(scheme)) return;
  const pkg = FIRST_PARTY_BACKENDS[scheme];
  if (!pkg) return;
  try {
    await import(pkg);
  } catch (error) {
    // A package that is not installed is reported by core, with the package to install.
    if (!isModuleNotFound(error, pkg)) {
      throw new ArtifactsError(
        'internal',
        `loading ${pkg} for ${scheme}: URIs failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
}

/** Where each retry is reported (`--verbose`); undefined = silent. */
let retryReporter: ((line: string) => void) | undefined;

/** Makes every repository opened from now on report each retry as one line (`--verbose`). */
export function reportRetries(report: ((line: string) => void) | undefined): void {
  retryReporter = report;
}

/**
 * What `--verbose` prints for one retry: the call (`retrying list "run1" …`), or, for one part of a
 * transfer the engine repeats on its own, the part and its bytes
 * (`retrying part 3 (bytes 16777216–25165823) of "model.bin" in 2.1 s (attempt 1 of 5 failed: …)`).
 */
export function describeRetry(event: RetryEvent): string {
  const reason = event.error instanceof Error ? event.error.message : String(event.error);
  const { part } = event;
  const what = part
    ? `part ${part.number} (bytes ${part.start}–${part.end >= Number.MAX_SAFE_INTEGER ? '' : part.end}) of ${JSON.stringify(event.key)}`
    : `${event.operation} ${JSON.stringify(event.key)}`;
  const wait = event.delayMs < 1000 ? `${event.delayMs} ms` : `${(event.delayMs / 1000).toFixed(1)} s`;
  return `retrying ${what} in ${wait} (attempt ${event.attempt} of ${event.maxAttempts} failed: ${reason})`;
}

/** Options that make a repository report its retries (core's layer retries for every backend, http's too). */
function retryOptions(): Record<string, unknown> {
  const report = retryReporter;
  return report ? { onRetry: (event: RetryEvent) => report(describeRetry(event)) } : {};
}

/** Options that make a tracking-server client report its retries (`--verbose`). */
export function trackingRetryOptions(): { onRetry?: (event: RetryEvent) => void } {
  const report = retryReporter;
  return report ? { onRetry: (event: RetryEvent) => report(describeRetry(event)) } : {};
}

/** Opens a repository at a URI after loading its backend. */
export async function openAt(given: string): Promise<ArtifactRepository> {
  // runs:/ and models:/ are resolved by core first, so that the storage backend is loaded from here
  const uri = isTrackingUri(given)
    ? await resolveTrackingUri(given, trackingRetryOptions())
    : localize(given);
  const scheme = parseArtifactUri(uri).scheme;
  await loadBackend(scheme);
  try {
    return await openRepository(uri, retryOptions());
  } catch (error) {
    if (ArtifactsError.is(error, 'unsupported') && !(scheme in FIRST_PARTY_BACKENDS)) {
      throw ArtifactsError.unsupported(
        `no backend for URI scheme ${JSON.stringify(scheme)}; schemes with an installed backend: ${(await installedSchemes()).join(', ')}. Another backend package is loaded by naming it in ARTIFACTS_PLUGINS.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Schemes served by what is registered or installed (first-party packages are imported to see). */
async function installedSchemes(): Promise<string[]> {
  for (const scheme of Object.keys(FIRST_PARTY_BACKENDS)) await loadBackend(scheme).catch(() => undefined);
  return registeredSchemes();
}

export interface OpenedTarget {
  repo: ArtifactRepository;
  /** The artifact path inside `repo` the command works on ('' = the repository root). */
  path: string;
  target: Target;
}

/**
 * Opens the repository for a target: at its parent, or at the URI itself for a store's root. A
 * backend that refuses the parent as a location (an HTTP artifact root's parent is not one) gets
 * the URI itself, with the path ''.
 */
export async function openTarget(uri: string): Promise<OpenedTarget> {
  const target = parseTarget(uri);
  if (target.parent === undefined) return { repo: await openAt(uri), path: '', target };
  try {
    return { repo: await openAt(target.parent), path: target.name, target };
  } catch (error) {
    if (!ArtifactsError.is(error, 'invalid_argument')) throw error;
    return { repo: await openAt(uri), path: '', target };
  }
}
