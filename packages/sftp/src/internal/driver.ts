import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverWriteOptions,
  type ListedEntry,
  type PathInfo,
  PipelinedReadStream,
  PooledFileDriver,
  renameOver,
  writePipelined,
} from '@artifacts/core';
import type { FileEntryWithStats, Stats } from 'ssh2';
import { SFTP_STATUS, type SftpConnection, SftpConnectionFactory } from './connection.js';
import { SFTP_ERRORS, statusOf } from './errors.js';
import type { SftpSettings } from './settings.js';
import { closeHandle, handleFile, open, readTuning, request } from './sftp-io.js';

/** The SFTP StorageDriver: keys are paths below the repository's root directory. */
export class SftpDriver extends PooledFileDriver<SftpConnection> {
  /** Files removed concurrently by a recursive delete (SFTP multiplexes requests on a channel). */
  protected readonly deleteConcurrency = 32;
  readonly #settings: SftpSettings;

  constructor(settings: SftpSettings) {
    super(new SftpConnectionFactory(settings), settings, SFTP_ERRORS);
    this.#settings = settings;
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const target = this.path(key);
    const dir = posix.dirname(target);
    await this.run('writing', target, () =>
      this.files.write(target, options, (connection) => {
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
              await this.makeDirectories(connection, dir);
              // It did not exist a moment ago: no killed writer left anything there.
              this.files.markSwept(dir);
              handle = await open(connection, temp, 'w');
            }
            options.signal?.throwIfAborted();
            const requests = this.#settings.requestsPerTransfer;
            const chunkSize = Math.min(this.#settings.chunkSize, connection.maxWriteLength);
            await writePipelined(body, { requests, chunkSize }, handleFile(connection, handle));
            const written = handle;
            handle = undefined;
            await closeHandle(connection, written);
          },
          rename: (temp) => renameOver(temp, target, this.io(connection)),
          remove: async (temp) => {
            // A dead connection cannot remove it: RemoteFiles does, over the next one.
            if (connection.life.dead) throw new Error('connection lost');
            if (handle) await closeHandle(connection, handle).catch(() => undefined);
            await this.removeFile(connection, temp);
          },
        };
      }),
    );
    return undefined;
  }

  protected async info(
    connection: SftpConnection,
    path: string,
    follow: boolean,
  ): Promise<PathInfo | undefined> {
    const info = await unlessMissing(
      request<Stats>(connection, (s, done) => (follow ? s.stat(path, done) : s.lstat(path, done))),
    );
    return info && { isDir: info.isDirectory(), size: info.size, modified: new Date(info.mtime * 1000) };
  }

  protected async entries(connection: SftpConnection, path: string): Promise<ListedEntry[] | undefined> {
    let names: FileEntryWithStats[];
    try {
      names = await request<FileEntryWithStats[]>(connection, (s, done) => s.readdir(path, done));
    } catch (error) {
      const status = statusOf(error);
      if (status === SFTP_STATUS.NO_SUCH_FILE) return undefined;
      // Listing a file fails generically (ENOTDIR): a file lists as nothing.
      if (status === SFTP_STATUS.FAILURE) {
        const info = await request<Stats>(connection, (s, done) => s.stat(path, done)).catch(() => undefined);
        if (info && !info.isDirectory()) return undefined;
      }
      throw error;
    }
    return names.map(({ filename, attrs }) => ({
      name: filename,
      isDir: attrs.isDirectory(),
      isLink: attrs.isSymbolicLink(),
      size: attrs.size,
      modified: new Date(attrs.mtime * 1000),
    }));
  }

  protected makeDirectory(connection: SftpConnection, path: string): Promise<void> {
    return request(connection, (s, done) => s.mkdir(path, done));
  }

  protected override parentMissing(error: unknown): boolean {
    return statusOf(error) === SFTP_STATUS.NO_SUCH_FILE;
  }

  // posix-rename@openssh.com replaces atomically; SFTP v3 RENAME refuses an existing target.
  protected replaces(connection: SftpConnection): boolean {
    return connection.posixRename;
  }

  protected rename(connection: SftpConnection, from: string, to: string): Promise<void> {
    return request(connection, (s, done) =>
      connection.posixRename ? s.ext_openssh_rename(from, to, done) : s.rename(from, to, done),
    );
  }

  protected removeFile(connection: SftpConnection, path: string): Promise<void> {
    return unlessMissing(request(connection, (s, done) => s.unlink(path, done)));
  }

  protected removeDir(connection: SftpConnection, path: string): Promise<void> {
    return unlessMissing(request(connection, (s, done) => s.rmdir(path, done)));
  }

  async read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    const path = this.path(key);
    return this.run('reading', path, () =>
      this.pool.lease(
        async (lease) => {
          const connection = lease.connection;
          const handle = await unlessMissing(open(connection, path, 'r'));
          if (!handle) throw ArtifactsError.notFound(`${path} on ${this.label}`, { context: { path: key } });
          let info: Stats;
          try {
            info = await request<Stats>(connection, (s, done) => s.fstat(handle, done));
            if (!info.isFile()) {
              throw ArtifactsError.notFound(`file ${path} on ${this.label} (it is a directory)`, {
                context: { path: key },
              });
            }
          } catch (error) {
            await closeHandle(connection, handle).catch(() => undefined);
            throw error;
          }
          const total = info.size;
          const start = Math.min(options.range?.start ?? 0, total);
          const end = Math.min(options.range?.end === undefined ? total : options.range.end + 1, total);
          const stream = new PipelinedReadStream(handleFile(connection, handle), {
            start,
            end,
            tuning: readTuning(this.#settings, connection.maxReadLength),
            signal: options.signal,
            onClose: (broken) => lease.release(broken),
          });
          return { stream, size: end - start, totalSize: total, lastModified: new Date(info.mtime * 1000) };
        },
        // Core's retry layer repeats an opening that failed on a broken connection, not the pool.
        { signal: options.signal, retry: () => false },
      ),
    );
  }
}

/** What `operation` gives, or undefined where the path does not exist. */
async function unlessMissing<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
    return undefined;
  }
}
