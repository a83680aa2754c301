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
