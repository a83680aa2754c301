import { type ArtifactCopy, type ArtifactRepository, baseName, copyFiles, joinKey } from '@artifacts/core';
import type { CommandContext } from './context.js';
import { createProgress, human } from './progress.js';
import type { Located } from './session.js';
import { relativeTo } from './session.js';

/** One file to move: from a key in one repository to a key in another (core's `ArtifactCopy`). */
export interface FileCopy extends ArtifactCopy {
  /** Path relative to the tree being copied: what `--include/--exclude` match and what is printed. */
  rel: string;
}

/**
 * The files a set of sources expands to under `dstPath` in `dst`. A directory's contents go under
 * `dstPath` itself when `contents` (one directory given, as `log` and rclone do), else under
 * `dstPath/<its name>` (several sources or a glob, as `cp -r a b dir/`); a file goes to
 * `dstPath/<its name>`.
 */
export async function expandCopies(
  sources: readonly Located[],
  dst: ArtifactRepository,
  dstPath: string,
  options: { contents: boolean; select: (rel: string) => boolean; signal: AbortSignal },
): Promise<FileCopy[]> {
  const files: FileCopy[] = [];
  for (const source of sources) {
    const name = source.globbed ? source.name : baseName(source.path) || source.name;
    if (!source.isDir) {
      const rel = name;
      if (!options.select(rel)) continue;
      files.push({
        from: source.opened.repo,
        fromPath: source.path,
        to: dst,
        toPath: joinKey(dstPath, name),
        rel,
        ...(source.fileSize === undefined ? {} : { size: source.fileSize }),
      });
      continue;
    }
    const under = options.contents ? dstPath : joinKey(dstPath, name);
    const entries = await source.opened.repo.listArtifactsRecursive(source.path, { signal: options.signal });
    for (const entry of entries) {
      if (entry.isDir) continue;
      const inner = relativeTo(source.path, entry.path);
      const rel = options.contents ? inner : `${name}/${inner}`;
      if (!options.select(rel)) continue;
      files.push({
        from: source.opened.repo,
        fromPath: entry.path,
        to: dst,
        toPath: joinKey(under, inner),
        rel,
        ...(entry.fileSize === undefined ? {} : { size: entry.fileSize }),
      });
    }
  }
  return files;
}

export interface CopyTotals {
  files: number;
  bytes: number;
}

/**
 * Copies the files through core's `copyFiles` — the store's own copy where source and destination
 * share one (no byte through this process), else streamed, one bounded pool, failures gathered into
 * one `partial_failure` — with one progress bar.
 */
export async function runCopies(
  context: CommandContext,
  label: string,
  files: readonly FileCopy[],
): Promise<CopyTotals> {
  const progress = createProgress(context.output.io.stderr, context.quiet || context.json, label, {
    bytesDone: 0,
    filesDone: 0,
    bytesTotal: files.reduce((sum, file) => sum + (file.size ?? 0), 0),
    filesTotal: files.length,
  });
  try {
    const result = await copyFiles(files, {
      signal: context.signal,
      onProgress: (event) => progress.update(event),
    });
    return { files: result.files, bytes: result.bytes };
  } finally {
    progress.stop();
  }
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** What `--dry-run` prints instead of copying: each file, then the count and size, to `destination`. */
export function reportDryRun(
  context: CommandContext,
  verb: string,
  files: readonly FileCopy[],
  destination: string,
): void {
  const bytes = files.reduce((sum, file) => sum + (file.size ?? 0), 0);
  context.output.result(
    { dry_run: true, files: files.map((file) => ({ path: file.rel, file_size: file.size })), bytes },
    () => [
      ...files.map((file) => `would ${verb} ${file.rel}`),
      `would ${verb} ${plural(files.length, 'file')} (${human(bytes)}) to ${destination}`,
    ],
  );
}
