import type { Readable } from 'node:stream';
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
