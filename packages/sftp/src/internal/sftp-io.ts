import { Readable } from 'node:stream';
import { RELEASE_CHUNK } from '@artifacts/core';
import type { SFTPWrapper } from 'ssh2';
import { type SftpConnection, socketOf } from './connection.js';

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
 * Runs `issue` with the connection's socket corked, so that the packets of the requests it sends
 * (ssh2 writes each SSH packet in three or four pieces) leave in one writev instead of one system
 * call each.
 */
export function batched(connection: SftpConnection, issue: () => void): void {
  const socket = socketOf(connection.client);
  socket?.cork();
  try {
    issue();
  } finally {
    if (socket) process.nextTick(() => socket.uncork());
  }
}

export const open = (c: SftpConnection, path: string, flags: 'r' | 'w') =>
  request<Buffer>(c, (s, done) => s.open(path, flags, done));
export const closeHandle = (c: SftpConnection, handle: Buffer) =>
  request(c, (s, done) => s.close(handle, done));

export interface TransferTuning {
  /** Requests in flight at once. */
  requests: number;
  /** Bytes per request. */
  chunkSize: number;
}

/**
 * The READs of a download: `readChunkSize` bytes each, capped by what the server announced, and as
 * many in flight as fit the bytes an upload keeps in flight (`requestsPerTransfer × chunkSize`: ssh2's
 * channel window is 2 MiB), never more than `requestsPerTransfer` and at least one.
 */
export function readTuning(
  settings: { requestsPerTransfer: number; chunkSize: number; readChunkSize: number },
  maxReadLength: number,
): TransferTuning {
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
  tuning: TransferTuning,
): Promise<number> {
  const size = Math.max(1, Math.min(tuning.chunkSize, connection.maxWriteLength));
  let position = 0;
  let inflight = 0;
  let failure: unknown;
  // Resolves the wait for a free slot (calling it again, or with nobody waiting, does nothing).
  let wake = () => {};
  const waitForSlot = () => new Promise<void>((resolve) => (wake = resolve));
  const settled = (error?: unknown) => {
    inflight--;
    if (error !== undefined) failure ??= error;
    wake();
  };
  try {
    for await (const raw of body) {
      const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
      let offset = 0;
      while (offset < chunk.length) {
        while (inflight >= tuning.requests && failure === undefined) await waitForSlot();
        if (failure !== undefined) throw failure;
        // Send as many pieces as there are free slots in one go.
        batched(connection, () => {
          while (offset < chunk.length && inflight < tuning.requests) {
            const piece = chunk.subarray(offset, Math.min(offset + size, chunk.length));
            const at = position;
            inflight++;
            // ssh2 copies the piece into its packet before returning, so the chunk is not retained.
            request(connection, (s, done) => s.write(handle, piece, 0, piece.length, at, done)).then(
              () => settled(),
              settled,
            );
            offset += piece.length;
            position += piece.length;
          }
        });
      }
      // ssh2 copied every piece into its WRITE packet: a chunk lent by core's file reader goes back
      // to it now, instead of a new 1 MiB buffer per chunk left for the garbage collector.
      (raw as { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK]?.();
      if (failure !== undefined) throw failure;
    }
  } finally {
    // Requests still in flight must finish before the handle is closed or the file removed.
    while (inflight > 0) await waitForSlot();
  }
  if (failure !== undefined) throw failure;
  return position;
}

interface ReadRequest {
  offset: number;
  length: number;
  done: boolean;
  data?: Buffer;
  error?: unknown;
}

/**
 * A readable over `[start, end)` of an open handle that keeps up to `requests` READ requests in
 * flight and delivers their results in order. Backpressure holds: completed reads wait in the queue
 * (which counts toward `requests`) until the consumer asks for more. `onClose` runs once, after the
 * handle is closed, with whether the connection should be discarded.
 */
export class SftpReadStream extends Readable {
  #end: number;
  #next: number;
  readonly #queue: ReadRequest[] = [];
  #wanted = false;

  constructor(
    private readonly connection: SftpConnection,
    private readonly handle: Buffer,
    range: { start: number; end: number },
    /** The driver sized the READs to the server's announced maximum. */
    private readonly tuning: TransferTuning,
    private readonly onClose: (broken: boolean) => void,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.#next = range.start;
    this.#end = range.end;
  }

  override _read(): void {
    this.#wanted = true;
    this.#pump();
  }

  #issue(read: ReadRequest): void {
    const buffer = Buffer.allocUnsafe(read.length);
    request<number>(this.connection, (s, done) =>
      s.read(this.handle, buffer, 0, read.length, read.offset, (error, bytesRead) => done(error, bytesRead)),
    ).then(
      (bytesRead) => {
        read.done = true;
        read.data = bytesRead === read.length ? buffer : buffer.subarray(0, bytesRead);
        this.#pump();
      },
      (error: unknown) => {
        read.done = true;
        read.error = error;
        this.#pump();
      },
    );
  }

  #pump(): void {
    if (this.destroyed) return;
    while (this.#wanted && this.#queue[0]?.done) {
      const read = this.#queue.shift()!;
      if (read.error !== undefined) {
        this.destroy(read.error as Error);
        return;
      }
      const data = read.data!;
      if (data.length === 0) {
        // EOF before the size fstat reported: the file shrank. Stop here; the short count tells.
        this.#end = read.offset;
        this.#queue.length = 0;
        break;
      }
      if (data.length < read.length) {
        const rest: ReadRequest = {
          offset: read.offset + data.length,
          length: read.length - data.length,
          done: false,
        };
        this.#queue.unshift(rest);
        this.#issue(rest);
      }
      if (!this.push(data)) this.#wanted = false;
    }
    if (this.#queue.length < this.tuning.requests && this.#next < this.#end) {
      batched(this.connection, () => {
        while (this.#queue.length < this.tuning.requests && this.#next < this.#end) {
          const length = Math.min(this.tuning.chunkSize, this.#end - this.#next);
          const read: ReadRequest = { offset: this.#next, length, done: false };
          this.#next += length;
          this.#queue.push(read);
          this.#issue(read);
        }
      });
    }
    if (this.#queue.length === 0 && this.#next >= this.#end && this.#wanted) {
      this.#wanted = false;
      this.push(null);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const broken = error !== null && this.connection.life.dead;
    this.#queue.length = 0;
    const finish = () => this.onClose(broken);
    if (this.connection.life.dead) finish();
    else closeHandle(this.connection, this.handle).then(finish, finish);
    callback(error);
  }
}
