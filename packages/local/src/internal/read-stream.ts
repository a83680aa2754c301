import { read } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { RELEASE_CHUNK } from '@artifacts/core';

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

/**
 * Bytes [start, end] of an open file as a stream of positional reads: each full chunk is read into a
 * buffer of `pool` and carries `RELEASE_CHUNK`, which gives the buffer back for the next read; the
 * last, shorter chunk of a read is allocated at its own size (a small file never holds a whole read
 * buffer). The handle is closed when the stream ends or is destroyed (never while a read is in
 * flight: a closed descriptor's number may already name another file).
 */
export class PositionalReadStream extends Readable {
  readonly #handle: FileHandle;
  readonly #pool: ReadBufferPool;
  readonly #end: number;
  #position: number;
  #reading = false;
  #closing: Promise<void> | undefined;
  #afterRead: (() => void) | undefined;

  constructor(
    handle: FileHandle,
    range: { start: number; end: number },
    pool: ReadBufferPool,
    signal?: AbortSignal,
  ) {
    // One chunk ahead of the consumer: what `fs.createReadStream` with this high-water mark holds.
    super({ highWaterMark: pool.size });
    this.#handle = handle;
    this.#pool = pool;
    this.#position = range.start;
    this.#end = range.end;
    if (signal) {
      const abort = () => this.destroy(signal.reason as Error);
      if (signal.aborted) queueMicrotask(abort);
      else {
        signal.addEventListener('abort', abort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', abort));
      }
    }
  }

  override _read(): void {
    const left = this.#end - this.#position + 1;
    if (left <= 0) {
      this.push(null);
      return;
    }
    const full = left >= this.#pool.size;
    const buffer = full ? this.#pool.take() : Buffer.allocUnsafe(left);
    const length = full ? this.#pool.size : left;
    this.#reading = true;
    read(this.#handle.fd, buffer, 0, length, this.#position, (error, bytesRead) => {
      this.#reading = false;
      if (this.#afterRead) {
        // Destroyed meanwhile: the buffer was never lent, and the handle may close now.
        if (full) this.#pool.give(buffer);
        this.#afterRead();
        return;
      }
      if (error) {
        if (full) this.#pool.give(buffer);
        this.destroy(error);
        return;
      }
      if (bytesRead === 0) {
        // The file is shorter than when it was opened: end here; core's length check reports it.
        if (full) this.#pool.give(buffer);
        this.push(null);
        return;
      }
      this.#position += bytesRead;
      let chunk = buffer;
      if (bytesRead < length) chunk = buffer.subarray(0, bytesRead);
      else if (full) lend(chunk, this.#pool);
      this.push(chunk);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const close = () => {
      this.#closing ??= this.#handle.close();
      this.#closing.then(
        () => callback(error),
        (closeError: unknown) => callback(error ?? (closeError as Error)),
      );
    };
    if (this.#reading) this.#afterRead = close;
    else close();
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
