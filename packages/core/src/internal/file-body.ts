import { close, open, read } from 'node:fs';
import { Readable } from 'node:stream';
import { RELEASE_CHUNK } from '../driver.js';
import { release } from './release.js';

/** Bytes per chunk when the file is read as a stream (what `createReadStream` used to give). */
const CHUNK = 1024 * 1024;

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
 * A local file of `size` bytes as an upload body (no more than `size` bytes are read, like
 * `createReadStream`'s `end`). A driver that streams it gets chunks of up to 1 MiB, each read for it;
 * the chunked-upload engine reads it with `readInto` instead, straight into its pooled part buffers.
 * One or the other: once streamed it cannot be read directly. Every byte passes `observe` once, in
 * order (core's progress and hash), whichever way it was read.
 */
export class FileBody extends Readable implements DirectBody {
  /** Bytes handed out so far. */
  bytes = 0;
  /** Sees every byte once, in order, as it is handed out. */
  observe: ((data: Buffer) => void) | undefined;
  #fd: Promise<number> | undefined;
  /** The read in flight: the file is closed only after it settled (its descriptor could be reused). */
  #reading: Promise<unknown> = Promise.resolve();
  #ended = false;
  #streamed = false;
  #direct = false;

  constructor(
    readonly path: string,
    readonly size: number,
  ) {
    // No read-ahead beyond the one read in flight: a second chunk waiting in the buffer would be
    // handed to an async-iterating consumer (`read()` with no size) as one new buffer, both copied.
    super({ highWaterMark: 0 });
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
      const n = want > 0 ? await this.#read(target, filled, want) : 0;
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
    const want = Math.min(CHUNK, this.size - this.bytes);
    if (want <= 0) {
      this.#end();
      return;
    }
    // Sized to what is left: a 4 KiB file never allocates a 1 MiB buffer.
    const chunk = Buffer.allocUnsafeSlow(want);
    this.#read(chunk, 0, want).then(
      (n) => {
        if (this.destroyed) return;
        if (n === 0) {
          this.#end();
          return;
        }
        const data = n === want ? chunk : chunk.subarray(0, n);
        // A buffer of its own that nothing else keeps: its last consumer (an HTTP request once the
        // socket took it) frees it at once rather than leaving 1 MiB per chunk to the collector.
        if (data === chunk)
          (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => release(chunk);
        this.#hand(data);
        this.push(data);
        if (this.bytes >= this.size) this.#end();
      },
      (error: unknown) => this.destroy(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.#fd;
    this.#fd = undefined;
    if (!fd) {
      callback(error);
      return;
    }
    const closeIt = () =>
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
    const position = this.bytes;
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
