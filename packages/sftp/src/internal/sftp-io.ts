import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type ConnectionPool,
  type Lease,
  type RangeRequest,
  type RangeResponse,
  type RangeSource,
  RELEASE_CHUNK,
} from '@artifacts/core';
import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import { SFTP_STATUS, type SftpConnection } from './connection.js';
import { statusOf } from './errors.js';

type Callback<T> = (error: Error | null | undefined, value?: T) => void;

/**
 * Sends one SFTP request. Never hangs on a dead connection: ssh2 silently drops requests written to
 * a closed channel, so the connection's life fails them as soon as it is known to be gone.
 */
export function request<T = void>(
  connection: SftpConnection,
  send: (sftp: SFTPWrapper, done: Callback<T>) => void,
): Promise<T> {
  return connection.life.request<T>((done) => send(connection.sftp, done), connection.lost);
}

/**
 * Corks the connection's socket until the end of this tick, so that the packets of the requests
 * sent meanwhile (ssh2 writes each SSH packet in three or four pieces; a download's parts send their
 * READs one after another) leave in one writev instead of one system call each.
 */
function corkForTick(connection: SftpConnection): void {
  const socket = (connection.client as unknown as { _sock?: { cork(): void; uncork(): void } })._sock;
  if (!socket || connection.corked) return;
  connection.corked = true;
  socket.cork();
  process.nextTick(() => {
    connection.corked = false;
    socket.uncork();
  });
}

export const open = (c: SftpConnection, path: string, flags: 'r' | 'w') =>
  request<Buffer>(c, (s, done) => s.open(path, flags, done));
export const closeHandle = (c: SftpConnection, handle: Buffer) =>
  request(c, (s, done) => s.close(handle, done));
export const fstat = (c: SftpConnection, handle: Buffer) =>
  request<Stats>(c, (s, done) => s.fstat(handle, done));
export const stat = (c: SftpConnection, path: string) => request<Stats>(c, (s, done) => s.stat(path, done));
export const lstat = (c: SftpConnection, path: string) => request<Stats>(c, (s, done) => s.lstat(path, done));
export const unlink = (c: SftpConnection, path: string) => request(c, (s, done) => s.unlink(path, done));
export const rmdir = (c: SftpConnection, path: string) => request(c, (s, done) => s.rmdir(path, done));
export const mkdir = (c: SftpConnection, path: string) => request(c, (s, done) => s.mkdir(path, done));
export const readdir = (c: SftpConnection, path: string) =>
  request<FileEntryWithStats[]>(c, (s, done) => s.readdir(path, done as Callback<unknown>));
export const rename = (c: SftpConnection, from: string, to: string) =>
  request(c, (s, done) => s.rename(from, to, done));
export const posixRename = (c: SftpConnection, from: string, to: string) =>
  request(c, (s, done) => s.ext_openssh_rename(from, to, done));

/**
 * The READs of a download: `readChunkSize` bytes each, capped by what the server announced, and as
 * many in flight as fit the bytes an upload keeps in flight (`requestsPerTransfer × chunkSize`: ssh2's
 * channel window is 2 MiB), never more than `requestsPerTransfer` and at least one.
 */
export function readTuning(
  settings: { requestsPerTransfer: number; chunkSize: number; readChunkSize: number },
  maxReadLength: number,
): { requests: number; chunkSize: number } {
  const { requestsPerTransfer, chunkSize, readChunkSize } = settings;
  const size = Math.max(1, Math.min(readChunkSize, maxReadLength));
  const fit = Math.floor((requestsPerTransfer * chunkSize) / size);
  return { requests: Math.max(1, Math.min(requestsPerTransfer, fit)), chunkSize: size };
}

/**
 * Writes a stream to an open handle with many WRITE requests in flight at once (what OpenSSH's
 * sftp and ssh2's fastPut do for files), so that throughput does not wait on one round trip per
 * chunk. Memory stays bounded: a new request goes out only when one of `requests` completed, and the
 * body is pulled only as requests go out. Returns the bytes written.
 */
export async function writeFromStream(
  connection: SftpConnection,
  handle: Buffer,
  body: AsyncIterable<Buffer | string>,
  tuning: { requests: number; chunkSize: number },
): Promise<number> {
  const size = Math.max(1, Math.min(tuning.chunkSize, connection.maxWriteLength));
  let position = 0;
  let inflight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const settled = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitForSlot = () => new Promise<void>((resolve) => (wake = resolve));
  try {
    for await (const raw of body) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
      let offset = 0;
      while (offset < chunk.length) {
        while (inflight >= tuning.requests && failure === undefined) await waitForSlot();
        if (failure !== undefined) throw failure;
        // Send as many pieces as there are free slots in one go.
        corkForTick(connection);
        while (offset < chunk.length && inflight < tuning.requests) {
          const piece = chunk.subarray(offset, Math.min(offset + size, chunk.length));
          const at = position;
          inflight++;
          // ssh2 copies the piece into its packet before returning, so the chunk is not retained.
          request(connection, (s, done) => s.write(handle, piece, 0, piece.length, at, done)).then(
            () => {
              inflight--;
              settled();
            },
            (error: unknown) => {
              inflight--;
              failure ??= error;
              settled();
            },
          );
          offset += piece.length;
          position += piece.length;
        }
      }
      if (failure !== undefined) throw failure;
    }
  } finally {
    // Requests still in flight must finish before the handle is closed or the file removed.
    while (inflight > 0) await waitForSlot();
  }
  if (failure !== undefined) throw failure;
  return position;
}

/** The file a download reads: its handle on a leased connection, its size and modification time. */
interface OpenFile {
  lease: Lease<SftpConnection>;
  handle: Buffer;
  size: number;
  mtime: number;
}

/**
 * A file of the server as core's ranged-read engine reads it: a range is a few READs of `readSize`
 * on one handle, sent together (a short answer is read on), the engine keeping `concurrency` ranges
 * in flight, delivering them in order or writing them at their offsets. The
 * file is opened by the first range, on a leased connection; a range after that connection died
 * opens it again on a fresh one (the same size and modification time, else the read fails as
 * changed), so the engine's per-range retry resumes a download where it broke. A chunk's memory is
 * reused for a later READ once its consumer releases it (`RELEASE_CHUNK`). `close` closes the
 * handle and gives the connection back.
 */
export class SftpFileSource implements RangeSource {
  #file: Promise<OpenFile> | undefined;
  #closed = false;
  readonly #free: Buffer[] = [];

  constructor(
    private readonly pool: ConnectionPool<SftpConnection>,
    private readonly path: string,
    /** Names the file in errors (`/root/a on sftp://user@host`). */
    private readonly name: string,
    private readonly signal: AbortSignal | undefined,
    /** Bytes per READ: a range of several is sent as that many READs at once. */
    private readonly readSize: number,
    /** Told the limits of each connection the file is opened on. */
    private readonly onOpen: (connection: SftpConnection) => void,
  ) {}

  async readRange({ start, end, signal }: RangeRequest): Promise<RangeResponse> {
    const file = await this.#open();
    const { connection } = file.lease;
    const length = Math.max(0, Math.min(end, file.size - 1) - start + 1);
    const reused = this.#free.pop();
    const buffer = reused && reused.length === length ? reused : Buffer.allocUnsafe(length);
    // The range's READs leave together; a short answer is read on from where it stopped.
    const piece = async (from: number, to: number) => {
      for (let at = from; at < to; ) {
        corkForTick(connection);
        const n = await untilAborted(
          request<number>(connection, (s, done) =>
            s.read(file.handle, buffer, at, to - at, start + at, (error, bytes) => done(error, bytes)),
          ),
          signal,
        );
        if (n === 0) throw changed(this.name, `it ended at byte ${start + at} of ${file.size}`);
        at += n;
      }
    };
    const pieces: Array<Promise<void>> = [];
    for (let at = 0; at < length; at += this.readSize)
      pieces.push(piece(at, Math.min(length, at + this.readSize)));
    await Promise.all(pieces);
    const stream = new Readable({ read() {} });
    if (length > 0) {
      const chunk = buffer as Buffer & { [RELEASE_CHUNK]?: () => void };
      chunk[RELEASE_CHUNK] = () => {
        if (this.#free.length < 16) this.#free.push(buffer);
      };
      stream.push(chunk);
    }
    stream.push(null);
    return {
      stream,
      served: { start, end: start + length - 1 },
      totalSize: file.size,
      lastModified: new Date(file.mtime * 1000),
      rangesHonoured: true,
    };
  }

  #open(): Promise<OpenFile> {
    const current = this.#file;
    if (current === undefined) {
      this.#file = this.#openOn(undefined);
      return this.#file;
    }
    return current.then((file) => {
      if (!file.lease.connection.life.dead) return file;
      if (this.#file === current) this.#file = this.#openOn(file);
      return this.#file!;
    });
  }

  async #openOn(before: OpenFile | undefined): Promise<OpenFile> {
    before?.lease.release(true);
    const lease = await this.pool.acquire(this.signal);
    const connection = lease.connection;
    let handle: Buffer | undefined;
    try {
      handle = await open(connection, this.path, 'r').catch((error: unknown) => {
        if (statusOf(error) !== SFTP_STATUS.NO_SUCH_FILE) throw error;
        throw ArtifactsError.notFound(this.name);
      });
      const info = await fstat(connection, handle);
      if (!info.isFile()) throw ArtifactsError.notFound(`file ${this.name} (it is a directory)`);
      if (before && (info.size !== before.size || info.mtime !== before.mtime)) {
        throw changed(
          this.name,
          `${before.size} bytes at mtime ${before.mtime}, now ${info.size} at ${info.mtime}`,
        );
      }
      if (this.#closed) throw new ArtifactsError('aborted', `reading ${this.name} was closed`);
      this.onOpen(connection);
      return { lease, handle, size: info.size, mtime: info.mtime };
    } catch (error) {
      if (handle && !connection.life.dead) await closeHandle(connection, handle).catch(() => undefined);
      lease.release(connection.life.dead);
      throw error;
    }
  }

  /**
   * Closes the file and gives its connection back once the server answered (idempotent). Not to be
   * awaited where the server may have stalled: it may never answer.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const file = await this.#file?.catch(() => undefined);
    if (!file) return;
    const { connection } = file.lease;
    if (!connection.life.dead) await closeHandle(connection, file.handle).catch(() => undefined);
    file.lease.release(connection.life.dead);
  }
}

/** `promise`, or the signal's reason once it aborts (a stalled server may never answer a READ). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

const changed = (name: string, detail: string) =>
  new ArtifactsError(
    'failed_precondition',
    `reading ${name}: the file changed while it was being read (${detail}); nothing of the mixed bytes was kept`,
  );
