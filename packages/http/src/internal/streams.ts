import { type Readable, Transform, type TransformCallback } from 'node:stream';
import type { StreamBody } from './client.js';

/**
 * Wraps a one-shot stream as a request body that can be sent again as long as not one byte of it
 * was taken (the request failed before the body started: connection refused, a 503 at once). The
 * stream is iterated without being destroyed when a request gives up on it.
 */
export function streamBody(source: Readable): StreamBody & { readonly bytes: number } {
  let bytes = 0;
  return {
    get bytes() {
      return bytes;
    },
    canReplay: () => bytes === 0 && !source.destroyed,
    iterable: () => ({
      async *[Symbol.asyncIterator]() {
        for await (const chunk of source.iterator({ destroyOnReturn: false })) {
          bytes += (chunk as Buffer).length;
          yield chunk as Uint8Array;
        }
      },
    }),
  };
}

/**
 * Reads a stream in pieces of exactly `size` bytes (the last may be shorter), copying into one
 * buffer per piece: what a multipart upload needs to hold a part for its retries.
 */
export class PartReader {
  readonly #iterator: AsyncIterator<Buffer>;
  #pending: Buffer | undefined;
  #done = false;
  total = 0;

  constructor(source: Readable) {
    this.#iterator = source
      .iterator({ destroyOnReturn: false })
      [Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next `size` bytes, fewer only at the end of the stream. */
  async read(size: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      let chunk = this.#pending;
      this.#pending = undefined;
      if (!chunk) {
        if (this.#done) break;
        const next = await this.#iterator.next();
        if (next.done) {
          this.#done = true;
          break;
        }
        chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
      }
      const take = Math.min(chunk.length, size - filled);
      chunk.copy(out, filled, 0, take);
      filled += take;
      if (take < chunk.length) this.#pending = chunk.subarray(take);
    }
    this.total += filled;
    return filled === size ? out : out.subarray(0, filled);
  }

  /** True once the stream has nothing more (reads one chunk ahead when needed). */
  async ended(): Promise<boolean> {
    if (this.#pending && this.#pending.length > 0) return false;
    if (this.#done) return true;
    const next = await this.#iterator.next();
    if (next.done) {
      this.#done = true;
      return true;
    }
    this.#pending = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    return this.#pending.length === 0 ? this.ended() : false;
  }
}

/** Keeps bytes [start, end] of a stream that starts at byte 0 (a server that ignored Range). */
export class RangeFilter extends Transform {
  #position = 0;
  #ended = false;

  readonly #start: number;
  readonly #last: number;

  constructor(start: number, end: number | undefined) {
    super();
    this.#start = start;
    this.#last = end === undefined ? Number.POSITIVE_INFINITY : end + 1;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#ended) {
      callback();
      return;
    }
    const from = this.#position;
    const to = from + chunk.length; // exclusive
    this.#position = to;
    const last = this.#last;
    const lo = Math.max(this.#start, from);
    const hi = Math.min(last, to);
    if (hi > lo) this.push(chunk.subarray(lo - from, hi - from));
    if (to >= last) {
      this.#ended = true;
      this.push(null);
    }
    callback();
  }
}
