import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type ArtifactRepository, ArtifactsError, type ArtifactsErrorCode } from '@artifacts/core';
import { expect, onTestFinished } from 'vitest';
import { readAll } from '../data.js';

export interface Context {
  /** A fresh, empty repository, closed (after its contents are deleted) when the test finishes. */
  fresh(): Promise<ArtifactRepository>;
  largeFileBytes: number;
  manyFiles: number;
  maxRssGrowthBytes: number;
  /** Per-test timeout for ordinary cases (ms). */
  timeout: number;
  /** Per-test timeout for the large-file and many-files cases (ms). */
  longTimeout: number;
}

/** A new local temporary directory, removed when the test finishes. */
export async function tempDir(label = 'tmp'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `artifacts-testkit-${label}-`));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a local tree: `{ 'a.txt': 'x', 'sub/b.bin': Buffer, 'empty/': null }` (null = empty directory). */
export async function writeTree(
  dir: string,
  files: Record<string, string | Uint8Array | null>,
): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(dir, ...path.split('/').filter(Boolean));
    if (content === null) {
      await mkdir(full, { recursive: true });
    } else {
      await mkdir(dirname(full), { recursive: true });
      await writeFile(full, content);
    }
  }
}

/**
 * Reads a local tree back: files as their content, directories as `null` (only empty ones are
 * listed, so the result compares equal to what `writeTree` was given).
 */
export async function readTree(dir: string, prefix = ''): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  if (entries.length === 0 && prefix !== '') out[`${prefix}/`] = null;
  for (const entry of entries) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) Object.assign(out, await readTree(dir, rel));
    else out[rel] = await readFile(join(dir, rel), 'utf8');
  }
  return out;
}

/** The whole (small) artifact as UTF-8. */
export async function readText(repo: ArtifactRepository, path: string): Promise<string> {
  return (await readAll(await repo.openRead(path))).toString('utf8');
}

/** Awaits a promise that must reject and returns what it rejected with. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the operation to fail, but it succeeded');
}

/** Asserts that `promise` rejects with an ArtifactsError of `code`, and returns it. */
export async function expectCode(
  promise: Promise<unknown>,
  code: ArtifactsErrorCode,
): Promise<ArtifactsError> {
  const error = await rejectionOf(promise);
  expect(ArtifactsError.is(error), `expected an ArtifactsError, got ${String(error)}`).toBe(true);
  const artifactsError = error as ArtifactsError;
  expect(artifactsError.code, artifactsError.message).toBe(code);
  return artifactsError;
}

/** Asserts nothing is at `path`: stat is not_found and the parent's listing does not show it. */
export async function expectAbsent(repo: ArtifactRepository, path: string): Promise<void> {
  await expectCode(repo.stat(path), 'not_found');
  const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
  const listed = await repo.listArtifacts(parent);
  expect(listed.map((entry) => entry.path)).not.toContain(path);
  const files = await repo.listArtifactsRecursive('');
  expect(files.filter((entry) => !entry.isDir).map((entry) => entry.path)).not.toContain(path);
}

/** Every file path (sorted) in the repository. */
export async function allFiles(repo: ArtifactRepository): Promise<string[]> {
  return (await repo.listArtifactsRecursive(''))
    .filter((entry) => !entry.isDir)
    .map((entry) => entry.path)
    .sort();
}

export const MiB = 1024 * 1024;
