import { mkdir, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import {
  ArtifactsError,
  appendToUri,
  baseName,
  envMaxConcurrency,
  type FailedFile,
  type FileInfo,
  joinKey,
  type ProgressEvent,
  toArtifactsError,
} from '@artifacts/core';
import type { Output } from './output.js';
import { mapPool } from './pool.js';
import { createProgress, human } from './progress.js';
import { type OpenedTarget, openAt, openTarget, parseTarget } from './target.js';

/** What every command gets: where to print, the global flags and the run's AbortSignal. */
export interface CommandContext {
  output: Output;
  quiet: boolean;
  signal: AbortSignal;
}

async function withTarget<T>(uri: string, fn: (opened: OpenedTarget) => Promise<T>): Promise<T> {
  const opened = await openTarget(uri);
  try {
    return await fn(opened);
  } finally {
    await opened.repo.close().catch(() => undefined);
  }
}

/** Stat of the artifact a target names; '' (a store's root) is always a directory. */
async function statTarget(
  { repo, path, target }: OpenedTarget,
  signal: AbortSignal,
): Promise<{ isDir: boolean; fileSize?: number }> {
  if (path === '') return { isDir: true };
  try {
    return await repo.stat(path, { signal });
  } catch (error) {
    if (ArtifactsError.is(error, 'not_found'))
      throw ArtifactsError.notFound(target.display, { cause: error, context: { path } });
    throw error;
  }
}

function progressFor(context: CommandContext, label: string) {
  return createProgress(context.output.io.stderr, context.quiet, label);
}

function relativeTo(base: string, path: string): string {
  return base === '' ? path : path.slice(base.length + 1);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// --- ls --------------------------------------------------------------------------------------------

export interface LsOptions {
  recursive?: boolean;
  json?: boolean;
  long?: boolean;
}

/**
 * Lists a directory (or shows one file). Paths are relative to the URI given, so each can be
 * appended to it; a file URI lists itself under its own name.
 */
export async function ls(context: CommandContext, uri: string, options: LsOptions): Promise<void> {
  const entries = await withTarget(uri, async (opened) => {
    const info = await statTarget(opened, context.signal);
    if (!info.isDir) {
      const file: FileInfo = { path: opened.target.name, isDir: false };
      if (info.fileSize !== undefined) file.fileSize = info.fileSize;
      return [file];
    }
    const listed = options.recursive
      ? await opened.repo.listArtifactsRecursive(opened.path, { signal: context.signal })
      : await opened.repo.listArtifacts(opened.path, { signal: context.signal });
    return listed.map((entry) => ({ ...entry, path: relativeTo(opened.path, entry.path) }));
  });
  const { output } = context;
  if (options.json) {
    output.out(JSON.stringify(entries, null, 2));
    return;
  }
  const width = Math.max(0, ...entries.map((entry) => String(entry.fileSize ?? '').length));
  for (const entry of entries) {
    const name = entry.isDir ? `${entry.path}/` : entry.path;
    output.out(options.long ? `${String(entry.fileSize ?? '').padStart(width)}  ${name}` : name);
  }
}

// --- log -------------------------------------------------------------------------------------------

/** Uploads a local file (to `<uri>/<basename>`) or a directory's contents (under `<uri>`). */
export async function log(context: CommandContext, local: string, uri: string): Promise<void> {
  const target = parseTarget(uri);
  const info = await stat(local).catch((error: unknown) => {
    throw toArtifactsError(error, `local path ${JSON.stringify(local)}`);
  });
  if (!info.isFile() && !info.isDirectory()) {
    throw new ArtifactsError(
      'failed_precondition',
      `local path ${JSON.stringify(local)} is neither a regular file nor a directory`,
    );
  }
  const repo = await openAt(uri);
  const progress = progressFor(context, 'log');
  let last: ProgressEvent | undefined;
  const options = {
    signal: context.signal,
    onProgress: (event: ProgressEvent) => {
      last = event;
      progress.update(event);
    },
  };
  try {
    if (info.isDirectory()) await repo.logArtifacts(local, undefined, options);
    else await repo.logArtifact(local, undefined, options);
  } finally {
    progress.stop();
    await repo.close().catch(() => undefined);
  }
  const destination = info.isDirectory() ? target.display : appendToUri(target.display, baseName(local));
  const files = last?.filesDone ?? 0;
  context.output.out(`logged ${plural(files, 'file')} (${human(last?.bytesDone ?? 0)}) to ${destination}`);
}

// --- download --------------------------------------------------------------------------------------

/** Downloads a file or directory into `dst` (created if missing) and prints the local path written. */
export async function download(context: CommandContext, uri: string, dst = '.'): Promise<void> {
  const written = await withTarget(uri, async (opened) => {
    await statTarget(opened, context.signal);
    const existing = await stat(dst).catch((error: unknown) => {
      if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
      throw toArtifactsError(error, `download destination ${JSON.stringify(dst)}`);
    });
    if (existing && !existing.isDirectory()) {
      throw new ArtifactsError(
        'failed_precondition',
        `download destination ${JSON.stringify(dst)} is not a directory`,
      );
    }
    if (!existing) await mkdir(dst, { recursive: true });
    const progress = progressFor(context, 'download');
    try {
      return await opened.repo.downloadArtifacts(opened.path, dst, {
        signal: context.signal,
        onProgress: (event) => progress.update(event),
      });
    } finally {
      progress.stop();
    }
  });
  context.output.out(written);
}

// --- cat -------------------------------------------------------------------------------------------

/** Streams one artifact to stdout. */
export async function cat(context: CommandContext, uri: string): Promise<void> {
  await withTarget(uri, async (opened) => {
    const info = await statTarget(opened, context.signal);
    if (info.isDir) {
      throw new ArtifactsError(
        'failed_precondition',
        `${opened.target.display} is a directory; use "artifacts ls" or "artifacts download"`,
      );
    }
    const stream = await opened.repo.openRead(opened.path, { signal: context.signal });
    try {
      // stdout stays open (it is the process's); a reader that went away (`| head`) is not a failure.
      await pipeline(stream, context.output.io.stdout, { end: false, signal: context.signal });
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EPIPE') return;
      throw error;
    }
  });
}

// --- rm --------------------------------------------------------------------------------------------

/** Removes a file or a directory recursively; removing nothing is not an error. */
export async function rm(context: CommandContext, uri: string): Promise<void> {
  const target = parseTarget(uri);
  if (target.parent === undefined) {
    throw new ArtifactsError(
      'failed_precondition',
      `refusing to remove the root of a store (${target.display}); remove the entries inside it instead`,
    );
  }
  await withTarget(uri, (opened) => opened.repo.deleteArtifacts(opened.path, { signal: context.signal }));
}

// --- cp --------------------------------------------------------------------------------------------

/**
 * Copies between any two locations, streaming each file from one repository into the other (no
 * temporary file). A file goes to DST itself, or into DST when DST ends with '/' or is a directory;
 * a directory's contents go under DST (as `log` does), through a bounded pool.
 */
export async function cp(context: CommandContext, srcUri: string, dstUri: string): Promise<void> {
  const src = await openTarget(srcUri);
  let dst: OpenedTarget | undefined;
  const progress = progressFor(context, 'cp');
  try {
    const info = await statTarget(src, context.signal);
    dst = await openTarget(dstUri);
    let files: Array<{ from: string; to: string; size?: number }>;
    if (info.isDir) {
      const entries = await src.repo.listArtifactsRecursive(src.path, { signal: context.signal });
      files = entries
        .filter((entry) => !entry.isDir)
        .map((entry) => ({
          from: entry.path,
          to: joinKey(dst!.path, relativeTo(src.path, entry.path)),
          ...(entry.fileSize === undefined ? {} : { size: entry.fileSize }),
        }));
    } else {
      const intoDirectory =
        dst.path === '' ||
        dstUri.split('?')[0]!.endsWith('/') ||
        (await dst.repo.stat(dst.path, { signal: context.signal }).catch(() => undefined))?.isDir === true;
      const to = intoDirectory ? joinKey(dst.path, baseName(src.path)) : dst.path;
      files = [{ from: src.path, to, ...(info.fileSize === undefined ? {} : { size: info.fileSize }) }];
    }
    const totals = {
      bytesDone: 0,
      filesDone: 0,
      bytesTotal: files.reduce((sum, file) => sum + (file.size ?? 0), 0),
      filesTotal: files.length,
    };
    const target = dst;
    const failures: FailedFile[] = [];
    await mapPool(files, envMaxConcurrency(), async (file) => {
      let seen = 0;
      try {
        const stream = await src.repo.openRead(file.from, { signal: context.signal });
        await target.repo.write(file.to, stream, {
          signal: context.signal,
          ...(file.size === undefined ? {} : { size: file.size }),
          onProgress: (event) => {
            totals.bytesDone += event.bytesDone - seen;
            seen = event.bytesDone;
            progress.update({ ...totals, path: file.to });
          },
        });
        totals.filesDone++;
        progress.update({ ...totals, path: file.to });
      } catch (error) {
        failures.push({ path: file.from, error: toArtifactsError(error, `copying ${file.from}`) });
      }
    });
    progress.stop();
    if (failures.length > 0) {
      if (context.signal.aborted) throw failures[0]!.error;
      if (!info.isDir) throw failures[0]!.error;
      const lines = failures.slice(0, 20).map((failure) => `${failure.path}: ${failure.error.message}`);
      const more = failures.length > 20 ? `; and ${failures.length - 20} more` : '';
      throw new ArtifactsError(
        'partial_failure',
        `${failures.length} of ${files.length} files failed to copy: ${lines.join('; ')}${more}`,
        { failures, cause: failures[0]!.error },
      );
    }
    context.output.out(
      `copied ${plural(totals.filesDone, 'file')} (${human(totals.bytesDone)}) to ${dst.target.display}`,
    );
  } finally {
    progress.stop();
    await src.repo.close().catch(() => undefined);
    await dst?.repo.close().catch(() => undefined);
  }
}
