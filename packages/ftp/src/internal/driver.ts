import { posix } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';
import {
  ArtifactsError,
  type DriverReadOptions,
  type DriverReadResult,
  type DriverWriteOptions,
  type ListedEntry,
  type OperationOptions,
  type PathInfo,
  PooledFileDriver,
  renameOver,
} from '@artifacts/core';
import { type FileInfo, FileType, FTPError } from 'basic-ftp';
import { type FtpConnection, FtpConnectionFactory, isConnectionError } from './connection.js';
import { FTP_ERRORS, isMissing, replyCode } from './errors.js';
import type { FtpSettings } from './settings.js';
import { afterHandshake } from './tls-data.js';

/** Parses the facts of an MLST reply line (`type=file;size=12;modify=20240102030405; /path`). */
export function parseMlstFacts(line: string): PathInfo | undefined {
  const space = line.indexOf(' ');
  const facts = (space === -1 ? line : line.slice(0, space)).split(';');
  const map = new Map<string, string>();
  for (const fact of facts) {
    const eq = fact.indexOf('=');
    if (eq > 0) map.set(fact.slice(0, eq).toLowerCase(), fact.slice(eq + 1));
  }
  const type = map.get('type')?.toLowerCase();
  if (type === undefined) return undefined;
  const modify = map.get('modify');
  const modified = modify ? parseMlstTime(modify) : undefined;
  if (type === 'dir' || type === 'cdir' || type === 'pdir')
    return { isDir: true, ...(modified ? { modified } : {}) };
  const size = map.get('size');
  return {
    isDir: false,
    ...(size !== undefined && /^\d+$/.test(size) ? { size: Number(size) } : {}),
    ...(modified ? { modified } : {}),
  };
}

function parseMlstTime(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d+))?$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = frac ? Math.round(Number(`0.${frac}`) * 1000) : 0;
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms));
}

/** Closes a connection now and tells the pool at once, so that no other operation is handed it. */
function discard(connection: FtpConnection): void {
  if (connection.life.die()) connection.client.close();
}

/** The FTP StorageDriver: keys are paths below the repository's root directory. */
export class FtpDriver extends PooledFileDriver<FtpConnection> {
  readonly #settings: FtpSettings;
  /** Every connection of the pool removes files, one DELE a round trip each. */
  protected readonly deleteConcurrency: number;
  /** Directories this repository created or saw, so uploads into them skip the round trips. */
  readonly #knownDirs = new Set<string>();

  constructor(settings: FtpSettings) {
    // One control connection runs one command or transfer at a time.
    super(new FtpConnectionFactory(settings), { ...settings, operationsPerConnection: 1 }, FTP_ERRORS);
    this.#settings = settings;
    this.deleteConcurrency = settings.maxConnections;
  }

  protected async info(connection: FtpConnection, path: string): Promise<PathInfo | undefined> {
    const { client } = connection;
    if (connection.mlst) {
      let message: string;
      try {
        message = (await client.send(`MLST ${path}`)).message;
      } catch (error) {
        // RFC 3659: 550 = no such file or no access (pure-ftpd: "Can't check for file existence").
        if (replyCode(error) === 550 || replyCode(error) === 501 || isMissing(error)) return undefined;
        throw error;
      }
      const line = message.split(/\r?\n/).find((l) => l.startsWith(' '));
      const info = line ? parseMlstFacts(line.trim()) : undefined;
      if (info) return info;
    }
    // Without MLST: SIZE answers for files only, CWD for directories only.
    try {
      return { isDir: false, size: await client.size(path) };
    } catch (error) {
      if (!(error instanceof FTPError)) throw error;
    }
    try {
      await client.cd(path);
      return { isDir: true };
    } catch (error) {
      if (!(error instanceof FTPError)) throw error;
      return undefined;
    }
  }

  /** Children of a directory, or undefined when `path` is missing or a file. */
  protected async entries(connection: FtpConnection, path: string): Promise<ListedEntry[] | undefined> {
    if (!connection.mlst) {
      // LIST of a file lists the file itself: only list what is known to be a directory.
      const info = await this.info(connection, path);
      if (!info?.isDir) return undefined;
    }
    let files: FileInfo[];
    try {
      files = await connection.client.list(path);
    } catch (error) {
      if (!(error instanceof FTPError) || isConnectionError(error)) throw error;
      const info = await this.info(connection, path);
      if (!info?.isDir) return undefined;
      throw error;
    }
    return files.map((file) => ({
      name: file.name,
      isDir: file.isDirectory,
      isLink: file.type === FileType.SymbolicLink,
      size: file.size,
      modified: file.modifiedAt,
    }));
  }

  protected async makeDirectory(connection: FtpConnection, path: string): Promise<void> {
    await connection.client.send(`MKD ${path}`);
  }

  // Some servers refuse to rename over an existing file.
  protected replaces(): boolean {
    return false;
  }

  protected async rename(connection: FtpConnection, from: string, to: string): Promise<void> {
    await connection.client.rename(from, to);
  }

  /** DELE that treats an already missing file as removed (deletes are idempotent). */
  protected async removeFile(connection: FtpConnection, path: string): Promise<void> {
    try {
      await connection.client.remove(path);
    } catch (error) {
      if (!(error instanceof FTPError) || (await this.info(connection, path))) throw error;
    }
  }

  /** RMD that treats an already missing directory as removed. */
  protected async removeDir(connection: FtpConnection, path: string): Promise<void> {
    try {
      await connection.client.send(`RMD ${path}`);
    } catch (error) {
      if (!(error instanceof FTPError) || (await this.info(connection, path))) throw error;
    }
  }

  /** Makes `dir` and its missing parents; resolves true when this call created `dir` itself. */
  protected override async makeDirectories(connection: FtpConnection, dir: string): Promise<boolean> {
    if (this.#knownDirs.has(dir)) return false;
    const created = await super.makeDirectories(connection, dir);
    this.#knownDirs.add(dir);
    return created;
  }

  #forgetDirs(path: string): void {
    for (const dir of this.#knownDirs)
      if (dir === path || dir.startsWith(`${path}/`)) this.#knownDirs.delete(dir);
  }

  override async delete(key: string, options: OperationOptions): Promise<void> {
    try {
      await super.delete(key, options);
    } finally {
      this.#forgetDirs(this.path(key));
    }
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const target = this.path(key);
    const dir = posix.dirname(target);
    const upload = (connection: FtpConnection, temp: string) =>
      connection.client.uploadFrom(
        this.#settings.tls === 'none' ? body : afterHandshake(body, connection.client),
        temp,
      );
    await this.run('writing', target, () =>
      this.files.write(target, options, async (connection) => {
        if (await this.makeDirectories(connection, dir)) this.files.markSwept(dir);
        let uploaded = false;
        return {
          abort: () => discard(connection),
          write: async (temp) => {
            try {
              await upload(connection, temp);
            } catch (error) {
              // The directory vanished since it was cached (removed by another client): once more.
              if ((replyCode(error) !== 553 && replyCode(error) !== 550) || body.readableDidRead) throw error;
              this.#forgetDirs(dir);
              await this.makeDirectories(connection, dir);
              await upload(connection, temp);
            }
            uploaded = true;
          },
          rename: (temp) => renameOver(temp, target, this.io(connection)),
          remove: async (temp) => {
            if ((!uploaded && body.readableDidRead) || connection.life.dead) {
              // A transfer cut half-way leaves the control connection in an unknown state (a late
              // 226/426 reply): drop it; the temporary file goes over a fresh connection.
              discard(connection);
              throw new Error('connection dropped');
            }
            await connection.client.remove(temp, true);
          },
        };
      }),
    );
    return undefined;
  }

  async read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
    const path = this.path(key);
    const once = { signal: options.signal, retry: () => false };
    return this.run('reading', path, () =>
      this.pool.lease(async (lease) => {
        const connection = lease.connection;
        const info = await this.info(connection, path);
        if (!info || info.isDir) {
          throw ArtifactsError.notFound(
            info ? `file ${path} on ${this.label} (it is a directory)` : `${path} on ${this.label}`,
            { context: { path: key } },
          );
        }
        const total = info.size;
        const start = Math.min(options.range?.start ?? 0, total ?? Number.MAX_SAFE_INTEGER);
        // RETR from REST `start` serves the file to its end: core cuts the range asked out of it
        // (`served`) and stops reading after its last byte, which drops the connection mid-RETR.
        const served = { start, end: total === undefined ? Number.MAX_SAFE_INTEGER : total - 1 };
        const known = {
          ...(total === undefined ? {} : { size: total - start, totalSize: total }),
          ...(info.modified ? { lastModified: info.modified } : {}),
        };
        const out = new PassThrough({ highWaterMark: 1024 * 1024 });
        if (start === total) {
          lease.release();
          out.end();
          return { stream: out, served, ...known };
        }
        // The opening of the read includes the data connection: a 425 (passive ports all taken)
        // fails it, before the stream is handed out, so that core's retry layer repeats it.
        await this.#download(lease, path, out, start, options.signal);
        return { stream: out, served, ...known };
      }, once),
    );
  }

  /**
   * Streams RETR (from REST `start`) into `out`. Resolves once the first bytes arrived (or the
   * transfer ended); a failure before that rejects, and `out` is left alone. A later failure
   * destroys `out`; a consumer that stops reading early drops the connection.
   */
  #download(
    lease: { connection: FtpConnection; release(broken?: boolean): void },
    path: string,
    out: PassThrough,
    start: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const connection = lease.connection;
    let markStarted!: () => void;
    let failStart!: (error: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      markStarted = resolve;
      failStart = reject;
    });
    let settled = false;
    let delivered = false;
    const stop = () => discard(connection);
    // basic-ftp pipes the data connection into this sink after the server's 150; a failure before
    // it (a 425, a data connection cut) fails the read before `out` is handed out, and core's retry
    // layer repeats the whole read (a fresh `out`, a fresh sink, a fresh connection).
    const sink = new Writable({
      highWaterMark: 1024 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        delivered = true;
        markStarted();
        if (out.destroyed) callback();
        else if (out.write(chunk)) callback();
        else out.once('drain', () => callback());
      },
    });
    const onAbort = () => {
      out.destroy(signal?.reason as Error);
      stop();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    // The consumer went away before the end (core cut the range it asked): RETR is abandoned
    // with its connection.
    out.once('close', () => {
      if (!settled && !out.writableFinished) stop();
    });
    connection.client.downloadTo(sink, path, start).then(
      () => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        out.end();
        lease.release();
        markStarted();
      },
      (error: unknown) => {
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        lease.release(true);
        if (!delivered) failStart(signal?.aborted ? signal.reason : error);
        else if (!out.destroyed) out.destroy(this.fail(error, `reading ${path} on ${this.label}`) as Error);
      },
    );
    return started;
  }
}
