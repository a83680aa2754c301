import { Readable } from 'node:stream';
import { ArtifactsError, isAbortError } from '@artifacts/core';

export interface ParallelDownloadOptions {
  /** The response of a plain GET of the whole object: its first `chunkSize` bytes are used as is. */
  first: Readable;
  size: number;
  chunkSize: number;
  /** Ranged GETs in flight at once (the first response counts as one). */
  concurrency: number;
  /** Opens bytes [start, end] (inclusive) of the same object version. */
  fetchRange(start: number, end: number, signal: AbortSignal): Promise<Readable>;
  signal?: AbortSignal;
  /** Attempts per range when its body fails half-way (the SDK retries only until the headers). */
  attempts?: number;
  what: string;
}

async function collect(stream: Readable, expected: number, what: string): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    length += (chunk as Buffer).length;
  }
  if (length !== expected) {
    throw new ArtifactsError(
      'unavailable',
      `${what}: a ranged GET returned ${length} bytes instead of ${expected}`,
    );
  }
  return chunks;
}

/**
 * One ordered stream of a large object, fetched by several ranged GETs at once. Memory stays
 * bounded: at most `concurrency` ranges are held, each `chunkSize` bytes, and the next range is only
 * started when the consumer has taken one. Any failure aborts every request in flight.
 */
export function parallelDownload(options: ParallelDownloadOptions): Readable {
  return Readable.from(generate(options), { objectMode: false, highWaterMark: 1 });
}

async function* generate(options: ParallelDownloadOptions): AsyncGenerator<Buffer> {
  const { first, size, chunkSize, what } = options;
  const attempts = options.attempts ?? 3;
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const ranges: Array<[number, number]> = [];
  for (let start = chunkSize; start < size; start += chunkSize) {
    ranges.push([start, Math.min(start + chunkSize, size) - 1]);
  }
  const pending: Array<Promise<Buffer[]>> = [];
  let next = 0;
  const fetchOne = async (start: number, end: number): Promise<Buffer[]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const body = await options.fetchRange(start, end, controller.signal);
        return await collect(body, end - start + 1, what);
      } catch (error) {
        const retryable =
          attempt < attempts &&
          !controller.signal.aborted &&
          !isAbortError(error) &&
          // S3 answered (404, 412 after an overwrite…): retrying cannot help.
          (error as { $metadata?: unknown }).$metadata === undefined;
        if (!retryable) throw error;
      }
    }
  };
  const launch = () => {
    const [start, end] = ranges[next++]!;
    const promise = fetchOne(start, end);
    // Handled when its turn comes; until then a failure must not count as unhandled.
    promise.catch(() => undefined);
    pending.push(promise);
  };

  try {
    while (next < ranges.length && pending.length < options.concurrency - 1) launch();
    const firstLength = Math.min(chunkSize, size);
    let got = 0;
    for await (const chunk of first) {
      const buffer = chunk as Buffer;
      const remaining = firstLength - got;
      if (buffer.length >= remaining) {
        got = firstLength;
        yield buffer.subarray(0, remaining);
        break;
      }
      got += buffer.length;
      yield buffer;
    }
    first.destroy();
    if (got !== firstLength) {
      throw new ArtifactsError('unavailable', `${what}: the connection closed after ${got} of ${size} bytes`);
    }
    while (pending.length > 0) {
      const buffers = await pending.shift()!;
      if (next < ranges.length) launch();
      for (const buffer of buffers) yield buffer;
    }
  } finally {
    controller.abort();
    first.destroy();
    options.signal?.removeEventListener('abort', onAbort);
  }
}
