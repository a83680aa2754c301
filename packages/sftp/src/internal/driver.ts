import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbandonedTemps,
  ArtifactsError,
  ConnectionPool,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverStat,
  type DriverWriteOptions,
  isTempName,
  type OperationOptions,
  OrphanTemps,
  replaceAtomically,
  type StorageDriver,
  type PoolUseOptions as UseOptions,
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
  readonly capabilities: DriverCapabilities = {
    rangeRead: true,
    directories: true,
    checksums: [],
    multipartUpload: false,
    presign: false,
    serverSideCopy: false,
  };
  readonly secrets: readonly string[];
  readonly pool: ConnectionPool<SftpConnection>;
  readonly #settings: SftpSettings;
  /** Temporary files of failed uploads not yet removed (their connection died). */
  readonly #orphans = new OrphanTemps();
  /** Directories whose temporary files left by killed writers were swept (the first write into each). */
  readonly #abandoned = new AbandonedTemps();

  constructor(settings: SftpSettings) {
    this.#settings = settings;
    this.secrets = settings.secrets;
    this.pool = new ConnectionPool(new SftpConnectionFactory(settings), {
      maxConnections: settings.maxConnections,
      operationsPerConnection: settings.operationsPerConnection,
      idleTimeoutMs: settings.idleTimeoutMs,
      label: settings.label,
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
    try {
      await this.#use(
        async (connection) => {
          const dir = posix.dirname(target);
          let handle: Buffer | undefined;
          // Aborted (by the caller or the stall timeout) with writes in flight: their answers may
          // never come (a stalled server), and the session cannot be used until they do. Drop it,
          // which fails them.
          const onAbort = () => connection.client.destroy();
          options.signal?.addEventListener('abort', onAbort, { once: true });
          try {
            await replaceAtomically(
              target,
              {
                write: async (temp) => {
                  try {
                    handle = await open(connection, temp, 'w');
                  } catch (error) {
                    if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
                    await this.#mkdirp(connection, dir);
                    // It did not exist a moment ago: no killed writer left anything there.
                    this.#abandoned.markSwept(dir);
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
                  // A dead connection cannot remove it: OrphanTemps does, over the next one.
                  if (connection.dead) throw new Error('connection lost');
                  if (handle) await closeHandle(connection, handle).catch(() => undefined);
                  await ignoreMissing(unlink(connection, temp));
                },
              },
              { orphans: this.#orphans, ...(options.signal ? { signal: options.signal } : {}) },
            );
          } finally {
            options.signal?.removeEventListener('abort', onAbort);
          }
          // The write landed: a failed sweep is no failure of it (the next write tries again).
          await this.#sweepAbandoned(connection, dir).catch(() => undefined);
        },
        {
          ...(options.signal ? { signal: options.signal } : {}),
          // A body that was partly sent cannot be replayed: fail cleanly rather than upload half of it.
          retry: () => !body.readableDidRead,
        },
      );
    } catch (error) {
      // After an abort (a stalled server, likely still stalled) the next operation removes them.
      if (this.#orphans.size > 0 && !options.signal?.aborted) await this.#removeOrphans();
      throw sftpError(error, `writing ${target} on ${this.#settings.label}`);
    }
    return undefined;
  }

  /**
   * Temporary files whose connection died before they could be removed: remove them over a fresh
   * connection now or, if the server is not back yet, before the next operation (temporary names
   * are hidden from listings meanwhile).
   */
  async #removeOrphans(): Promise<void> {
    await this.pool
      .use((connection) => this.#sweep(connection), { signal: AbortSignal.timeout(5000), retry: () => false })
      .catch(() => undefined);
  }

  #sweep(connection: SftpConnection): Promise<void> {
    return this.#orphans.sweep((temp) => ignoreMissing(unlink(connection, temp)), isConnectionError);
  }

  /**
   * The first write into a directory removes the temporary files writers killed mid-upload left
   * there (`kill -9`): core's temporary names say which process of which host wrote each one, so a
   * live writer's file is never touched (see AbandonedTemps for the rule on other hosts' files).
   */
  #sweepAbandoned(connection: SftpConnection, dir: string): Promise<string[]> {
    return this.#abandoned.sweepOnce(
      dir,
      {
        list: async () => {
          let names: Awaited<ReturnType<typeof readdir>>;
          try {
            names = await readdir(connection, dir);
          } catch (error) {
            if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return [];
            throw error;
          }
          return names
            .filter(({ filename }) => isTempName(filename))
            .map(({ filename, attrs }) => ({
              name: filename,
              modified: attrs.mtime * 1000,
              isFile: attrs.isFile(),
            }));
        },
        remove: (name) => ignoreMissing(unlink(connection, posix.join(dir, name))),
      },
      isConnectionError,
    );
  }

  /** pool.use, first removing temporary files left by uploads whose connection died. */
  #use<T>(fn: (connection: SftpConnection) => Promise<T>, options: UseOptions): Promise<T> {
    if (this.#orphans.size === 0) return this.pool.use(fn, options);
    return this.pool.use(async (connection) => {
      await this.#sweep(connection);
      return fn(connection);
    }, options);
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
    let failure: unknown;
    try {
      await mkdir(connection, dir);
      return;
    } catch (error) {
      if (isConnectionError(error)) throw error;
      failure = error;
    }
    if (statusOf(failure) === SFTP_STATUS.NO_SUCH_FILE) {
      await this.#mkdirp(connection, posix.dirname(dir));
      try {
        await mkdir(connection, dir);
        return;
      } catch (error) {
        if (isConnectionError(error)) throw error;
        failure = error;
      }
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
          const stream = new SftpReadStream(connection, handle, { start, end }, this.#tuning(), (broken) =>
            lease.release(broken),
          );
          const signal = options.signal;
          if (signal) {
            const onAbort = () => stream.destroy(signal.reason as Error);
            signal.addEventListener('abort', onAbort, { once: true });
            stream.once('close', () => signal.removeEventListener('abort', onAbort));
          }
          return { stream, size: end - start, totalSize: total };
        },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      throw sftpError(error, `reading ${path} on ${this.#settings.label}`);
    }
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const path = this.#path(key);
    try {
      return await this.#use(
        async (connection) => {
          let info: Stats;
          try {
            info = await stat(connection, path);
          } catch (error) {
            if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return undefined;
            throw error;
          }
          return info.isDirectory()
            ? { key, isDir: true, lastModified: new Date(info.mtime * 1000) }
            : { key, isDir: false, size: info.size, lastModified: new Date(info.mtime * 1000) };
        },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      throw sftpError(error, `reading ${path} on ${this.#settings.label}`);
    }
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const pending = [prefix];
    while (pending.length > 0) {
      const dir = pending.shift()!;
      const entries = await this.#listDirectory(dir, options);
      for (const entry of entries) {
        yield entry;
        if (entry.isDir && options.recursive) pending.push(entry.key);
      }
    }
  }

  async #listDirectory(key: string, options: OperationOptions): Promise<DriverEntry[]> {
    const path = this.#path(key);
    try {
      return await this.#use(
        async (connection) => {
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
        },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      throw sftpError(error, `listing ${path} on ${this.#settings.label}`);
    }
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    try {
      await this.#use(
        async (connection) => {
          let info: Stats;
          try {
            info = await lstat(connection, path);
          } catch (error) {
            if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return;
            throw error;
          }
          if (!info.isDirectory()) {
            await ignoreMissing(unlink(connection, path));
            return;
          }
          await this.#removeTree(connection, path, options.signal);
          // The repository root itself stays: deleting '' empties it.
          if (key !== '') await ignoreMissing(rmdir(connection, path));
        },
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      throw sftpError(error, `deleting ${path} on ${this.#settings.label}`);
    }
  }

  /** Removes everything inside `dir` (not `dir` itself); symlinks are removed, never followed. */
  async #removeTree(connection: SftpConnection, dir: string, signal?: AbortSignal): Promise<void> {
    let names: Awaited<ReturnType<typeof readdir>>;
    try {
      names = await readdir(connection, dir);
    } catch (error) {
      if (statusOf(error) === SFTP_STATUS.NO_SUCH_FILE) return;
      throw error;
    }
    let index = 0;
    const worker = async () => {
      while (index < names.length) {
        signal?.throwIfAborted();
        const { filename, attrs } = names[index++]!;
        const child = posix.join(dir, filename);
        if (attrs.isDirectory()) {
          await this.#removeTree(connection, child, signal);
          await ignoreMissing(rmdir(connection, child));
        } else {
          await ignoreMissing(unlink(connection, child));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, names.length) }, worker));
  }

  async mkdir(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    try {
      await this.#use(
        (connection) => this.#mkdirp(connection, path),
        options.signal ? { signal: options.signal } : {},
      );
    } catch (error) {
      throw sftpError(error, `creating directory ${path} on ${this.#settings.label}`);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

async function ignoreMissing(operation: Promise<void>): Promise<void> {
  try {
    await operation;
  } catch (error) {
    if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
  }
}
