/** Where the integration package keeps its state and caches, and small file-system helpers. */
import { existsSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute path of the `integration/` package directory. */
export const IT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * `integration/.state/`: per-run state dirs, logs, the CLI's state file (git-ignored). Override with
 * ARTIFACTS_IT_STATE_DIR (the CLI's own test does, to stay apart from servers a person started).
 */
export const STATE_ROOT = process.env.ARTIFACTS_IT_STATE_DIR
  ? resolve(process.env.ARTIFACTS_IT_STATE_DIR)
  : join(IT_ROOT, '.state');
/** `integration/.servers.env`: `export NAME=value` lines written by `pnpm servers up` (ARTIFACTS_IT_SERVERS_ENV overrides). */
export const SERVERS_ENV_FILE = process.env.ARTIFACTS_IT_SERVERS_ENV
  ? resolve(process.env.ARTIFACTS_IT_SERVERS_ENV)
  : join(IT_ROOT, '.servers.env');

/** `${XDG_CACHE_HOME:-~/.cache}/artifacts-it` (override with ARTIFACTS_IT_CACHE). */
export function cacheRoot(): string {
  if (process.env.ARTIFACTS_IT_CACHE) return resolve(process.env.ARTIFACTS_IT_CACHE);
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'artifacts-it');
}

/** Versioned install directory `<cacheRoot>/<tool>-<version>` (not created). */
export function cacheDirFor(tool: string, version: string): string {
  return join(cacheRoot(), `${tool}-${version}`);
}

export async function ensureDir(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  return dir;
}

/** True when `file` exists and is executable by someone. */
export function isExecutable(file: string): boolean {
  try {
    const st = statSync(file);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** A fresh, empty directory (removed first if present). */
export async function freshDir(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  return dir;
}

export function fileExists(file: string): boolean {
  return existsSync(file);
}
