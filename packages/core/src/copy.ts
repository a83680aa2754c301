import { envMaxConcurrency } from './config.js';
import type { CopySource, StorageDriver } from './driver.js';
import { ArtifactsError, type FailedFile, toArtifactsError } from './errors.js';
import { Limiter } from './internal/pool.js';
import { openRepository, type RepositoryOptions } from './open.js';
import { joinKey, validateArtifactPath } from './path-safety.js';
import { throwGathered } from './repository/failures.js';
import { Progress } from './repository/progress.js';
import { type ArtifactRepository, repositoryInternals, type TransferOptions } from './repository.js';

/** One side of a copy: a URI, a repository (its root), or a path inside a repository. */
export type CopyEndpoint = string | ArtifactRepository | { repo: ArtifactRepository; path?: string };

/** One file to copy: from a path in one repository to a path in another (or the same). */
export interface ArtifactCopy {
  from: ArtifactRepository;
  fromPath: string;
  to: ArtifactRepository;
  toPath: string;
  /** Bytes, when the listing said. */
  size?: number;
}

export interface CopyPlanOptions extends TransferOptions {
  /** Keeps the files of a directory whose path relative to it passes; default: every file. */
  filter?: (relativePath: string) => boolean;
}

export interface CopyOptions extends CopyPlanOptions {
  /** Options for endpoints given as URIs (each is opened, and closed once the copy ends). */
  repositoryOptions?: RepositoryOptions;
  /**
   * Files copied at once. Default: the largest `maxConcurrency` of the repositories involved (each
   * repository still bounds its own storage calls), `ARTIFACTS_MAX_CONCURRENCY`, else 16 when
   * there is nothing to copy.
   */
  maxConcurrency?: number;
}

export interface CopyResult {
  files: number;
  bytes: number;
  /** Files the store copied itself (no byte through this process); the others were streamed. */
  serverSide: number;
}

/**
 * Copies a file or a directory between any two repositories. A file goes to the destination path
 * itself; a directory's files go under the destination path, keeping their relative paths. Where
 * source and destination share a store (the same endpoint and identity: S3, GCS, Azure, local disk),
 * the store copies each file itself — no byte passes through this process; otherwise each file is
 * streamed from one to the other. Nothing partial is ever visible at a destination; failures are
 * gathered into one `partial_failure` naming each file (a single file's error is thrown as is).
 */
export async function copyArtifacts(
  source: CopyEndpoint,
  destination: CopyEndpoint,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const opened: ArtifactRepository[] = [];
  try {
    const from = await resolveEndpoint(source, options, opened);
    const to = await resolveEndpoint(destination, options, opened);
    const files = await planCopy(from, to, options);
    return await copyFiles(files, options);
  } finally {
    await Promise.all(opened.map((repo) => repo.close().catch(() => undefined)));
  }
}

/**
 * The files `copyArtifacts(source, destination)` would copy (what a dry run shows). A missing
 * source is `not_found`.
 */
export async function planCopy(
  source: { repo: ArtifactRepository; path?: string },
  destination: { repo: ArtifactRepository; path?: string },
  options: CopyPlanOptions = {},
): Promise<ArtifactCopy[]> {
  const fromPath = validateArtifactPath(source.path);
  const toPath = validateArtifactPath(destination.path);
  const info = await source.repo.stat(fromPath, options);
  if (!info.isDir) {
    if (toPath === '')
      throw ArtifactsError.invalidArgument(
        'copying a file needs a destination path (the root is a directory)',
      );
    return [
      {
        from: source.repo,
        fromPath,
        to: destination.repo,
        toPath,
        ...(info.fileSize === undefined ? {} : { size: info.fileSize }),
      },
    ];
  }
  const entries = await source.repo.listArtifactsRecursive(fromPath, options);
  const files: ArtifactCopy[] = [];
  for (const entry of entries) {
    if (entry.isDir) continue;
    const rel = fromPath === '' ? entry.path : entry.path.slice(fromPath.length + 1);
    if (options.filter && !options.filter(rel)) continue;
    files.push({
      from: source.repo,
      fromPath: entry.path,
      to: destination.repo,
      toPath: joinKey(toPath, rel),
      ...(entry.fileSize === undefined ? {} : { size: entry.fileSize }),
    });
  }
  return files;
}

/**
 * Copies each listed file through one bounded pool with one progress report: by the store itself
 * where both sides share one, streamed otherwise. Failures are gathered (see `copyArtifacts`).
 */
export async function copyFiles(
  files: readonly ArtifactCopy[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  const limit =
    options.maxConcurrency ??
    (files.length === 0
      ? envMaxConcurrency()
      : Math.max(...new Set(files.flatMap((file) => [file.from.maxConcurrency, file.to.maxConcurrency]))));
  if (!Number.isInteger(limit) || limit < 1)
    throw ArtifactsError.invalidArgument(`maxConcurrency must be a positive integer, got ${String(limit)}`);
  const limiter = new Limiter(limit);
  const progress = new Progress(
    options.onProgress,
    files.reduce((sum, file) => sum + (file.size ?? 0), 0),
    files.length,
  );
  let serverSide = 0;
  const results = await Promise.allSettled(
    files.map((file) =>
      limiter.run(async () => {
        if (await copyOne(file, progress, options)) serverSide++;
      }),
    ),
  );
  const failures: FailedFile[] = [];
  results.forEach((result, i) => {
    if (result.status === 'rejected') {
      const file = files[i]!;
      failures.push({
        path: file.fromPath,
        error: toArtifactsError(result.reason, `copying ${file.fromPath}`),
      });
    }
  });
  if (failures.length > 0 && files.length === 1) throw failures[0]!.error;
  throwGathered(failures, 'copy', files.length, options.signal);
  return { files: progress.filesDone, bytes: progress.bytesDone, serverSide };
}

/** Copies one file; true when the store did it. */
async function copyOne(file: ArtifactCopy, progress: Progress, options: TransferOptions): Promise<boolean> {
  const fromKey = validateArtifactPath(file.fromPath, { allowRoot: false });
  const toKey = validateArtifactPath(file.toPath, { allowRoot: false });
  const src = repositoryInternals(file.from);
  const dst = repositoryInternals(file.to);
  const source = sharedStore(src.driver, dst.driver, fromKey, toKey);
  if (source) {
    if (source.address !== dst.driver.locate!(toKey).address) {
      const what = `copying ${JSON.stringify(fromKey)} to ${JSON.stringify(toKey)}`;
      if (options.signal?.aborted)
        throw new ArtifactsError('aborted', `${what} was aborted`, { cause: options.signal.reason });
      try {
        await dst.driver.copy!(source, toKey, {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
          ...(file.size === undefined ? {} : { size: file.size }),
        });
      } catch (error) {
        throw toArtifactsError(error, what, {
          secrets: [...src.secrets, ...dst.secrets],
          ...(options.signal?.aborted ? { code: 'aborted' as const } : {}),
        });
      }
    }
    progress.bytes(file.size ?? 0, toKey);
    progress.file(toKey);
    return true;
  }
  const stream = await file.from.openRead(fromKey, options);
  let seen = 0;
  await file.to.write(toKey, stream, {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(file.size === undefined ? {} : { size: file.size }),
    onProgress: (event) => {
      progress.bytes(event.bytesDone - seen, toKey);
      seen = event.bytesDone;
    },
  });
  progress.file(toKey);
  return false;
}

/** The source's name for `dst.copy` when both drivers reach one store with one identity. */
function sharedStore(
  src: StorageDriver,
  dst: StorageDriver,
  fromKey: string,
  toKey: string,
): CopySource | undefined {
  if (!src.capabilities.serverSideCopy || !dst.capabilities.serverSideCopy) return undefined;
  if (!src.locate || !dst.locate || !dst.copy) return undefined;
  const source = src.locate(fromKey);
  return source.scope === dst.locate(toKey).scope ? source : undefined;
}

async function resolveEndpoint(
  endpoint: CopyEndpoint,
  options: CopyOptions,
  opened: ArtifactRepository[],
): Promise<{ repo: ArtifactRepository; path?: string }> {
  if (typeof endpoint === 'string') {
    const repo = await openRepository(endpoint, options.repositoryOptions);
    opened.push(repo);
    return { repo };
  }
  if ('repo' in endpoint) return endpoint;
  return { repo: endpoint };
}
