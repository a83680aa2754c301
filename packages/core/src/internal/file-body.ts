import { close, closeSync, open, openSync, read, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { RELEASE_CHUNK } from '../driver.js';

/** Bytes per chunk when the file is read as a stream (what `createReadStream` used to give). */
const CHUNK = 1024 * 1024;

/**
 * With `syncReads`, what is left of a file at or below this many bytes is read with one synchronous
 * call, streamed or read directly (`readInto`), and opened and closed the same way when the body
 * opens the file itself: a small
 * file's upload makes no thread-pool round trip, as curl's does not. Each asynchronous call is a
 * hand-off to libuv's pool and back (a wake-up of a pool thread, a callback, a promise), which costs
 * more CPU than a page-cache read of a few KiB blocks the loop (docs/benchmarks/server.md).
 */
export const SYNC_READ_MAX = 64 * 1024;

/**
 * A body an engine can read straight into its own buffers: positional reads into a part buffer, no
 * chunk allocated, nothing copied (`chunkedUpload` with a local file). Core's layers between the
 * file and the driver (retry, timeout) forward it, each counting what it hands out as it would a
 * chunk of the stream.
 */
export interface DirectBody {
  /**
   * Fills `target` from the next bytes of the body; returns fewer bytes than it holds only at the
   * end (then `ended` is true). Rejects with the body's failure.
   */
  readInto(target: Buffer): Promise<number>;
  /** Every byte was handed out (by `readInto` or as stream chunks). */
  readonly ended: boolean;
}

/** The stream as a `DirectBody`, when it is one that no one has read as a stream yet. */
export function directBody(body: Readable): DirectBody | undefined {
  const candidate = body as Readable & { readInto?: unknown; canReadInto?: () => boolean };
  return typeof candidate.readInto === 'function' && candidate.canReadInto?.() === true
    ? (candidate as unknown as DirectBody)
    : undefined;
}

/**
 * Read buffers of one size, kept for reuse: a buffer goes back only when the consumer that wrote a
 * chunk out says it is done with it (`RELEASE_CHUNK`, e.g. a server once the socket has taken the
 * bytes). A chunk nobody gives back is garbage as any other; the pool holds no reference to a buffer
 * it lent, and keeps at most `max` idle ones.
 */
export class ReadBufferPool {
  readonly #idle: Buffer[] = [];

  constructor(
    readonly size: number,
    readonly max: number,
  ) {}

  take(): Buffer {
    return this.#idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    if (this.#idle.length < this.max && buffer.length === this.size) this.#idle.push(buffer);
  }

  /** Idle buffers (tests). */
  get idle(): number {
    return this.#idle.length;
  }
}

/** Where a `FileBody` reads, beyond a whole file opened by path. */
export interface FileBodyOptions {
  /**
   * A file already open (a driver that opened it with O_NOFOLLOW, say): read instead of opening
   * `path`, and closed when the body ends or is destroyed (`path` then only names it in messages).
   */
  handle?: FileHandle | undefined;
  /** The first byte to read (default 0); `size` bytes from there. */
  start?: number | undefined;
  /**
   * Streamed chunks come from (and go back to) these buffers: each whole chunk carries
   * `RELEASE_CHUNK`, which gives its buffer back for a later read. Without it each chunk is
   * allocated for its read. The pool's buffer size is the chunk size.
   */
  buffers?: ReadBufferPool | undefined;
  /** Destroys the body (and closes the file) when aborted. */
  signal?: AbortSignal | undefined;
  /**
   * The file lies on a local disk (`onLocalDisk`): a rest of at most `SYNC_READ_MAX` bytes is read
   * (and the file opened and closed) synchronously. Not for a file system whose calls may wait on
   * the network (NFS, sshfs…): they would block the event loop.
   */
  syncReads?: boolean | undefined;
}

/**
 * `size` bytes of a local file as a stream, the one reader of local files in the project: core's
 * upload body (no more than `size` bytes are read, like `createReadStream`'s `end`) and the local
 * driver's reads (an open handle, a range, pooled buffers; see `FileBodyOptions`). A consumer that
 * streams it gets chunks of up to 1 MiB (or the pool's size), each sized to what is left; the
 * chunked-upload engine reads it with `readInto` instead, straight into its pooled part buffers.
 * One or the other: once streamed it cannot be read directly. Every byte passes `observe` once, in
 * order (core's progress and hash), whichever way it was read. A file shorter than announced ends
 * early, without error (core's length check reports it). The file is closed when the body ends or
 * is destroyed, never while a read is in flight (a closed descriptor's number may name another file).
 */
export class FileBody extends Readable implements DirectBody {
  /** Bytes handed out so far. */
  bytes = 0;
  /** Sees every byte once, in order, as it is handed out. */
  observe: ((data: Buffer) => void) | undefined;
  #fd: Promise<number> | undefined;
  /** The descriptor, once known without waiting (a handle's, or opened synchronously). */
  #descriptor: number | undefined;
  /** Opened here synchronously: closed the same way. */
  #openedSync = false;
  /** The read in flight: the file is closed only after it settled (its descriptor could be reused). */
  #reading: Promise<unknown> = Promise.resolve();
  #ended = false;
  #streamed = false;
  #direct = false;
  readonly #handle: FileHandle | undefined;
  readonly #start: number;
  readonly #buffers: ReadBufferPool | undefined;
  readonly #syncReads: boolean;

  constructor(
    readonly path: string,
    readonly size: number,
    options: FileBodyOptions = {},
  ) {
    // One chunk ahead of the consumer: what `fs.createReadStream` with this high-water mark holds.
    super({ highWaterMark: options.buffers?.size ?? CHUNK });
    this.#handle = options.handle;
    if (this.#handle) {
      this.#descriptor = this.#handle.fd;
      this.#fd = Promise.resolve(this.#descriptor);
    }
    this.#start = options.start ?? 0;
    this.#buffers = options.buffers;
    this.#syncReads = options.syncReads === true;
    const signal = options.signal;
    if (signal) {
      const abort = () => this.destroy(signal.reason as Error);
      if (signal.aborted) queueMicrotask(abort);
      else {
        signal.addEventListener('abort', abort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', abort));
      }
    }
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Not read as a stream yet: `readInto` may take it. */
  canReadInto(): boolean {
    return !this.#streamed && !this.destroyed;
  }

  async readInto(target: Buffer): Promise<number> {
    if (this.#streamed) throw new Error(`${this.path}: read as a stream already`);
    this.#direct = true;
    let filled = 0;
    while (filled < target.length && !this.#ended) {
      if (this.destroyed) throw this.errored ?? new Error(`${this.path}: the upload body was closed`);
      const want = Math.min(target.length - filled, this.size - this.bytes);
      const n =
        want > 0 ? (this.#readSync(target, filled, want) ?? (await this.#read(target, filled, want))) : 0;
      if (n === 0) {
        this.#end();
        break;
      }
      this.#hand(target.subarray(filled, filled + n));
      filled += n;
      if (this.bytes >= this.size) this.#end();
    }
    return filled;
  }

  override _read(): void {
    // Read directly: the stream only ends, after the last byte `readInto` handed out.
    if (this.#direct) return;
    this.#streamed = true;
    const pool = this.#buffers;
    const left = this.size - this.bytes;
    const want = Math.min(pool?.size ?? CHUNK, left);
    if (want <= 0) {
      this.#end();
      return;
    }
    // Sized to what is left: a 4 KiB file never allocates a 1 MiB buffer (nor holds a pooled one).
    const lent = pool !== undefined && want === pool.size;
    const chunk = lent ? pool.take() : Buffer.allocUnsafeSlow(want);
    const got = (n: number) => {
      if (this.destroyed || n === 0) {
        // Never lent: the buffer goes back at once (a short read's stays with its chunk).
        if (lent) pool.give(chunk);
        if (n === 0 && !this.destroyed) this.#end();
        return;
      }
      const data = n === want ? chunk : chunk.subarray(0, n);
      if (lent && n === want) lend(data, pool);
      this.#hand(data);
      this.push(data);
      if (this.bytes >= this.size) this.#end();
    };
    const failed = (error: unknown) => {
      if (lent) pool.give(chunk);
      this.destroy(error as Error);
    };
    // The rest of a small file in one synchronous read; not while an open is still on its way.
    if (this.#syncAllowed()) {
      let n: number;
      try {
        n = readSync(this.#openSync(), chunk, 0, want, this.#start + this.bytes);
      } catch (error) {
        failed(error);
        return;
      }
      got(n);
      return;
    }
    this.#read(chunk, 0, want).then(got, failed);
  }

  /** `syncReads`, what is left is at most `SYNC_READ_MAX`, and no asynchronous open is on its way. */
  #syncAllowed(): boolean {
    return (
      this.#syncReads &&
      this.size - this.bytes <= SYNC_READ_MAX &&
      (this.#descriptor !== undefined || this.#fd === undefined)
    );
  }

  /**
   * `readInto`'s read of the rest of a small file in one synchronous call (the chunked-upload
   * engine's way to read a whole small file: no thread-pool round trip for its open, read or
   * close); undefined when the read must be asynchronous. A failure destroys the body and throws.
   */
  #readSync(buffer: Buffer, offset: number, length: number): number | undefined {
    if (!this.#syncAllowed()) return undefined;
    try {
      return readSync(this.#openSync(), buffer, offset, length, this.#start + this.bytes);
    } catch (error) {
      this.destroy(error as Error);
      throw error;
    }
  }

  /** The descriptor, opening the file synchronously if nothing opened it yet. */
  #openSync(): number {
    if (this.#descriptor === undefined) {
      this.#descriptor = openSync(this.path, 'r');
      this.#openedSync = true;
      this.#fd = Promise.resolve(this.#descriptor);
    }
    return this.#descriptor;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (!fd) {
      callback(error);
      return;
    }
    const handle = this.#handle;
    if (this.#openedSync) {
      // Opened synchronously, so every read was synchronous too: none is in flight. A failed close
      // is ignored, as for a file opened asynchronously.
      try {
        closeSync(this.#descriptor!);
      } catch {}
      callback(error);
      return;
    }
    const closeIt = handle
      ? () =>
          handle.close().then(
            () => callback(error),
            (closeError: unknown) => callback(error ?? (closeError as Error)),
          )
      : () =>
          fd.then(
            (descriptor) => close(descriptor, () => callback(error)),
            () => callback(error),
          );
    this.#reading.then(closeIt, closeIt);
  }

  #hand(data: Buffer): void {
    this.bytes += data.length;
    this.observe?.(data);
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.push(null);
    // Read directly, nobody reads the stream: let it emit 'end' (and close the file) now.
    if (this.#direct) this.read(0);
  }

  /** One positional read of up to `length` bytes into `buffer` at `offset`. */
  #read(buffer: Buffer, offset: number, length: number): Promise<number> {
    this.#fd ??= new Promise<number>((resolve, reject) =>
      open(this.path, 'r', (error, fd) => (error ? reject(error) : resolve(fd))),
    );
    const position = this.#start + this.bytes;
    const reading = this.#fd
      .then(
        (fd) =>
          new Promise<number>((resolve, reject) =>
            read(fd, buffer, offset, length, position, (error, n) => (error ? reject(error) : resolve(n))),
          ),
      )
      .catch((error: unknown) => {
        this.destroy(error as Error);
        throw error;
      });
    this.#reading = reading;
    return reading;
  }
}

/** Marks `chunk` (a whole buffer of `pool`) as given back to the pool by its consumer, once. */
function lend(chunk: Buffer, pool: ReadBufferPool): void {
  let given = false;
  (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => {
    if (given) return;
    given = true;
    pool.give(chunk);
  };
}
