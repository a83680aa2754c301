import { constants } from 'node:fs';
import {
  copyFile,
  type FileHandle,
  lstat,
  open,
  opendir,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbandonedTemps,
  ArtifactsError,
  type CopySource,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  isTempName as isCoreTempName,
  type OperationOptions,
  type StorageDriver,
  type SweepCandidate,
  tempNameFor,
  toArtifactsError,
  trackTempFile,
} from '@artifacts/core';
import {
  type Dir,
  errno,
  HELD_DESCRIPTORS,
  READ_FLAGS,
  type Resolved,
  type ResolveOptions,
  resolveBeneath,
  splitKey,
} from './beneath.js';
import { resolveReal } from './confine.js';
import { PositionalReadStream, ReadBufferPool } from './read-stream.js';

export interface LocalDriverOptions {
  /**
   * Flush each written file to stable storage (fsync) before renaming it into place, so a crash
   * right after a write cannot leave an empty or torn file. Default: `ARTIFACTS_LOCAL_FSYNC`, else
   * false (MLflow does not fsync either, and it costs dearly for many small files).
   */
  fsync?: boolean;
  /** Write buffer size in bytes. Default 1 MiB. */
  highWaterMark?: number;
  /** Read buffer size in bytes (each read stream's chunk). Default 1 MiB. */
  readHighWaterMark?: number;
}

/** Read buffers a driver keeps for reuse when idle (`readHighWaterMark` each). */
const IDLE_READ_BUFFERS = 8;

// The names of versions before core's shared temporary names: still never listed.
const LEGACY_TEMP_PATTERN = /^\..*\.[0-9a-f]{16}\.artifacts-tmp$/;

/** Whether a directory entry is a write in progress (or abandoned): never listed. */
export function isTempName(name: string): boolean {
  return isCoreTempName(name) || LEGACY_TEMP_PATTERN.test(name);
}

function notFound(key: string): ArtifactsError {
  return ArtifactsError.notFound(`artifact ${JSON.stringify(key)}`, { context: { path: key } });
}

/**
 * The local file-system driver: keys are paths below `root`, a real (symlink-free) absolute path.
 * Every operation resolves its target with `resolveBeneath`, component by component from held
 * directory descriptors, and works relative to the directory it holds (see internal/beneath.ts).
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
  readonly #readHighWaterMark: number;
  /** Read buffers given back by their consumers (a server's socket writes), for the next reads. */
  readonly #readBuffers: ReadBufferPool;
  readonly #abandoned = new AbandonedTemps();

  /** Use `LocalDriver.open`, which resolves the root's real path. */
  constructor(
    readonly root: string,
    options: LocalDriverOptions = {},
  ) {
    this.#fsync = options.fsync ?? false;
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
    this.#readHighWaterMark = options.readHighWaterMark ?? 1024 * 1024;
    this.#readBuffers = new ReadBufferPool(this.#readHighWaterMark, IDLE_READ_BUFFERS);
  }

  /** Opens a driver on `path` (which need not exist yet: it is created on the first write). */
  static async open(path: string, options: LocalDriverOptions = {}): Promise<LocalDriver> {
    return new LocalDriver(await resolveReal(path), options);
  }

  /** Runs `use` on where `key` resolves, holding its directory until `use` settles. */
  async #at<T>(key: string, options: ResolveOptions, use: (at: Resolved) => Promise<T>): Promise<T> {
    const at = await resolveBeneath(this.root, key, splitKey(key), options);
    try {
      return await use(at);
    } finally {
      await at.dir.close();
    }
  }

  /**
   * Where a write of `key` lands: its directory (created, held) and name. A link at the name is
   * written through (its target replaced) when the target is inside the root.
   */
  #writeTarget<T>(key: string, use: (dir: Dir, name: string) => Promise<T>): Promise<T> {
    return this.#at(key, { create: true, followLast: true }, async ({ dir, trail, name }) => {
      if (name === undefined) throw directoryInTheWay(Object.assign(new Error(), { code: 'EISDIR' }), key);
      await this.#sweep(dir, trail.join('/'));
      return use(dir, name);
    }).catch((error: unknown) => {
      throw parentIsAFile(error, key);
    });
  }

  /**
   * The first write into a directory (per repository) removes the temporary files that writers
   * killed before they could clean up left there (`kill -9`, a crash), by core's rule (see
   * AbandonedTemps): a live writer's file is never touched.
   */
  async #sweep(dir: Dir, where: string): Promise<void> {
    await this.#abandoned.sweepOnce(
      where,
      {
        list: async () => {
          const entries: SweepCandidate[] = [];
          for await (const entry of await opendir(dir.location)) {
            if (!isTempName(entry.name)) continue;
            const info = await lstat(dir.path(entry.name)).catch(() => undefined);
            if (info) entries.push({ name: entry.name, modified: info.mtime, isFile: info.isFile() });
          }
          return entries;
        },
        remove: (name) => unlink(dir.path(name)).catch(() => undefined),
      },
      // Nothing on a local disk is a broken connection: a failed sweep only waits for the next write.
      () => false,
    );
  }

  /** Renames `temp` onto `name` in the held `dir`, or removes `temp` (in that same directory) on failure. */
  async #commit(dir: Dir, temp: string, name: string, key: string, fill: () => Promise<void>): Promise<void> {
    // A process ending on a signal removes it even while a kernel copy still fills it.
    const untrack = trackTempFile(dir.path(temp));
    try {
      await fill();
      await rename(dir.path(temp), dir.path(name));
    } catch (error) {
      await unlink(dir.path(temp)).catch(() => undefined);
      throw directoryInTheWay(error, key);
    } finally {
      untrack();
    }
  }

  #write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    return this.#writeTarget(key, async (dir, name) => {
      const temp = tempNameFor(name);
      // 'wx' (O_CREAT|O_EXCL) never follows a link planted at the temporary name. Opening before
      // streaming means the file exists by the time a failure removes it.
      const handle = await open(dir.path(temp), 'wx');
      await this.#commit(dir, temp, name, key, async () => {
        const out = handle.createWriteStream({ highWaterMark: this.#highWaterMark, flush: this.#fsync });
        await pipeline(body, out, options.signal ? { signal: options.signal } : {});
      });
      return undefined;
    });
  }

  /** A kernel copy (a reflink where the file system has them): no bytes pass through JS. */
  #writeFromFile(key: string, localPath: string, options: DriverWriteOptions): Promise<undefined> {
    return this.#writeTarget(key, async (dir, name) => {
      const temp = tempNameFor(name);
      await this.#commit(dir, temp, name, key, async () => {
        options.signal?.throwIfAborted();
        await copyFile(localPath, dir.path(temp), constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
        options.signal?.throwIfAborted();
        if (this.#fsync) {
          const handle = await open(dir.path(temp), 'r+');
          await handle.sync().finally(() => handle.close());
        }
      });
      return undefined;
    });
  }

  /**
   * Opens the file `key` for reading, never through a link swapped in after resolution: the open
   * does not follow a final link (O_NOFOLLOW), and a link found there is resolved again, confined.
   */
  async #openFile(
    key: string,
  ): Promise<{ handle: FileHandle; size: number; source: string; lastModified: Date }> {
    for (let attempt = 0; ; attempt++) {
      const opened = await this.#at(key, { followLast: true }, async ({ dir, name }) => {
        if (name === undefined) throw notFound(key);
        let handle: FileHandle;
        try {
          handle = await open(dir.path(name), READ_FLAGS);
        } catch (error) {
          if (errno(error) === 'ELOOP' && attempt < 40) return undefined;
          if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errno(error) ?? '')) throw notFound(key);
          throw error;
        }
        try {
          const info = await handle.stat();
          if (!info.isFile()) throw notFound(key);
          // The descriptor's own name in /proc reopens this very file, wherever its path now leads.
          const source = HELD_DESCRIPTORS ? `/proc/self/fd/${handle.fd}` : dir.path(name);
          return { handle, size: Number(info.size), source, lastModified: info.mtime };
        } catch (error) {
          await handle.close();
          throw error;
        }
      }).catch((error: unknown) => {
        if (['ENOENT', 'ENOTDIR'].includes(errno(error) ?? '')) throw notFound(key);
        throw error;
      });
      if (opened) return opened;
    }
  }

  async #readToFile(key: string, localPath: string, options: OperationOptions): Promise<void> {
    const { handle, source } = await this.#openFile(key);
    try {
      options.signal?.throwIfAborted();
      await copyFile(source, localPath, constants.COPYFILE_FICLONE);
    } finally {
      await handle.close();
    }
  }

  async #read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    const { handle, size: totalSize, lastModified } = await this.#openFile(key);
    const start = options.range?.start ?? 0;
    // An end beyond the last byte is clamped, as HTTP ranges are.
    const end = Math.min(options.range?.end ?? totalSize - 1, totalSize - 1);
    const size = Math.max(0, end - start + 1);
    if (size === 0) {
      await handle.close();
      return { stream: Readable.from([]), size, totalSize, lastModified };
    }
    const stream = new PositionalReadStream(handle, { start, end }, this.#readBuffers, options.signal);
    return { stream, size, totalSize, lastModified };
  }

  async #stat(key: string, _options: OperationOptions): Promise<DriverStat | undefined> {
    try {
      return await this.#at(key, { followLast: true }, async ({ dir, name }) => {
        // lstat: a final link is resolved above; one swapped in since is not followed here.
        const info = name === undefined ? await stat(dir.location) : await lstat(dir.path(name));
        if (info.isDirectory()) return { key, isDir: true, lastModified: info.mtime };
        if (!info.isFile()) return undefined;
        return { key, isDir: false, size: Number(info.size), lastModified: info.mtime };
      });
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return undefined;
      throw error;
    }
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
    let at: Resolved;
    try {
      at = await resolveBeneath(this.root, prefix, splitKey(prefix), { asDirectory: true });
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return;
      throw localError(error, prefix);
    }
    try {
      yield* this.#walk(at.dir, at.trail, prefix, options.recursive, new Set(), options.signal);
    } catch (error) {
      throw localError(error, prefix);
    } finally {
      await at.dir.close();
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

  /** Any two local repositories of this process share a store: the address holds the source's root. */
  locate(key: string): CopySource {
    return { scope: 'file', address: `${this.root}\0${key}` };
  }

  /** A kernel copy, a reflink where the file system offers one; the source resolved within its root. */
  copy(source: CopySource, toKey: string, _options: OperationOptions): Promise<void> {
    const split = source.address.indexOf('\0');
    const root = source.address.slice(0, split);
    const fromKey = source.address.slice(split + 1);
    if (source.scope !== 'file' || split < 0) throw ArtifactsError.invalidArgument('not a local copy source');
    const from = root === this.root ? this : new LocalDriver(root);
    return guard(toKey, () => this.#copy(from, fromKey, toKey));
  }

  /** Lists the held directory `dir` (whose real components below the root are `trail`). */
  async *#walk(
    dir: Dir,
    trail: readonly string[],
    prefix: string,
    recursive: boolean,
    ancestors: ReadonlySet<string>,
    signal: AbortSignal | undefined,
  ): AsyncIterable<DriverEntry> {
    let handle: Awaited<ReturnType<typeof opendir>>;
    try {
      handle = await opendir(dir.location, { bufferSize: 128 });
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return;
      throw error;
    }
    // A link back to a directory being walked (a loop) is listed but not descended into again.
    const chain = new Set(ancestors).add(await dir.identity());
    for await (const entry of handle) {
      signal?.throwIfAborted();
      if (isTempName(entry.name)) continue;
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
      let child: { dir: Dir; trail: string[] } | undefined;
      let size: number | undefined;
      if (entry.isSymbolicLink()) {
        // Links are followed only while they stay inside the root; others are not part of the store.
        const found = await this.#followListed(key, [...trail, entry.name], recursive);
        if (found === undefined) continue;
        ({ child, size } = found);
      } else if (entry.isFile()) {
        const info = await lstat(dir.path(entry.name)).catch(() => undefined);
        if (!info?.isFile()) continue;
        size = Number(info.size);
      } else if (entry.isDirectory()) {
        if (recursive) {
          const opened = await dir.child(entry.name).catch(() => undefined);
          if (opened === undefined) continue;
          child = { dir: opened, trail: [...trail, entry.name] };
        }
      } else {
        continue;
      }
      const isDir = size === undefined;
      try {
        yield isDir ? { key, isDir: true } : { key, isDir: false, size };
        if (child && !chain.has(await child.dir.identity())) {
          yield* this.#walk(child.dir, child.trail, key, true, chain, signal);
        }
      } finally {
        await child?.dir.close();
      }
    }
  }

  /** What a listed link leads to inside the root: a file's size, or a directory (held when `open`). */
  async #followListed(
    key: string,
    parts: string[],
    open: boolean,
  ): Promise<{ child?: { dir: Dir; trail: string[] }; size?: number } | undefined> {
    let at: Resolved;
    try {
      at = await resolveBeneath(this.root, key, parts, { followLast: true });
    } catch {
      return undefined;
    }
    let keep = false;
    try {
      if (at.name === undefined) {
        keep = open;
        return open ? { child: { dir: at.dir, trail: at.trail } } : {};
      }
      const info = await lstat(at.dir.path(at.name)).catch(() => undefined);
      if (info?.isFile()) return { size: Number(info.size) };
      if (!info?.isDirectory()) return undefined;
      if (!open) return {};
      const dir = await at.dir.child(at.name).catch(() => undefined);
      return dir ? { child: { dir, trail: [...at.trail, at.name] } } : undefined;
    } finally {
      if (!keep) await at.dir.close();
    }
  }

  async #delete(key: string, _options: OperationOptions): Promise<void> {
    let at: Resolved;
    try {
      // The last segment is not followed: deleting a link removes the link, never its target.
      at = await resolveBeneath(this.root, key, splitKey(key), { followLast: false });
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return;
      throw error;
    }
    try {
      if (at.name !== undefined) {
        await removeEntry(at.dir, at.name);
        return;
      }
      // The root itself stays (it may be a mount point); its contents go.
      await removeContents(at.dir);
    } finally {
      await at.dir.close();
    }
  }

  async #mkdir(key: string, _options: OperationOptions): Promise<void> {
    try {
      const at = await resolveBeneath(this.root, key, splitKey(key), { asDirectory: true, create: true });
      await at.dir.close();
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

  async #copy(from: LocalDriver, fromKey: string, toKey: string): Promise<void> {
    const { handle, source } = await from.#openFile(fromKey);
    try {
      await this.#writeTarget(toKey, async (dir, name) => {
        const temp = tempNameFor(name);
        // COPYFILE_FICLONE: a reflink where the file system offers one (btrfs, XFS), else a copy.
        await this.#commit(dir, temp, name, toKey, () =>
          copyFile(source, dir.path(temp), constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE),
        );
      });
    } finally {
      await handle.close();
    }
  }

  async close(): Promise<void> {}
}

/**
 * Removes the entry `name` of the held directory `dir`, recursively, never through a link: a
 * directory is opened with O_NOFOLLOW and emptied through its own descriptor, so one swapped for a
 * link meanwhile is unlinked as a link, and nothing outside it is touched.
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
      if (
        !['ENOENT', 'ELOOP', 'ENOTDIR', 'EISDIR', 'EPERM', 'ENOTEMPTY', 'EEXIST'].includes(errno(error) ?? '')
      ) {
        throw error;
      }
      if (attempt === 9) throw error;
    }
  }
}

async function removeContents(dir: Dir): Promise<void> {
  const names: string[] = [];
  for await (const entry of await opendir(dir.location)) names.push(entry.name);
  for (const name of names) await removeEntry(dir, name);
}

function parentIsAFile(error: unknown, key: string): unknown {
  if (errno(error) === 'ENOTDIR' || errno(error) === 'EEXIST') {
    return new ArtifactsError(
      'failed_precondition',
      `cannot write artifact ${JSON.stringify(key)}: a parent of it is a file`,
      { cause: error, context: { path: key } },
    );
  }
  return error;
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
  const code = errno(error);
  if (code === 'ENOENT') return notFound(key);
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
