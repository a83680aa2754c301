import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  ConnectionPool,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  FILE_TREE_CAPABILITIES,
  forEachLimited,
  isTempName,
  type OperationOptions,
  RemoteFiles,
  type StorageDriver,
} from '@artifacts/core';
import type { Stats } from 'ssh2';
import { isConnectionError, SFTP_STATUS, type SftpConnection, SftpConnectionFactory } from './connection.js';
import { sftpError, statusOf } from './errors.js';
import type { SftpSettings } from './settings.js';
import {
  closeHandle,
  fstat,
  lstat,
  mkdir,
  open,
  posixRename,
  readdir,
  readTuning,
  rename,
  rmdir,
  SftpReadStream,
  stat,
  unlink,
  writeFromStream,
} from './sftp-io.js';

/** Entries removed concurrently per directory by a recursive delete (requests on one channel). */
const DELETE_CONCURRENCY = 32;

/** The SFTP StorageDriver: keys are paths below the repository's root directory. */
export class SftpDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities = FILE_TREE_CAPABILITIES;
  readonly secrets: readonly string[];
  readonly pool: ConnectionPool<SftpConnection>;
  readonly #settings: SftpSettings;
  /** Atomic writes, and the temporary files of dead connections and killed writers. */
  readonly #files: RemoteFiles<SftpConnection>;

  constructor(settings: SftpSettings) {
    this.#settings = settings;
    this.secrets = settings.secrets;
    this.pool = new ConnectionPool(new SftpConnectionFactory(settings), {
      maxConnections: settings.maxConnections,
      operationsPerConnection: settings.operationsPerConnection,
      idleTimeoutMs: settings.idleTimeoutMs,
      label: settings.label,
    });
    this.#files = new RemoteFiles(this.pool, {
      remove: (connection, path) => ignoreMissing(unlink(connection, path)),
      list: async (connection, dir) =>
        (await unlessMissing(readdir(connection, dir), [])).map(({ filename, attrs }) => ({
          name: filename,
          modified: attrs.mtime * 1000,
          isFile: attrs.isFile(),
        })),
      isConnectionError,
    });
  }

  #path(key: string): string {
    return key === '' ? this.#settings.root : posix.join(this.#settings.root, key);
  }

  #tuning() {
    return { requests: this.#settings.requestsPerTransfer, chunkSize: this.#settings.chunkSize };
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const target = this.#path(key);
    const dir = posix.dirname(target);
    try {
      await this.#files.write(target, options, (connection) => {
        let handle: Buffer | undefined;
        return {
          // Aborted (by the caller or the stall timeout) with writes in flight: their answers may
          // never come (a stalled server), and the session cannot be used until they do.
          abort: () => connection.client.destroy(),
          write: async (temp) => {
            try {
              handle = await open(connection, temp, 'w');
            } catch (error) {
              if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
              await this.#mkdirp(connection, dir);
              // It did not exist a moment ago: no killed writer left anything there.
              this.#files.markSwept(dir);
              handle = await open(connection, temp, 'w');
            }
            options.signal?.throwIfAborted();
            await writeFromStream(connection, handle, body, this.#tuning());
            const written = handle;
            handle = undefined;
            await closeHandle(connection, written);
          },
          rename: (temp) => this.#rename(connection, temp, target),
          remove: async (temp) => {
            // A dead connection cannot remove it: RemoteFiles does, over the next one.
            if (connection.life.dead) throw new Error('connection lost');
            if (handle) await closeHandle(connection, handle).catch(() => undefined);
            await ignoreMissing(unlink(connection, temp));
          },
        };
      });
    } catch (error) {
      throw sftpError(error, `writing ${target} on ${this.#settings.label}`);
    }
    return undefined;
  }

  async #rename(connection: SftpConnection, from: string, to: string): Promise<void> {
    if (connection.posixRename) {
      try {
        await posixRename(connection, from, to);
        return;
      } catch (error) {
        throw await this.#renameError(connection, error, to);
      }
    }
    // SFTP v3 RENAME refuses an existing target: remove it first (not atomic; the window is short).
    try {
      await rename(connection, from, to);
    } catch (error) {
      const existing = await lstat(connection, to).catch(() => undefined);
      if (!existing) throw error;
      if (existing.isDirectory()) throw await this.#renameError(connection, error, to);
      await unlink(connection, to).catch(() => undefined);
      await rename(connection, from, to);
    }
  }

  async #renameError(connection: SftpConnection, error: unknown, to: string): Promise<unknown> {
    if (isConnectionError(error)) return error;
    const existing = await lstat(connection, to).catch(() => undefined);
    if (existing?.isDirectory()) {
      return new ArtifactsError(
        'failed_precondition',
        `cannot write ${to}: a directory exists at that path`,
        {
          cause: error,
        },
      );
    }
    return error;
  }

  async #mkdirp(connection: SftpConnection, dir: string): Promise<void> {
    if (dir === '/' || dir === '.' || dir === '') return;
    const attempt = () =>
      mkdir(connection, dir).then(
        () => undefined,
        (error: unknown) => {
          if (isConnectionError(error)) throw error;
          return error;
        },
      );
    let failure = await attempt();
    if (failure === undefined) return;
    if (statusOf(failure) === SFTP_STATUS.NO_SUCH_FILE) {
      await this.#mkdirp(connection, posix.dirname(dir));
      failure = await attempt();
      if (failure === undefined) return;
    }
    // Already there (SFTP v3 reports EEXIST as a generic failure), possibly made concurrently.
    const info = await stat(connection, dir).catch(() => undefined);
    if (info?.isDirectory()) return;
    if (info) {
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

  async read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    const path = this.#path(key);
    try {
      return await this.pool.lease(
        async (lease) => {
          const connection = lease.connection;
          let handle: Buffer;
          try {
            handle = await open(connection, path, 'r');
          } catch (error) {
            if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) {
              throw ArtifactsError.notFound(`${path} on ${this.#settings.label}`, { context: { path: key } });
            }
            throw error;
          }
          let info: Stats;
          try {
            info = await fstat(connection, handle);
          } catch (error) {
            await closeHandle(connection, handle).catch(() => undefined);
            throw error;
          }
          if (!info.isFile()) {
            await closeHandle(connection, handle).catch(() => undefined);
            throw ArtifactsError.notFound(`file ${path} on ${this.#settings.label} (it is a directory)`, {
              context: { path: key },
            });
          }
          const total = info.size;
          const start = Math.min(options.range?.start ?? 0, total);
          const end = Math.min(options.range?.end === undefined ? total : options.range.end + 1, total);
          const stream = new SftpReadStream(
            connection,
            handle,
            { start, end },
            readTuning(this.#settings, connection.maxReadLength),
            (broken) => lease.release(broken),
          );
          const signal = options.signal;
          if (signal) {
            const onAbort = () => stream.destroy(signal.reason as Error);
            signal.addEventListener('abort', onAbort, { once: true });
            stream.once('close', () => signal.removeEventListener('abort', onAbort));
          }
          return { stream, size: end - start, totalSize: total };
        },
        // Core's retry layer repeats an opening that failed on a broken connection, not the pool.
        { ...signalOf(options), retry: () => false },
      );
    } catch (error) {
      throw sftpError(error, `reading ${path} on ${this.#settings.label}`);
    }
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const path = this.#path(key);
    try {
      return await this.#files.use(async (connection) => {
        const info = await unlessMissing(stat(connection, path), undefined);
        if (!info) return undefined;
        return info.isDirectory()
          ? { key, isDir: true, lastModified: new Date(info.mtime * 1000) }
          : { key, isDir: false, size: info.size, lastModified: new Date(info.mtime * 1000) };
      }, signalOf(options));
    } catch (error) {
      throw sftpError(error, `reading ${path} on ${this.#settings.label}`);
    }
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const pending = [prefix];
    while (pending.length > 0) {
      const dir = pending.shift()!;
      // Each directory is one page: core repeats it alone when it fails with a temporary error.
      const request = () => this.#listDirectory(dir, options);
      const entries = await (options.page ? options.page(request) : request());
      for (const entry of entries) {
        yield entry;
        if (entry.isDir && options.recursive) pending.push(entry.key);
      }
    }
  }

  async #listDirectory(key: string, options: OperationOptions): Promise<DriverEntry[]> {
    const path = this.#path(key);
    try {
      return await this.#files.use(async (connection) => {
        let names: Awaited<ReturnType<typeof readdir>>;
        try {
          names = await readdir(connection, path);
        } catch (error) {
          const status = statusOf(error);
          if (status === SFTP_STATUS.NO_SUCH_FILE) return [];
          // Listing a file fails generically (ENOTDIR): a file lists as nothing.
          if (status === SFTP_STATUS.FAILURE) {
            const info = await stat(connection, path).catch(() => undefined);
            if (info && !info.isDirectory()) return [];
          }
          throw error;
        }
        const out: DriverEntry[] = [];
        await Promise.all(
          names.map(async ({ filename, attrs }) => {
            if (isTempName(filename) || filename.includes('/')) return;
            let info: Stats = attrs;
            // readdir reports symlinks themselves; describe what they point to, as `ls -L` would.
            if (attrs.isSymbolicLink()) {
              const target = await stat(connection, posix.join(path, filename)).catch(() => undefined);
              if (!target) return;
              info = target;
            }
            const child = key === '' ? filename : `${key}/${filename}`;
            out.push(
              info.isDirectory()
                ? { key: child, isDir: true }
                : { key: child, isDir: false, size: info.size },
            );
          }),
        );
        return out;
      }, signalOf(options));
    } catch (error) {
      throw sftpError(error, `listing ${path} on ${this.#settings.label}`);
    }
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    try {
      await this.#files.use(async (connection) => {
        const info = await unlessMissing(lstat(connection, path), undefined);
        if (!info) return;
        if (!info.isDirectory()) {
          await ignoreMissing(unlink(connection, path));
          return;
        }
        await this.#removeTree(connection, path, options.signal);
        // The repository root itself stays: deleting '' empties it.
        if (key !== '') await ignoreMissing(rmdir(connection, path));
      }, signalOf(options));
    } catch (error) {
      throw sftpError(error, `deleting ${path} on ${this.#settings.label}`);
    }
  }

  /** Removes everything inside `dir` (not `dir` itself); symlinks are removed, never followed. */
  async #removeTree(connection: SftpConnection, dir: string, signal?: AbortSignal): Promise<void> {
    const names = await unlessMissing(readdir(connection, dir), []);
    await forEachLimited(names, DELETE_CONCURRENCY, async ({ filename, attrs }) => {
      signal?.throwIfAborted();
      const child = posix.join(dir, filename);
      if (!attrs.isDirectory()) return ignoreMissing(unlink(connection, child));
      await this.#removeTree(connection, child, signal);
      await ignoreMissing(rmdir(connection, child));
    });
  }

  async mkdir(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    try {
      await this.#files.use((connection) => this.#mkdirp(connection, path), signalOf(options));
    } catch (error) {
      throw sftpError(error, `creating directory ${path} on ${this.#settings.label}`);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

function signalOf(options: OperationOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/** What `operation` gives, or `fallback` where the path does not exist. */
async function unlessMissing<T, F>(operation: Promise<T>, fallback: F): Promise<T | F> {
  try {
    return await operation;
  } catch (error) {
    if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
    return fallback;
  }
}

const ignoreMissing = (operation: Promise<void>) => unlessMissing(operation, undefined);
