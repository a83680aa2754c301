import { Readable } from 'node:stream';
import { RELEASE_CHUNK } from './driver.js';

/**
 * Pipelined I/O on one open file of a request/response file protocol whose READ and WRITE name
 * their offset (SFTP; SMB2 and NFS work alike): many requests in flight at once, each slot refilled
 * as its request completes, so that throughput does not wait on one round trip per chunk. Not the
 * chunked-upload or ranged-read engines: those watch each request (its own abort signal, timers and
 * stream), sized for object-store parts of MiBs; here one request carries a few hundred KiB, and
 * that watch measured 5–70 % more CPU (docs/benchmarks/sftp.md).
 */
export interface PipelineTuning {
  /** Requests in flight at once. */
  requests: number;
  /** Bytes per request. */
  chunkSize: number;
}

/** The socket a file's requests go out on (a `net.Socket` fits). */
export interface CorkableSocket {
  cork(): void;
  uncork(): void;
}

/**
 * Runs `issue` with `socket` corked, so that the packets of the requests it sends (a client library
 * may write each in several pieces) leave in one writev instead of one system call each.
 */
function batch(socket: CorkableSocket | undefined, issue: () => void): void {
  socket?.cork();
  try {
    issue();
  } finally {
    if (socket) process.nextTick(() => socket.uncork());
  }
}

/** The WRITE side of an open file. */
export interface PositionedWrites {
  /**
   * Writes `piece` at `position`. It must be done with `piece` when it returns (copied into its
   * packet): the promise only reports the server's answer, and the chunk it came from is handed
   * back to its owner (`RELEASE_CHUNK`) once every piece of it went out.
   */
  writeAt(piece: Buffer, position: number): Promise<unknown>;
  /** Where the requests go out: each batch of them is corked together. */
  socket?: CorkableSocket | undefined;
}

/**
 * Writes a stream to an open file with up to `tuning.requests` WRITEs in flight, `tuning.chunkSize`
 * bytes each. Memory stays bounded: a new request goes out only when one completed, and the body is
 * pulled only as requests go out. The first failure stops it, after every request in flight
 * settled (the file may then be closed or removed). Returns the bytes written.
 */
export async function writePipelined(
  body: AsyncIterable<Buffer | string>,
  tuning: PipelineTuning,
  file: PositionedWrites,
): Promise<number> {
  const size = Math.max(1, tuning.chunkSize);
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
        batch(file.socket, () => {
          while (offset < chunk.length && inflight < tuning.requests) {
            const piece = chunk.subarray(offset, Math.min(offset + size, chunk.length));
            inflight++;
            file.writeAt(piece, position).then(() => settled(), settled);
            offset += piece.length;
            position += piece.length;
          }
        });
      }
      // Every piece was copied into its WRITE: a chunk lent by core's file reader goes back to it
      // now, instead of a new 1 MiB buffer per chunk left for the garbage collector.
      (raw as { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK]?.();
      if (failure !== undefined) throw failure;
    }
  } finally {
    // Requests still in flight must finish before the file is closed or removed.
    while (inflight > 0) await waitForSlot();
  }
  if (failure !== undefined) throw failure;
  return position;
}

/** The READ side of an open file. */
export interface PositionedReads {
  /**
   * Reads up to `length` bytes at `position`: resolves with them (fewer when the file ends sooner,
   * none at its end) in a buffer the stream keeps and hands on. A client library that receives the
   * answer into a buffer of its own gives that one (or a view of it) instead of copying it into a
   * new one: one allocation and one copy less per READ, which the garbage collector feels.
   */
  readAt(length: number, position: number): Promise<Buffer>;
  /** Where the requests go out: each batch of them is corked together. */
  socket?: CorkableSocket | undefined;
  /** Whether the connection under the file is gone: then it is not closed over it. */
  lost(): boolean;
  /** Closes the file. */
  close(): Promise<unknown>;
}

interface ReadRequest {
  offset: number;
  length: number;
  done: boolean;
  data?: Buffer;
  error?: unknown;
}

export interface PipelinedReadOptions {
  /** The bytes `[start, end)` to read. */
  start: number;
  end: number;
  tuning: PipelineTuning;
  /** Aborting it destroys the stream with its reason. */
  signal?: AbortSignal | undefined;
  /**
   * Runs once, after the file is closed, with whether the connection is broken (the stream failed
   * and `lost()` says so) and should be discarded.
   */
  onClose: (broken: boolean) => void;
}

/**
 * A readable over `[start, end)` of an open file that keeps up to `tuning.requests` READs of
 * `tuning.chunkSize` bytes in flight and delivers their results in order. Backpressure holds:
 * completed reads wait in the queue (which counts toward `requests`) until the consumer asks for
 * more. A short read asks for the rest; an empty one (the file shrank) ends the stream there, and the
 * short count tells.
 */
export class PipelinedReadStream extends Readable {
  #end: number;
  #next: number;
  readonly #queue: ReadRequest[] = [];
  #wanted = false;

  private readonly tuning: PipelineTuning;
  private readonly onClose: (broken: boolean) => void;

  constructor(
    private readonly file: PositionedReads,
    options: PipelinedReadOptions,
  ) {
    super({ highWaterMark: 1024 * 1024 });
    this.#next = options.start;
    this.#end = options.end;
    this.tuning = options.tuning;
    this.onClose = options.onClose;
    const signal = options.signal;
    if (signal) {
      // The caller's signal (core's, for the read's whole life) stops the stream.
      const onAbort = () => this.destroy(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      this.once('close', () => signal.removeEventListener('abort', onAbort));
    }
  }

  override _read(): void {
    this.#wanted = true;
    this.#pump();
  }

  #issue(read: ReadRequest): void {
    this.file.readAt(read.length, read.offset).then(
      (data) => {
        read.done = true;
        read.data = data;
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
        // EOF before the size the caller knew: the file shrank. Stop here; the short count tells.
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
      batch(this.file.socket, () => {
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
    const lost = this.file.lost();
    this.#queue.length = 0;
    const finish = () => this.onClose(error !== null && lost);
    if (lost) finish();
    else this.file.close().then(finish, finish);
    callback(error);
  }
}
