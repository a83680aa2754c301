import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, type Stats } from 'node:fs';
import { copyFile, type FileHandle, lstat, open, opendir, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbandonedTemps,
  ArtifactsError,
  type CopySource,
  copyFileSync,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  FILE_TREE_CAPABILITIES,
  FileBody,
  type FileEntry,
  intoTempFile,
  intoTempFileSync,
  isTempFileName,
  joinKey,
  listFileTree,
  localSweepDirectory,
  type OperationOptions,
  onLocalDisk,
  parentKey,
  ReadBufferPool,
  type ReadToFileOptions,
  releaseWritten,
  type SettingsValues,
  type StorageDriver,
  toArtifactsError,
} from '@artifacts/core';
import type { localSettings } from '../plugin.js';
import {
  type Dir,
  errno,
  HELD_DESCRIPTORS,
  READ_FLAGS,
  REMEMBERED,
  type Resolved,
  type ResolveOptions,
  resolveBeneath,
  resolveReal,
  SharedDirs,
  splitKey,
} from './beneath.js';

/** The driver's options: `localSettings` (plugin.ts) declares each, its default and its variable. */
export type LocalDriverOptions = Partial<SettingsValues<typeof localSettings.specs>>;

type OpenedFile = { handle?: FileHandle; fd: number; size: number; source: string; mtime: Date };
/** Entries of one directory whose sizes a listing asks for at once. */
const STAT_BATCH = 64;

/** Read buffers a driver keeps for reuse when idle (`readHighWaterMark` each). */
const IDLE_READ_BUFFERS = 8;

/** Files up to this size are copied on the main thread between local disks (see `writeFromFile`). */
const INLINE_COPY_MAX = 128 * 1024;

/** O_EXCL: a temporary name never follows a link planted there; FICLONE: a reflink where offered. */
const COPY_FLAGS = constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE;

/**
 * The local file-system driver: keys are paths below `root`, a real (symlink-free) absolute path.
 * Every operation resolves its target with `resolveBeneath`, component by component from held
 * directory descriptors, and works relative to the directory it holds (see internal/beneath.ts).
 */
export class LocalDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities = { ...FILE_TREE_CAPABILITIES, serverSideCopy: true };

  readonly #fsync: boolean;
  readonly #highWaterMark: number;
  /** Read buffers given back by their consumers (a server's socket writes), for the next reads. */
  readonly #readBuffers: ReadBufferPool;
  readonly #abandoned = new AbandonedTemps();
  readonly #shared = new SharedDirs();
  /** Whether a directory (the root, a source file's) is on a local disk, asked once each. */
  readonly #disks = new Map<string, Promise<boolean>>();

  /** Use `LocalDriver.open`, which resolves the root's real path. */
  constructor(
    readonly root: string,
    options: LocalDriverOptions = {},
  ) {
    this.#fsync = options.fsync ?? false;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.#readBuffers = new ReadBufferPool(options.readHighWaterMark ?? 1024 * 1024, IDLE_READ_BUFFERS);
  }

  /** Opens a driver on `path` (which need not exist yet: it is created on the first write). */
  static async open(path: string, options: LocalDriverOptions = {}): Promise<LocalDriver> {
    return new LocalDriver(await resolveReal(path), options);
  }

  /** Runs `use` on where `key` resolves, holding its directory until `use` settles. */
  async #at<T>(key: string, options: ResolveOptions, use: (at: Resolved) => Promise<T>): Promise<T> {
    const at = await resolveBeneath(this.root, key, splitKey(key), { ...options, shared: this.#shared });
    try {
      return await use(at);
    } finally {
      await at.dir.close();
    }
  }

  /**
   * Writes `key` atomically (core's `intoTempFile`): `fill` writes a fresh temporary file beside it,
   * renamed over the name or removed on failure; `inline` does it synchronously (`intoTempFileSync`)
   * in a directory on a local disk. A link at the name is written through if its target is inside the
   * root. The first write into a directory (per repository) removes what killed writers left there,
   * by core's rule (AbandonedTemps): a live writer's file is never touched.
   */
  #replace(key: string, fill: Parameters<typeof intoTempFile>[1], inline?: (temp: string) => void) {
    return this.#at(key, { create: true, followLast: true }, async ({ dir, trail, name, created }) => {
      if (name === undefined) throw inTheWay({ code: 'EISDIR' }, key, DIRECTORY_IN_THE_WAY);
      // A directory this write made holds nothing left by killed writers; nothing on a local disk
      // is a broken connection: a failed sweep only waits for the next write.
      if (created) this.#abandoned.markSwept(trail.join('/'));
      else await this.#abandoned.sweepOnce(trail.join('/'), localSweepDirectory(dir.location), () => false);
      try {
        // The directory written into, not the root: a mount inside the store (NFS, FUSE) is another disk.
        if (inline && (await this.#onLocalDisk(trail))) intoTempFileSync(dir.path(name), inline);
        else await intoTempFile(dir.path(name), fill, { fsync: this.#fsync });
      } catch (error) {
        throw inTheWay(error, key, DIRECTORY_IN_THE_WAY);
      }
      return undefined;
    }).catch((error: unknown) => {
      throw inTheWay(error, key, PARENT_IS_A_FILE);
    });
  }

  /**
   * Whether a directory (by its real path, or the store's by its `trail` below the root) is on a
   * local disk, by core's `onLocalDisk`, asked once each.
   */
  #onLocalDisk(where: string | readonly string[]): Promise<boolean> {
    const path = typeof where === 'string' ? where : join(this.root, ...where);
    if (this.#disks.size >= REMEMBERED) this.#disks.clear();
    const known = this.#disks.get(path) ?? onLocalDisk(path);
    this.#disks.set(path, known);
    return known;
  }

  /**
   * Opens the file `key` for reading, never through a link swapped in after resolution: the open
   * does not follow a final link (O_NOFOLLOW), and a link found there is resolved again, confined.
   * `sync`: on a local disk, opened and checked synchronously (no `handle`: `closeSync(fd)` it).
   */
  #openFile(key: string): Promise<Required<OpenedFile>>;
  #openFile(key: string, sync: true): Promise<OpenedFile>;
  async #openFile(key: string, sync = false): Promise<OpenedFile> {
    for (let attempt = 0; ; attempt++) {
      // The first attempt opens the name as it is; only a link there (ELOOP) is resolved by the walk.
      const opened = await this.#at(key, { followLast: attempt > 0 }, async ({ dir, trail, name }) => {
        if (name === undefined) throw notFound(key);
        const local = sync && (await this.#onLocalDisk(trail));
        let handle: FileHandle | undefined;
        let fd: number;
        try {
          handle = local ? undefined : await open(dir.path(name), READ_FLAGS);
          fd = handle ? handle.fd : openSync(dir.path(name), READ_FLAGS);
        } catch (error) {
          if (errno(error) === 'ELOOP' && attempt < 40) return undefined;
          throw missing(error) || errno(error) === 'ELOOP' ? notFound(key) : error;
        }
        try {
          const info = handle ? await handle.stat() : fstatSync(fd);
          if (!info.isFile()) throw notFound(key);
          // The descriptor's own name in /proc reopens this very file, wherever its path now leads.
          const source = HELD_DESCRIPTORS ? `/proc/self/fd/${fd}` : dir.path(name);
          return { handle, fd, size: Number(info.size), source, mtime: info.mtime };
        } catch (error) {
          await (handle ? handle.close() : closeSync(fd));
          throw error;
        }
      });
      if (opened) return opened;
    }
  }

  write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    return guard(key, () =>
      this.#replace(key, async (temp, opened) => {
        // 'wx' (O_CREAT|O_EXCL) never follows a link planted at the temporary name. A chunk lent by its
        // producer (core's RELEASE_CHUNK) is freed once the file has its bytes, not left to the GC.
        const handle = await open(temp, 'wx');
        const out = releaseWritten(handle.createWriteStream({ highWaterMark: this.#highWaterMark }));
        opened(out);
        await pipeline(body, out, options.signal ? { signal: options.signal } : {});
      }),
    );
  }

  /**
   * A kernel copy (a reflink where offered). A small file between local disks is copied and renamed
   * synchronously (microseconds against two thread-pool round trips); others are copied off the thread.
   */
  writeFromFile(key: string, localPath: string, options: DriverWriteOptions): Promise<undefined> {
    return guard(key, async () => {
      options.signal?.throwIfAborted();
      const small = !this.#fsync && (options.size ?? Number.POSITIVE_INFINITY) <= INLINE_COPY_MAX;
      const inline = small && (await this.#onLocalDisk(dirname(localPath)));
      return this.#replace(
        key,
        async (temp) => {
          await copyFile(localPath, temp, COPY_FLAGS);
          options.signal?.throwIfAborted();
        },
        inline ? (temp) => copyFileSync(localPath, temp) : undefined,
      );
    });
  }

  read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    return guard(key, async () => {
      const { handle, size: totalSize, mtime: lastModified } = await this.#openFile(key);
      const start = options.range?.start ?? 0;
      // An end beyond the last byte is clamped, as HTTP ranges are.
      const end = Math.min(options.range?.end ?? totalSize - 1, totalSize - 1);
      const size = Math.max(0, end - start + 1);
      // Core's one reader of local files, on the descriptor opened above (never the path again).
      const stream = new FileBody(key, size, {
        handle,
        start,
        buffers: this.#readBuffers,
        signal: options.signal,
      });
      return { stream, size, totalSize, lastModified };
    });
  }

  /**
   * A kernel copy (a reflink where offered). On a local disk the file is opened and checked, and a
   * small one copied into a local disk, synchronously (see `writeFromFile`): no thread-pool round trip.
   */
  readToFile(key: string, localPath: string, options: ReadToFileOptions): Promise<void> {
    return guard(key, async () => {
      const inline = await this.#onLocalDisk(dirname(localPath));
      const { handle, fd, source, size } = await this.#openFile(key, true);
      try {
        options.signal?.throwIfAborted();
        if (inline && !handle && size <= INLINE_COPY_MAX) copyFileSync(source, localPath);
        else await copyFile(source, localPath, constants.COPYFILE_FICLONE);
      } finally {
        await (handle ? handle.close() : closeSync(fd));
      }
      // The copy is whole (copyFile fails otherwise): core need not stat the file for progress.
      options.onBytes?.(size);
    });
  }

  stat(key: string, _options: OperationOptions): Promise<DriverStat | undefined> {
    return guard(key, async () => {
      const info = await this.#followed(key).catch(unlessMissing(undefined));
      if (info?.isDirectory()) return { key, isDir: true, lastModified: info.mtime };
      if (!info?.isFile()) return undefined;
      return { key, isDir: false, size: Number(info.size), lastModified: info.mtime };
    });
  }

  /**
   * Core's walk of a file tree, one directory at a time, each resolved from the root as any key. A
   * directory reached again through a link (one of its ancestors: a loop) is listed, not descended into.
   */
  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const listed = new Map<string, string>();
    return listFileTree(prefix, options, (key) =>
      guard(key, async () => {
        options.signal?.throwIfAborted();
        return this.#at(key, { asDirectory: true }, async ({ dir, trail }) => {
          const identity = await dir.identity();
          for (let up = key; up !== prefix && up !== ''; ) {
            up = parentKey(up);
            if (listed.get(up) === identity) return [];
          }
          listed.set(key, identity);
          return this.#entries(dir, key, await this.#onLocalDisk(trail));
        }).catch(unlessMissing([]));
      }),
    );
  }

  /**
   * The entries of the held directory `dir` (the key `key`) that are part of the store; on a local
   * disk read and stat'ed synchronously, faster than thread-pool round trips (as core's walk does).
   */
  async #entries(dir: Dir, key: string, local: boolean): Promise<FileEntry[]> {
    const names: Array<{ name: string; kind: 'dir' | 'file' | 'link' }> = [];
    const listing = local
      ? readdirSync(dir.location, { withFileTypes: true })
      : opendir(dir.location, { bufferSize: 128 });
    for await (const entry of await listing) {
      const { name } = entry;
      if (isTempFileName(name)) continue;
      if (entry.isDirectory()) names.push({ name, kind: 'dir' });
      else if (entry.isFile()) names.push({ name, kind: 'file' });
      else if (entry.isSymbolicLink()) names.push({ name, kind: 'link' });
    }
    // Elsewhere sizes are asked a batch at a time: one round of the thread pool per batch, not per file.
    const entries: FileEntry[] = [];
    const statOf = local ? (path: string) => Promise.resolve(path).then(lstatSync) : lstat;
    for (let at = 0; at < names.length; at += STAT_BATCH) {
      const batch = names.slice(at, at + STAT_BATCH);
      const found = await Promise.all(
        batch.map(({ name, kind }) =>
          kind === 'dir'
            ? undefined
            : // Links are followed only while they stay inside the root; others are not part of the store.
              kind === 'link'
              ? this.#followed(joinKey(key, name)).catch(() => undefined)
              : statOf(dir.path(name)).catch(() => undefined),
        ),
      );
      batch.forEach(({ name, kind }, i) => {
        const info = found[i];
        if (kind === 'dir' || info?.isDirectory()) entries.push({ name, isDir: true });
        else if (info?.isFile()) entries.push({ name, isDir: false, size: Number(info.size) });
      });
    }
    return entries;
  }

  /** What `key` leads to, links followed inside the root; a final link swapped in since is not (lstat). */
  #followed(key: string): Promise<Stats> {
    return this.#at(key, { followLast: true }, async ({ dir, name }) =>
      name === undefined ? stat(dir.location) : lstat(dir.path(name)),
    );
  }

  delete(key: string, _options: OperationOptions): Promise<void> {
    return guard(key, async () => {
      // The last segment is not followed: deleting a link removes the link, never its target.
      const at = await resolveBeneath(this.root, key, splitKey(key)).catch(unlessMissing(undefined));
      if (!at) return;
      try {
        // The root itself stays (it may be a mount point); its contents go.
        await (at.name === undefined ? removeContents(at.dir) : removeEntry(at.dir, at.name));
      } finally {
        await at.dir.close();
      }
    });
  }

  mkdir(key: string, _options: OperationOptions): Promise<void> {
    return guard(key, () =>
      this.#at(key, { asDirectory: true, create: true }, async () => undefined).catch((error: unknown) => {
        throw inTheWay(error, key, FILE_IN_THE_WAY);
      }),
    );
  }

  /** Any two local repositories of this process share a store: the address holds the source's root. */
  locate(key: string): CopySource {
    return { scope: 'file', address: `${this.root}\0${key}` };
  }

  /** A kernel copy, a reflink where the file system offers one; the source resolved within its root. */
  copy(source: CopySource, toKey: string, _options: OperationOptions): Promise<void> {
    const split = source.address.indexOf('\0');
    if (source.scope !== 'file' || split < 0) throw ArtifactsError.invalidArgument('not a local copy source');
    const root = source.address.slice(0, split);
    const from = root === this.root ? this : new LocalDriver(root);
    return guard(toKey, async () => {
      const { handle, source: file } = await from.#openFile(source.address.slice(split + 1));
      try {
        // COPYFILE_FICLONE: a reflink where the file system offers one (btrfs, XFS), else a copy.
        await this.#replace(toKey, (temp) => copyFile(file, temp, COPY_FLAGS));
      } finally {
        await handle.close();
      }
    });
  }

  async close(): Promise<void> {}
}

const REPLACED = ['ENOENT', 'ELOOP', 'ENOTDIR', 'EISDIR', 'EPERM', 'ENOTEMPTY', 'EEXIST'];

/**
 * Removes the entry `name` of the held directory `dir`, recursively, never through a link: a directory
 * is opened O_NOFOLLOW and emptied through its descriptor (one swapped for a link is unlinked as one).
 */
async function removeEntry(dir: Dir, name: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const info = await lstat(dir.path(name)).catch((error: unknown) => {
      if (errno(error) === 'ENOENT') return undefined;
      throw error;
    });
    if (!info) return;
    try {
      if (!info.isDirectory()) {
        await unlink(dir.path(name));
        return;
      }
      const child = await dir.child(name);
      try {
        await removeContents(child);
      } finally {
        await child.close();
      }
      await rmdir(dir.path(name));
      return;
    } catch (error) {
      // Replaced (a link for a directory, a file for a link, a new entry inside) since the lstat.
      if (!REPLACED.includes(errno(error) ?? '') || attempt === 9) throw error;
    }
  }
}

async function removeContents(dir: Dir): Promise<void> {
  const names: string[] = [];
  for await (const entry of await opendir(dir.location)) names.push(entry.name);
  for (const name of names) await removeEntry(dir, name);
}

/** What stops a write (or mkdir) when the system answers with one of `codes`. */
const PARENT_IS_A_FILE = { codes: ['ENOTDIR', 'EEXIST'], why: 'a parent of it is a file' };
const DIRECTORY_IN_THE_WAY = { codes: ['EISDIR', 'ENOTEMPTY', 'EEXIST'], why: 'a directory is at that path' };
const FILE_IN_THE_WAY = {
  codes: ['EEXIST', 'ENOTDIR'],
  why: 'a file is in the way',
  doing: 'create directory',
};

function inTheWay(
  error: unknown,
  key: string,
  { codes, why, doing = 'write artifact' }: { codes: string[]; why: string; doing?: string },
): unknown {
  if (!codes.includes(errno(error) ?? '')) return error;
  return new ArtifactsError('failed_precondition', `cannot ${doing} ${JSON.stringify(key)}: ${why}`, {
    cause: error,
    context: { path: key },
  });
}

function notFound(key: string): ArtifactsError {
  return ArtifactsError.notFound(`artifact ${JSON.stringify(key)}`, { context: { path: key } });
}

/** Nothing there: the entry, or a directory on the way to it, does not exist (or is a file). */
function missing(error: unknown): boolean {
  return errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR';
}

/** A rejection handler: `value` when nothing is there, else the error again. */
function unlessMissing<T>(value: T): (error: unknown) => T {
  return (error) => {
    if (missing(error)) return value;
    throw error;
  };
}

async function guard<T>(key: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw localError(error, key);
  }
}

/** Maps a failure to an ArtifactsError naming the artifact (relative to the root), not the disk path. */
function localError(error: unknown, key: string): ArtifactsError {
  if (ArtifactsError.is(error)) return error;
  const code = errno(error);
  if (missing(error)) return notFound(key);
  if (code === 'ELOOP') {
    return new ArtifactsError(
      'failed_precondition',
      `artifact ${JSON.stringify(key)}: too many levels of symbolic links`,
      { cause: error, context: { path: key } },
    );
  }
  // A system error's own message names the disk path (here, /proc/self/fd/N/…): keep only its code.
  const bare = code
    ? Object.assign(new Error(`${code} (${(error as { syscall?: string }).syscall ?? 'fs'})`), { code })
    : error;
  return toArtifactsError(bare, `artifact ${JSON.stringify(key)}`);
}
