import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Opens a stream of bytes [start, end] (inclusive) of the object. */
export type RangeFetcher = (start: number, end: number, signal: AbortSignal) => Promise<Readable>;

export interface ParallelReadOptions {
  /** Bytes per ranged request. */
  partSize: number;
  /** Ranged requests in flight at once (1 = sequential). */
  concurrency: number;
  /**
   * Bytes a part that is not yet being consumed may buffer before TCP back-pressure holds it: this,
   * times `concurrency`, bounds the memory of one read whatever the object's size.
   */
  aheadBytes: number;
  signal?: AbortSignal;
}

/**
 * One ordered stream over bytes [start, end] of an object, fetched as ranged requests of `partSize`
 * with up to `concurrency` in flight. `first` is the already-open stream of the first part (the
 * request that told the caller the object's size), so small objects cost one request.
 */
export function parallelRangeStream(
  fetch: RangeFetcher,
  first: Readable,
  start: number,
  end: number,
  options: ParallelReadOptions,
): Readable {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const ranges: Array<[number, number]> = [];
  for (let from = start; from <= end; from += options.partSize) {
    ranges.push([from, Math.min(end, from + options.partSize - 1)]);
  }
  const open = (index: number): PassThrough => {
    const [from, to] = ranges[index]!;
    const out = new PassThrough({ highWaterMark: options.aheadBytes });
    const expected = to - from + 1;
    let received = 0;
    const counter = new PassThrough();
    counter.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    const source = index === 0 ? Promise.resolve(first) : fetch(from, to, controller.signal);
    source
      .then((stream) => pipeline(stream, counter, out))
      .then(() => {
        // A response that ends early (a dropped connection the SDK did not notice) must not yield a
        // silently short object.
        if (received !== expected)
          throw new Error(
            `ranged read of bytes ${from}-${to} returned ${received} bytes, expected ${expected}`,
          );
      })
      .catch((error: unknown) => {
        if (!out.destroyed) out.destroy(error as Error);
      });
    return out;
  };

  const queue: PassThrough[] = [];
  let next = 0;
  async function* generate(): AsyncGenerator<Buffer> {
    while (queue.length < options.concurrency && next < ranges.length) queue.push(open(next++));
    while (queue.length > 0) {
      const part = queue[0]!;
      if (next < ranges.length) queue.push(open(next++));
      for await (const chunk of part) yield chunk as Buffer;
      queue.shift();
    }
  }
  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: 1024 * 1024 });
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    options.signal?.removeEventListener('abort', onAbort);
    controller.abort();
    for (const part of queue) part.destroy();
    if (next === 0) first.destroy();
  };
  // On an early destroy the generator may be parked awaiting a part that never ends: stop the
  // requests first (synchronously, inside destroy) so that it can unwind. On end, the same cleanup.
  const destroyImpl = stream._destroy.bind(stream);
  stream._destroy = (error, callback) => {
    cleanup();
    destroyImpl(error, callback);
  };
  stream.once('close', cleanup);
  return stream;
}
