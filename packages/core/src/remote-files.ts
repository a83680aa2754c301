import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { FILE_TREE_CAPABILITIES } from './capabilities.js';
import {
  type ConnectionFactory,
  ConnectionPool,
  type PoolOptions,
  type UseOptions,
} from './connection-pool.js';
import { forEachLimited } from './delete.js';
import type {
  DriverCapabilities,
  DriverEntry,
  DriverListOptions,
  DriverReadOptions,
  DriverReadResult,
  DriverStat,
  DriverWriteOptions,
  OperationOptions,
  StorageDriver,
} from './driver.js';
import { ArtifactsError, isConnectionError } from './errors.js';
import { describeFileErrors, type FileErrorSpec } from './store-errors.js';
import {
  AbandonedTemps,
  type AtomicReplaceSteps,
  isTempName,
  OrphanTemps,
  replaceAtomically,
  type SweepCandidate,
} from './temp-name.js';

/** A protocol's own signs of a broken connection, beyond core's errno and message table. */
export interface ConnectionSigns {
  /** Error codes (errno strings, protocol status numbers). */
  codes?: Iterable<string | number>;
  /** Messages of a client library that keeps no code. */
  messages?: RegExp;
  /** Any other test of the error object (an FTP 421 reply, an ssh2 `level`). */
  match?: (error: object) => boolean;
}

/**
 * The "is this a broken connection" test of a protocol: core's `isConnectionError`, extended with
 * the protocol's signs, over the error and its causes (an `ArtifactsError` counts through its
 * `cause` only). A broken connection is worth a retry on a fresh one.
 */
export function connectionErrorTest(signs: ConnectionSigns): (error: unknown) => boolean {
  const codes = new Set<string | number>(signs.codes ?? []);
  return (error) => {
    if (isConnectionError(error)) return true;
    let current: unknown = error;
    for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
      if (!ArtifactsError.is(current)) {
        const { code, message } = current as { code?: unknown; message?: unknown };
        if ((typeof code === 'string' || typeof code === 'number') && codes.has(code)) return true;
        if (typeof message === 'string' && signs.messages?.test(message)) return true;
        if (signs.match?.(current)) return true;
      }
      current = (current as { cause?: unknown }).cause;
    }
    return false;
  };
}

/** What `removeFileTree` asks of a file protocol (each call may take its own connection). */
export interface FileTreeIo {
  /**
   * The entries of `dir`; a missing directory lists none. A symbolic link is not a directory: it is
   * removed, never followed.
   */
  list(dir: string): Promise<Iterable<{ name: string; isDir: boolean }>>;
  /** Removes a file (or a link); a missing one counts as removed. */
  removeFile(path: string): Promise<void>;
  /** Removes an empty directory; a missing one counts as removed. */
  removeDir(path: string): Promise<void>;
}

/**
 * Removes everything inside the directory `dir`, not `dir` itself, over a file protocol (FTP, SFTP):
 * the tree is listed first, then up to `concurrency` files are removed at once (one round trip each,
 * so the pool's connections share them), then the directories, each after its children. `.`, `..`
 * and a name with a slash (a confused server could point elsewhere) are never candidates. Stops at
 * the first failure, or when `signal` aborts.
 */
export async function removeFileTree(
  dir: string,
  io: FileTreeIo,
  options: { concurrency: number; signal?: AbortSignal | undefined },
): Promise<void> {
  const files: string[] = [];
  const dirs: string[] = [];
  const walk = async (path: string): Promise<void> => {
    for (const { name, isDir } of await io.list(path)) {
      if (name === '' || name === '.' || name === '..' || name.includes('/')) continue;
      options.signal?.throwIfAborted();
      const child = posix.join(path, name);
      if (!isDir) files.push(child);
      else {
        await walk(child);
        dirs.push(child);
      }
    }
  };
  await walk(dir);
  await forEachLimited(files, options.concurrency, (file) => {
    options.signal?.throwIfAborted();
    return io.removeFile(file);
  });
  for (const child of dirs) {
    options.signal?.throwIfAborted();
    await io.removeDir(child);
  }
}

/** What is at a path of a file protocol: a directory, a file, or nothing (undefined). */
export type PathKind = 'dir' | 'file' | undefined;

/** A directory entry as a file protocol lists it (links already resolved to what they point to). */
export interface FileEntry {
  name: string;
  isDir: boolean;
  /** Bytes; files only, when the listing says. */
  size?: number | undefined;
}

/**
 * The entries below the directory `prefix` (a key) of a file protocol, as `StorageDriver.list`
 * yields them: breadth first, each directory one request (one page of core's retry layer, so a
 * directory that failed with a temporary error is listed again alone). `''`, `.`, `..`, a name with
 * a slash (a confused server could point elsewhere) and temporary names are never entries.
 * `listDirectory` gives the entries of one directory key (none for a missing one or a file), all at
 * once or as it pages through them.
 */
export async function* listFileTree(
  prefix: string,
  options: DriverListOptions,
  listDirectory: (key: string) => Promise<Iterable<FileEntry>> | AsyncIterable<FileEntry>,
): AsyncIterable<DriverEntry> {
  const pending = [prefix];
  while (pending.length > 0) {
    const dir = pending.shift()!;
    const request = async () => listDirectory(dir);
    const entries = await (options.page ? options.page(request) : request());
    for await (const { name, isDir, size } of entries) {
      if (name === '' || name === '.' || name === '..' || name.includes('/') || isTempName(name)) continue;
      const key = dir === '' ? name : `${dir}/${name}`;
      yield isDir ? { key, isDir } : { key, isDir, ...(size === undefined ? {} : { size }) };
      if (isDir && options.recursive) pending.push(key);
    }
  }
}

/** What `makeDirectories` asks of a file protocol. */
export interface MakeDirectoryIo {
  /** Creates one directory whose parent exists; fails when something is there already. */
  mkdir(path: string): Promise<void>;
  kind(path: string): Promise<PathKind>;
  isConnectionError(error: unknown): boolean;
  /** Whether a failed `mkdir` says the parent is missing (saves asking `kind`), when the protocol tells. */
  parentMissing?(error: unknown): boolean;
}

/**
 * Makes the directory `dir` (a POSIX path) and its missing parents, as `mkdir -p`; a directory made
 * meanwhile by another writer is fine, a file in the way is `failed_precondition`. Resolves true
 * when this call created `dir` itself (then no killed writer left anything in it).
 */
export async function makeDirectories(dir: string, io: MakeDirectoryIo): Promise<boolean> {
  if (dir === '/' || dir === '.' || dir === '') return false;
  const attempt = () =>
    io.mkdir(dir).then(
      () => undefined,
      (error: unknown) => {
        if (io.isConnectionError(error)) throw error;
        return error;
      },
    );
  let failure = await attempt();
  if (failure === undefined) return true;
  let kind = io.parentMissing?.(failure) ? undefined : await io.kind(dir);
  if (kind === undefined) {
    await makeDirectories(posix.dirname(dir), io);
    failure = await attempt();
    if (failure === undefined) return true;
    kind = await io.kind(dir);
  }
  // Already there (SFTP v3 reports EEXIST as a generic failure, FTP as a 550), possibly made concurrently.
  if (kind === 'dir') return false;
  if (kind === 'file') {
    throw new ArtifactsError(
      'failed_precondition',
      `cannot create directory ${dir}: a file exists at that path`,
      {
        cause: failure,
      },
    );
  }
  throw failure;
}

/** What `renameOver` asks of a file protocol. */
export interface RenameIo {
  rename(from: string, to: string): Promise<void>;
  kind(path: string): Promise<PathKind>;
  /** Removes the file in the way, for protocols whose rename refuses an existing target. */
  remove(path: string): Promise<void>;
  isConnectionError(error: unknown): boolean;
  /**
   * True when `rename` replaces an existing file by itself (atomically: SFTP's posix-rename). False
   * (SFTP v3, many FTP servers): a refused rename onto an existing file removes it and renames again,
   * which is not atomic (the window is short).
   */
  replaces: boolean;
}

/**
 * Renames a temporary file `from` into place at `to`, replacing a file there; a directory at `to` is
 * `failed_precondition` (a file cannot replace it).
 */
export async function renameOver(from: string, to: string, io: RenameIo): Promise<void> {
  try {
    await io.rename(from, to);
  } catch (error) {
    if (io.isConnectionError(error)) throw error;
    const kind = await io.kind(to).catch(() => undefined);
    if (kind === 'dir') {
      throw new ArtifactsError('failed_precondition', `cannot write ${to}: a directory exists at that path`, {
        cause: error,
      });
    }
    if (kind === undefined || io.replaces) throw error;
    await io.remove(to);
    await io.rename(from, to);
  }
}

/** What `deleteFilePath` asks of a file protocol: `kind` must not follow a link. */
export interface DeletePathIo extends FileTreeIo {
  kind(path: string): Promise<PathKind>;
}

/**
 * Deletes the file or directory tree at `path` (nothing there is no error); `keep` keeps the
 * directory itself, emptied (the repository's root). See `removeFileTree`.
 */
export async function deleteFilePath(
  path: string,
  io: DeletePathIo,
  options: { concurrency: number; signal?: AbortSignal | undefined; keep?: boolean },
): Promise<void> {
  const kind = await io.kind(path);
  if (kind === undefined) return;
  if (kind === 'file') return io.removeFile(path);
  await removeFileTree(path, io, options);
  if (!options.keep) await io.removeDir(path);
}

/** What `RemoteFiles` needs of a connection pool (`ConnectionPool` is one). */
export interface ConnectionUser<C> {
  use<T>(fn: (connection: C) => Promise<T>, options?: UseOptions): Promise<T>;
}

/** For a protocol whose client keeps its own connections (WebHDFS over HTTP): no connection to pass. */
export const NO_CONNECTIONS: ConnectionUser<undefined> = {
  use: async (fn, options) => {
    options?.signal?.throwIfAborted();
    return fn(undefined);
  },
};

/** What a file protocol does for `RemoteFiles`, over one of its connections. */
export interface RemoteFileIo<C> {
  /** Removes a file; a missing one counts as removed. */
  remove(connection: C, path: string): Promise<void>;
  /** The entries of a directory (only temporary names matter); a missing directory lists none. */
  list(connection: C, dir: string): Promise<Iterable<SweepCandidate>>;
  /** True when an error means the connection is gone (what is left is removed over the next one). */
  isConnectionError(error: unknown): boolean;
}

/** One atomic replace over a connection (see `RemoteFiles.write`). */
export interface RemoteReplaceSteps extends AtomicReplaceSteps {
  /**
   * The write's signal aborted mid-way (the caller, or a stall): drop the connection, which fails
   * the requests in flight (a stalled server may never answer them).
   */
  abort?(): void;
}

/**
 * Atomic writes and their temporary files for a file protocol spoken over pooled connections (SFTP,
 * FTP; HDFS with `NO_CONNECTIONS`): each write goes to a temporary name beside its target and is
 * renamed into place (`replaceAtomically`); a temporary file whose connection died before it could be removed is
 * removed over a fresh connection at once or, if the server is not back yet, before the next
 * operation (`use`); the first write into a directory removes the temporary files writers killed
 * mid-upload left there (`AbandonedTemps`). Temporary names are hidden from listings meanwhile.
 */
export class RemoteFiles<C> {
  readonly #orphans = new OrphanTemps();
  readonly #abandoned: AbandonedTemps;

  constructor(
    readonly pool: ConnectionUser<C>,
    readonly io: RemoteFileIo<C>,
    options: { maxAgeMs?: number } = {},
  ) {
    this.#abandoned = new AbandonedTemps(options);
  }

  /** Temporary files waiting to be removed over a healthy connection. */
  get orphans(): number {
    return this.#orphans.size;
  }

  /** Records that the writer has just created `dir`: nothing was abandoned there. */
  markSwept(dir: string): void {
    this.#abandoned.markSwept(dir);
  }

  /**
   * `pool.use`, first removing temporary files left by writes whose connection died. The pool never
   * runs `fn` again after a broken connection: the driver marks that failure temporary and core's
   * retry layer, the one place for retries, repeats the call. Only `signal` is taken from `options`:
   * a `retry` (a write's or read's options carry core's retry policy) is refused by the type and
   * ignored by the code, so it can never turn the pool's own retry back on.
   */
  use<T>(
    fn: (connection: C) => Promise<T>,
    options: { signal?: AbortSignal | undefined; retry?: never } = {},
  ): Promise<T> {
    const once: UseOptions = { retry: () => false, ...(options.signal ? { signal: options.signal } : {}) };
    if (this.#orphans.size === 0) return this.pool.use(fn, once);
    return this.pool.use(async (connection) => {
      await this.#sweep(connection);
      return fn(connection);
    }, once);
  }

  /**
   * Replaces `target` with `body` atomically over a pooled connection, with the steps `prepare`
   * gives for that connection. Nothing here tries again: core's retry layer repeats a write whose
   * body was not read, and one whose body was partly sent fails cleanly, its temporary file removed.
   */
  async write(
    target: string,
    options: { signal?: AbortSignal | undefined },
    prepare: (connection: C) => Promise<RemoteReplaceSteps> | RemoteReplaceSteps,
  ): Promise<void> {
    const { signal } = options;
    try {
      await this.use(
        async (connection) => {
          const steps = await prepare(connection);
          const onAbort = () => steps.abort?.();
          signal?.addEventListener('abort', onAbort, { once: true });
          try {
            await replaceAtomically(target, steps, { orphans: this.#orphans, ...(signal ? { signal } : {}) });
          } finally {
            signal?.removeEventListener('abort', onAbort);
          }
          // The write landed: a failed sweep is no failure of it (the next write tries again).
          await this.#sweepAbandoned(connection, posix.dirname(target)).catch(() => undefined);
        },
        signal ? { signal } : {},
      );
    } catch (error) {
      // After an abort (a stalled server, likely still stalled) the next operation removes them.
      if (this.#orphans.size > 0 && !signal?.aborted) {
        await this.pool
          .use((connection) => this.#sweep(connection), {
            signal: AbortSignal.timeout(5000),
            retry: () => false,
          })
          .catch(() => undefined);
      }
      throw error;
    }
  }

  #sweep(connection: C): Promise<void> {
    return this.#orphans.sweep(
      (temp) => this.io.remove(connection, temp),
      (error) => this.io.isConnectionError(error),
    );
  }

  #sweepAbandoned(connection: C, dir: string): Promise<string[]> {
    return this.#abandoned.sweepOnce(
      dir,
      {
        // A name with a slash (a confused server) could point elsewhere: never a candidate.
        list: async () => [...(await this.io.list(connection, dir))].filter((e) => !e.name.includes('/')),
        remove: (name) => this.io.remove(connection, posix.join(dir, name)),
      },
      (error) => this.io.isConnectionError(error),
    );
  }
}

/** What a file protocol tells of a path: a directory, or a file with its size when known. */
export interface PathInfo {
  isDir: boolean;
  size?: number | undefined;
  modified?: Date | undefined;
}

/** A directory entry as a file protocol lists it, links not yet resolved. */
export interface ListedEntry extends PathInfo {
  name: string;
  /** A symbolic link: listed as what it points to, removed (never followed) by a delete. */
  isLink?: boolean;
}

/**
 * The driver of a file protocol spoken over pooled connections (SFTP, FTP): keys are paths below
 * `root`. The protocol gives its primitives over one connection (`info`, `entries`, `makeDirectory`,
 * `rename`, `removeFile`, `removeDir`) and its error table (`FileErrorSpec`), and writes its own `read`
 * and `write` (through `files`); stat, listing (links described as what they point to), recursive
 * delete, mkdir, atomic replace and the temporary files of dead connections are this class's.
 */
export abstract class PooledFileDriver<C> implements StorageDriver {
  readonly capabilities: DriverCapabilities = FILE_TREE_CAPABILITIES;
  readonly secrets: readonly string[];
  readonly pool: ConnectionPool<C>;
  /** Atomic writes, and the temporary files of dead connections and killed writers. */
  protected readonly files: RemoteFiles<C>;
  protected readonly root: string;
  protected readonly label: string;
  readonly #isConnectionError: (error: unknown) => boolean;
  readonly #multiplexed: boolean;
  readonly #describe: (error: unknown, what: string) => unknown;

  /**
   * `settings` may be a backend's whole settings (credentials included): the pool keeps only its own
   * four options. `errors` is the protocol's error table (`describeFileErrors`); a broken connection
   * is what the factory's `isConnectionError` says unless the table says otherwise.
   */
  constructor(
    factory: ConnectionFactory<C>,
    settings: PoolOptions & { root: string; secrets: readonly string[] },
    errors: FileErrorSpec,
  ) {
    this.root = settings.root;
    this.label = settings.label;
    this.secrets = settings.secrets;
    this.#isConnectionError = factory.isConnectionError;
    this.#multiplexed = settings.operationsPerConnection > 1;
    this.#describe = describeFileErrors({ dropped: factory.isConnectionError, ...errors });
    this.pool = new ConnectionPool(factory, settings);
    this.files = new RemoteFiles(this.pool, {
      remove: (connection, path) => this.removeFile(connection, path),
      list: async (connection, dir) =>
        ((await this.entries(connection, dir)) ?? []).map((entry) => ({
          name: entry.name,
          isFile: !entry.isDir && !entry.isLink,
          ...(entry.modified ? { modified: entry.modified.getTime() } : {}),
        })),
      isConnectionError: this.#isConnectionError,
    });
  }

  /** What is at `path`, a link followed when `follow` (else described as a file); undefined: nothing. */
  protected abstract info(connection: C, path: string, follow: boolean): Promise<PathInfo | undefined>;
  /** The entries of the directory `dir`; undefined (or none) for a missing path or a file. */
  protected abstract entries(connection: C, dir: string): Promise<ListedEntry[] | undefined>;
  /** Creates one directory whose parent exists. */
  protected abstract makeDirectory(connection: C, path: string): Promise<void>;
  /** Renames a file; `replaces(connection)` says whether it replaces an existing target by itself. */
  protected abstract rename(connection: C, from: string, to: string): Promise<void>;
  protected abstract replaces(connection: C): boolean;
  /** Removes a file (or a link); a missing one counts as removed. */
  protected abstract removeFile(connection: C, path: string): Promise<void>;
  /** Removes an empty directory; a missing one counts as removed. */
  protected abstract removeDir(connection: C, path: string): Promise<void>;
  /**
   * The protocol's failure as an ArtifactsError (`what`: "reading /a/b on sftp://…"), by its error
   * table; what the table does not explain passes as it is (core's `toArtifactsError` wraps it).
   */
  protected fail(error: unknown, what: string): unknown {
    return this.#describe(error, what);
  }
  /** Files a recursive delete removes at once. */
  protected abstract readonly deleteConcurrency: number;
  /** Whether a failed `makeDirectory` says the parent is missing (saves asking `info`), if the protocol tells. */
  protected parentMissing(_error: unknown): boolean {
    return false;
  }

  abstract read(key: string, options: DriverReadOptions): Promise<DriverReadResult>;
  abstract write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined>;

  protected path(key: string): string {
    return key === '' ? this.root : posix.join(this.root, key);
  }

  /** Runs `fn` as `what`, its failure mapped by `fail`. */
  protected async run<T>(what: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.fail(error, `${what} ${path} on ${this.label}`);
    }
  }

  /**
   * Core's file-tree helpers over one connection. `follow`: a link to a directory counts as one
   * (making directories); otherwise a link is a file (replacing, deleting: removed, never followed).
   */
  protected io(connection: C, follow = false): MakeDirectoryIo & RenameIo {
    return {
      kind: async (path) => {
        const info = await this.info(connection, path, follow);
        return info === undefined ? undefined : info.isDir ? 'dir' : 'file';
      },
      isConnectionError: this.#isConnectionError,
      mkdir: (path) => this.makeDirectory(connection, path),
      parentMissing: (error) => this.parentMissing(error),
      replaces: this.replaces(connection),
      rename: (from, to) => this.rename(connection, from, to),
      remove: (path) => this.removeFile(connection, path),
    };
  }

  /** Makes `dir` and its missing parents; true when this call created `dir` itself. */
  protected makeDirectories(connection: C, dir: string): Promise<boolean> {
    return makeDirectories(dir, this.io(connection, true));
  }

  stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const path = this.path(key);
    return this.run('reading', path, async () => {
      const info = await this.files.use((connection) => this.info(connection, path, true), options);
      if (!info) return undefined;
      return {
        key,
        isDir: info.isDir,
        ...(info.isDir || info.size === undefined ? {} : { size: info.size }),
        ...(info.modified ? { lastModified: info.modified } : {}),
      };
    });
  }

  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return listFileTree(prefix, options, (key) => {
      const path = this.path(key);
      return this.run('listing', path, () =>
        this.files.use(async (connection) => {
          const entries = await Promise.all(
            ((await this.entries(connection, path)) ?? []).map(async (entry) => {
              if (!entry.isLink) return entry;
              if (entry.name.includes('/')) return undefined;
              // A link is described as what it points to, as `ls -L` would; a dangling one is left out.
              const target = await this.info(connection, posix.join(path, entry.name), true).catch(
                (error: unknown) => {
                  if (this.#isConnectionError(error)) throw error;
                  return undefined;
                },
              );
              return target && { ...target, name: entry.name };
            }),
          );
          return entries.filter((entry) => entry !== undefined);
        }, options),
      );
    });
  }

  /**
   * The file or the whole tree at `key` (the repository root itself stays, emptied): the tree is
   * listed first, then `deleteConcurrency` files are removed at once, then the directories, each
   * after its children. A protocol that multiplexes requests on a connection (SFTP) does it all over
   * one; one that runs a command at a time (FTP) over every pooled connection, one step each.
   */
  delete(key: string, options: OperationOptions): Promise<void> {
    const path = this.path(key);
    const tree = (use: <T>(fn: (connection: C) => Promise<T>) => Promise<T>) =>
      deleteFilePath(
        path,
        {
          kind: (p) => use((connection) => this.io(connection).kind(p)),
          list: (dir) =>
            use(async (connection) =>
              ((await this.entries(connection, dir)) ?? []).map(({ name, isDir, isLink }) => ({
                name,
                isDir: isDir && !isLink,
              })),
            ),
          removeFile: (file) => use((connection) => this.removeFile(connection, file)),
          removeDir: (dir) => use((connection) => this.removeDir(connection, dir)),
        },
        { concurrency: this.deleteConcurrency, signal: options.signal, keep: key === '' },
      );
    return this.run('deleting', path, () =>
      this.#multiplexed
        ? this.files.use((connection) => tree((fn) => fn(connection)), options)
        : tree((fn) => this.files.use(fn, options)),
    );
  }

  mkdir(key: string, options: OperationOptions): Promise<void> {
    const path = this.path(key);
    return this.run('creating directory', path, async () => {
      await this.files.use((connection) => this.makeDirectories(connection, path), options);
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
