import type { Readable, Writable } from 'node:stream';
import { RELEASE_CHUNK } from './driver.js';
import { ownsBuffer, release } from './internal/release.js';

/**
 * The two ends of core's rule for a chunk's memory on the write path (see `RELEASE_CHUNK`):
 *
 * - The producer of a body whose chunks are fresh buffers nobody else holds (the proxy server's
 *   request bodies: Node's HTTP parser copies each body chunk into a buffer of its own) lends them
 *   with `lendChunks`. Having handed a chunk on, it never reads or writes it again.
 * - The consumer that writes a chunk out — a file (`releaseWritten`), a socket (core's `HttpPool`),
 *   a part buffer it was copied into (core's chunked-upload engine), an SFTP packet — calls its
 *   `RELEASE_CHUNK` once, after the bytes have left the chunk, and only when it keeps no reference
 *   of its own (nothing it may write again: a retry sends a copy, never the lent chunk).
 *
 * Everything between the two (core's `Meter`, the layers' views, the server's size limit) hands on
 * the very chunk object it received and never calls it. A chunk whose consumer does not call it
 * (an SDK, a stream that joins chunks) is garbage as any other: the rule costs nothing where it is
 * not followed, and frees an upload's memory at once where it is.
 */

type Lendable = Uint8Array & { [RELEASE_CHUNK]?: () => void };

const streamPush = (stream: Readable) => Object.getPrototypeOf(stream).push as Readable['push'];

/**
 * Marks each chunk `stream` pushes from now on (a whole buffer of its own; a view into a shared one
 * is left alone) with a `RELEASE_CHUNK` that frees its memory at once (its `ArrayBuffer` detached).
 * Only for a stream whose chunks nobody else holds or will read after its consumer.
 */
export function lendChunks<T extends Readable>(stream: T): T {
  const push = streamPush(stream);
  stream.push = function lendingPush(this: Readable, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (
      chunk instanceof Uint8Array &&
      (chunk as Lendable)[RELEASE_CHUNK] === undefined &&
      ownsBuffer(chunk)
    ) {
      // A closure, not a shared method: consumers call it unbound (`const free = chunk[RELEASE_CHUNK]`).
      (chunk as Lendable)[RELEASE_CHUNK] = () => release(chunk);
    }
    return push.call(this, chunk, encoding);
  };
  return stream;
}

/** Calls a chunk's `RELEASE_CHUNK`, if it carries one. */
export function releaseChunk(chunk: unknown): void {
  (chunk as Lendable | undefined)?.[RELEASE_CHUNK]?.();
}

type Written = (error?: Error | null) => void;

/**
 * Makes `out` (a file's write stream: one that has written a chunk's bytes when its write's callback
 * runs, and keeps no reference to it after) call each chunk's `RELEASE_CHUNK` once that chunk's
 * write succeeded, whether it was written alone or gathered with others (`_writev`). A failed write
 * releases nothing: its chunks are garbage. `pipeline(body, releaseWritten(out))` keeps pipeline's
 * back-pressure and error handling.
 */
export function releaseWritten<T extends Writable>(out: T): T {
  const stream = out as T & {
    _write: (chunk: unknown, encoding: BufferEncoding, callback: Written) => void;
    _writev?: (chunks: { chunk: unknown }[], callback: Written) => void;
  };
  const write = stream._write;
  stream._write = function (this: T, chunk, encoding, callback) {
    write.call(this, chunk, encoding, (error) => {
      if (!error) releaseChunk(chunk);
      callback(error);
    });
  };
  const writev = stream._writev;
  if (writev) {
    stream._writev = function (this: T, chunks, callback) {
      writev.call(this, chunks, (error) => {
        if (!error) for (const { chunk } of chunks) releaseChunk(chunk);
        callback(error);
      });
    };
  }
  return out;
}
