import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, lstat, mkdir, open, opendir, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  ArtifactsError,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  type OperationOptions,
  type StorageDriver,
  toArtifactsError,
  trackTempFile,
} from '@artifacts/core';
import { confine, confineEntry, escapeError, isInside, resolveReal } from './internal/confine.js';

export interface LocalDriverOptions {
  /**
   * Flush each written file to stable storage (fsync) before renaming it into place, so a crash
   * right after a write cannot leave an empty or torn file. Default: `ARTIFACTS_LOCAL_FSYNC`, else
   * false (MLflow does not fsync either, and it costs dearly for many small files).
   */
  fsync?: boolean;
  /** Read and write buffer size in bytes. Default 1 MiB. */
  highWaterMark?: number;
}

const TEMP_SUFFIX = '.artifacts-tmp';
// `.<name>.<16 hex>.artifacts-tmp`: what a write in progress looks like; never listed.
const TEMP_PATTERN = /^\..*\.[0-9a-f]{16}\.artifacts-tmp$/;
/** Bytes of the target's name kept in a temporary name, so that it stays under NAME_MAX (255). */
const TEMP_NAME_BYTES = 120;

export function isTempName(name: string): boolean {
  return TEMP_PATTERN.test(name);
}

function tempNameFor(name: string): string {
  let kept = name;
  while (Buffer.byteLength(kept) > TEMP_NAME_BYTES) kept = kept.slice(0, -1);
  return `.${kept}.${randomBytes(8).toString('hex')}${TEMP_SUFFIX}`;
}

function errno(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function notFound(key: string): ArtifactsError {
  return ArtifactsError.notFound(`artifact ${JSON.stringify(key)}`, { context: { path: key } });
}

/**
 * The local file-system driver: keys are paths below `root`, a real (symlink-free) absolute path.
 * Every operation resolves its target with `confine`, which refuses anything that a symbolic link
 * leads outside the root.
 */
export class LocalDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities = {
    rangeRead: true,
    directories: true,
    checksums: [],
    multipartUpload: false,
    presign: false,
    serverSideCopy: true,
  };

  readonly #fsync: boolean;
  readonly #highWaterMark: number;

  /** Use `LocalDriver.open`, which resolves the root's real path. */
  constructor(
    readonly root: string,
    options: LocalDriverOptions = {},
  ) {
    this.#fsync = options.fsync ?? false;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
  }

  /** Opens a driver on `path` (which need not exist yet: it is created on the first write). */
  static async open(path: string, options: LocalDriverOptions = {}): Promise<LocalDriver> {
    return new LocalDriver(await resolveReal(path), options);
  }

  async #write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const target = await this.#writeTarget(key);
    const dir = dirname(target);
    const temp = join(dir, tempNameFor(basename(target)));
    // 'wx' (O_CREAT|O_EXCL) never follows a link planted at the temporary name. Opening before
    // streaming means the file exists by the time a failure removes it.
    const handle = await open(temp, 'wx');
    const untrack = trackTempFile(temp);
    try {
      const out = handle.createWriteStream({ highWaterMark: this.#highWaterMark, flush: this.#fsync });
      await pipeline(body, out, options.signal ? { signal: options.signal } : {});
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw directoryInTheWay(error, key);
    } finally {
      untrack();
    }
    return undefined;
  }

  /** A kernel copy (a reflink where the file system has them): no bytes pass through JS. */
  async #writeFromFile(key: string, localPath: string, options: DriverWriteOptions): Promise<undefined> {
    const target = await this.#writeTarget(key);
    const temp = join(dirname(target), tempNameFor(basename(target)));
    const untrack = trackTempFile(temp);
    try {
      options.signal?.throwIfAborted();
      await copyFile(localPath, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      options.signal?.throwIfAborted();
      if (this.#fsync) {
        const handle = await open(temp, 'r+');
        await handle.sync().finally(() => handle.close());
      }
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw directoryInTheWay(error, key);
    } finally {
      untrack();
    }
    return undefined;
  }

  async #readToFile(key: string, localPath: string, options: OperationOptions): Promise<void> {
    const path = await confine(this.root, key);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) throw notFound(key);
    options.signal?.throwIfAborted();
    await copyFile(path, localPath, constants.COPYFILE_FICLONE);
  }

  /**
   * Where a write of `key` lands, its directory created and confined. The common case (the parent
   * exists, the file does not or is a plain file) costs one realpath and one lstat: with many
   * small files, every system call shows.
   */
  async #writeTarget(key: string): Promise<string> {
    const slash = key.lastIndexOf('/');
    const parentKey = slash === -1 ? '' : key.slice(0, slash);
    let parent: string;
    try {
      parent = await realpath(parentKey === '' ? this.root : join(this.root, ...parentKey.split('/')));
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
      parent = await this.#makeDirectory(key, await confine(this.root, parentKey));
    }
    if (!isInside(this.root, parent)) throw escapeError(key);
    const direct = join(parent, key.slice(slash + 1));
    const info = await lstat(direct).catch((error: unknown) => {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return undefined;
      throw error;
    });
    if (!info?.isSymbolicLink()) return direct;
    // A link is written through (its target replaced), and only when the target is inside.
    const real = await resolveReal(direct);
    if (!isInside(this.root, real)) throw escapeError(key);
    await this.#makeDirectory(key, dirname(real));
    return real;
  }

  /** Creates `dir` (a confined real path) and its parents; returns its real path, re-confined. */
  async #makeDirectory(key: string, dir: string): Promise<string> {
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      if (errno(error) === 'EEXIST' || errno(error) === 'ENOTDIR') {
        throw new ArtifactsError(
          'failed_precondition',
          `cannot write artifact ${JSON.stringify(key)}: a parent of it is a file`,
          { cause: error, context: { path: key } },
        );
      }
      throw error;
    }
    // mkdir follows links that may have appeared since they were resolved: check again.
    const real = await realpath(dir);
    if (!isInside(this.root, real)) throw escapeError(key);
    return real;
  }

  async #read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    const path = await confine(this.root, key);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      // O_NOFOLLOW: the resolved path's last segment must not have become a link in the meantime.
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errno(error) ?? '')) throw notFound(key);
      throw error;
    }
    let totalSize: number;
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw notFound(key);
      totalSize = Number(info.size);
    } catch (error) {
      await handle.close();
      throw error;
    }
    const start = options.range?.start ?? 0;
    // An end beyond the last byte is clamped, as HTTP ranges are.
    const end = Math.min(options.range?.end ?? totalSize - 1, totalSize - 1);
    const size = Math.max(0, end - start + 1);
    if (size === 0) {
      await handle.close();
      return { stream: Readable.from([]), size, totalSize };
    }
    const stream = handle.createReadStream({
      start,
      end,
      highWaterMark: this.#highWaterMark,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { stream, size, totalSize };
  }

  async #stat(key: string, _options: OperationOptions): Promise<DriverStat | undefined> {
    const path = await confine(this.root, key);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return undefined;
      throw error;
    }
    if (info.isDirectory()) return { key, isDir: true, lastModified: info.mtime };
    return { key, isDir: false, size: Number(info.size), lastModified: info.mtime };
  }

  write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    return guard(key, () => this.#write(key, body, options));
  }

  read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    return guard(key, () => this.#read(key, options));
  }

  stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    return guard(key, () => this.#stat(key, options));
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    try {
      const dir = await confine(this.root, prefix);
      yield* this.#walk(dir, prefix, options.recursive, new Set(), options.signal);
    } catch (error) {
      throw localError(error, prefix);
    }
  }

  delete(key: string, options: OperationOptions): Promise<void> {
    return guard(key, () => this.#delete(key, options));
  }

  mkdir(key: string, options: OperationOptions): Promise<void> {
    return guard(key, () => this.#mkdir(key, options));
  }

  writeFromFile(key: string, localPath: string, options: DriverWriteOptions): Promise<undefined> {
    return guard(key, () => this.#writeFromFile(key, localPath, options));
  }

  readToFile(key: string, localPath: string, options: OperationOptions): Promise<void> {
    return guard(key, () => this.#readToFile(key, localPath, options));
  }

  copy(fromKey: string, toKey: string, _options: OperationOptions): Promise<void> {
    return guard(toKey, () => this.#copy(fromKey, toKey));
  }

  async *#walk(
    dir: string,
    prefix: string,
    recursive: boolean,
    ancestors: ReadonlySet<string>,
    signal: AbortSignal | undefined,
  ): AsyncIterable<DriverEntry> {
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(dir, { bufferSize: 128 });
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return;
      throw error;
    }
    // A link back to a directory being walked (a loop) is listed but not descended into again.
    const chain = new Set(ancestors).add(dir);
    for await (const entry of handle) {
      signal?.throwIfAborted();
      if (isTempName(entry.name)) continue;
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      let path = join(dir, entry.name);
      let isDir = entry.isDirectory();
      let size: number | undefined;
      if (entry.isSymbolicLink()) {
        // Links are followed only while they stay inside the root; others are not part of the store.
        const real = await resolveReal(path).catch(() => undefined);
        if (real === undefined || !isInside(this.root, real)) continue;
        const info = await stat(real).catch(() => undefined);
        if (!info || !(info.isFile() || info.isDirectory())) continue;
        path = real;
        isDir = info.isDirectory();
        if (!isDir) size = Number(info.size);
      } else if (entry.isFile()) {
        const info = await lstat(path).catch(() => undefined);
        if (!info) continue;
        size = Number(info.size);
      } else if (!isDir) {
        continue;
      }
      yield isDir ? { key, isDir: true } : { key, isDir: false, size: size ?? 0 };
      if (recursive && isDir && !chain.has(path)) yield* this.#walk(path, key, true, chain, signal);
    }
  }

  async #delete(key: string, _options: OperationOptions): Promise<void> {
    if (key === '') {
      // The root itself stays (it may be a mount point); its contents go.
      let handle: Awaited<ReturnType<typeof opendir>>;
      try {
        handle = await opendir(this.root);
      } catch (error) {
        if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return;
        throw error;
      }
      const names: string[] = [];
      for await (const entry of handle) names.push(entry.name);
      await Promise.all(names.map((name) => rm(join(this.root, name), { recursive: true, force: true })));
      return;
    }
    // rm removes a symbolic link itself and never descends through one.
    const path = await confineEntry(this.root, key);
    await rm(path, { recursive: true, force: true });
  }

  async #mkdir(key: string, _options: OperationOptions): Promise<void> {
    const path = await confine(this.root, key);
    try {
      await mkdir(path, { recursive: true });
    } catch (error) {
      if (errno(error) === 'EEXIST' || errno(error) === 'ENOTDIR') {
        throw new ArtifactsError(
          'failed_precondition',
          `cannot create directory ${JSON.stringify(key)}: a file is in the way`,
          { cause: error, context: { path: key } },
        );
      }
      throw error;
    }
  }

  async #copy(fromKey: string, toKey: string): Promise<void> {
    const from = await confine(this.root, fromKey);
    const to = await confine(this.root, toKey);
    const info = await stat(from).catch(() => undefined);
    if (!info?.isFile()) throw notFound(fromKey);
    await mkdir(dirname(to), { recursive: true });
    const temp = join(dirname(to), tempNameFor(basename(to)));
    try {
      // COPYFILE_FICLONE: a reflink where the file system offers one (btrfs, XFS), else a copy.
      await copyFile(from, temp, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
      await rename(temp, to);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {}
}

function directoryInTheWay(error: unknown, key: string): unknown {
  if (errno(error) === 'EISDIR' || errno(error) === 'ENOTEMPTY' || errno(error) === 'EEXIST') {
    return new ArtifactsError(
      'failed_precondition',
      `cannot write artifact ${JSON.stringify(key)}: a directory is at that path`,
      {
        cause: error,
        context: { path: key },
      },
    );
  }
  return error;
}

async function guard<T>(key: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw localError(error, key);
  }
}

/** Maps a failure to an ArtifactsError naming the artifact (relative to the root), not the disk path. */
export function localError(error: unknown, key: string): ArtifactsError {
  if (ArtifactsError.is(error)) return error;
  if (errno(error) === 'ENOENT') return notFound(key);
  return toArtifactsError(error, `artifact ${JSON.stringify(key)}`);
}
