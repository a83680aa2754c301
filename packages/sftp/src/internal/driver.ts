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
  deleteFilePath,
  FILE_TREE_CAPABILITIES,
  type FileEntry,
  listFileTree,
  makeDirectories,
  type OperationOptions,
  type PathKind,
  RemoteFiles,
  renameOver,
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

/** Files removed concurrently by a recursive delete (requests on one channel). */
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
              await makeDirectories(dir, this.#io(connection, true));
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
          rename: (temp) => renameOver(temp, target, this.#io(connection)),
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

  /**
   * What core's file-tree helpers ask of SFTP, over one connection. `follow`: a link to a directory
   * counts as one (making directories); otherwise a link is a file (replacing, deleting: removed,
   * never followed).
   */
  #io(connection: SftpConnection, follow = false) {
    const removeFile = (path: string) => ignoreMissing(unlink(connection, path));
    return {
      kind: async (path: string): Promise<PathKind> => {
        const info = await unlessMissing((follow ? stat : lstat)(connection, path), undefined);
        return info === undefined ? undefined : info.isDirectory() ? 'dir' : 'file';
      },
      isConnectionError,
      mkdir: (path: string) => mkdir(connection, path),
      parentMissing: (error: unknown) => statusOf(error) === SFTP_STATUS.NO_SUCH_FILE,
      // posix-rename@openssh.com replaces atomically; SFTP v3 RENAME refuses an existing target.
      replaces: connection.posixRename,
      rename: (from: string, to: string) =>
        connection.posixRename ? posixRename(connection, from, to) : rename(connection, from, to),
      remove: removeFile,
      list: async (dir: string) =>
        (await unlessMissing(readdir(connection, dir), [])).map(({ filename, attrs }) => ({
          name: filename,
          isDir: attrs.isDirectory(),
        })),
      removeFile,
      removeDir: (path: string) => ignoreMissing(rmdir(connection, path)),
    };
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
          return { stream, size: end - start, totalSize: total, lastModified: new Date(info.mtime * 1000) };
        },
        // Core's retry layer repeats an opening that failed on a broken connection, not the pool.
        { signal: options.signal, retry: () => false },
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
      }, options);
    } catch (error) {
      throw sftpError(error, `reading ${path} on ${this.#settings.label}`);
    }
  }

  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return listFileTree(prefix, options, (key) => this.#listDirectory(key, options));
  }

  async #listDirectory(key: string, options: OperationOptions): Promise<FileEntry[]> {
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
        const entries = await Promise.all(
          names.map(async ({ filename, attrs }) => {
            // readdir reports symlinks themselves; describe what they point to, as `ls -L` would.
            const info =
              attrs.isSymbolicLink() && !filename.includes('/')
                ? await stat(connection, posix.join(path, filename)).catch(() => undefined)
                : attrs;
            return info && { name: filename, isDir: info.isDirectory(), size: info.size };
          }),
        );
        return entries.filter((entry) => entry !== undefined);
      }, options);
    } catch (error) {
      throw sftpError(error, `listing ${path} on ${this.#settings.label}`);
    }
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    try {
      // The repository root itself stays: deleting '' empties it.
      const keep = key === '';
      await this.#files.use(
        (connection) =>
          deleteFilePath(path, this.#io(connection), { concurrency: DELETE_CONCURRENCY, keep, ...options }),
        options,
      );
    } catch (error) {
      throw sftpError(error, `deleting ${path} on ${this.#settings.label}`);
    }
  }

  async mkdir(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    try {
      await this.#files.use((connection) => makeDirectories(path, this.#io(connection, true)), options);
    } catch (error) {
      throw sftpError(error, `creating directory ${path} on ${this.#settings.label}`);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
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
