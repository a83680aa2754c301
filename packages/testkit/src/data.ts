import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';

export interface DataStreamOptions {
  /** Different seeds give different bytes; the same seed always gives the same bytes. Default 'artifacts'. */
  seed?: string | number;
  /** Bytes per emitted chunk. Default 1 MiB. */
  chunkSize?: number;
  /** Waits this long before each chunk (a slow producer, for abort and timeout tests). Default 0. */
  delayMs?: number;
  /**
   * Hands the bytes out no faster than this, by bytes against the clock from the first read: a
   * chunk is due once the bytes before it have had their time, so a late timer (a loaded machine)
   * is caught up, never added to the pace. Default: as fast as they are read.
   */
  bytesPerSecond?: number;
  /** Fails the stream with an error once this many bytes were emitted. */
  errorAfter?: number;
  /** Stops producing (without ending or failing) once this many bytes were emitted: a stalled source. */
  stallAfter?: number;
  /** Called after each chunk with the number of bytes emitted so far. */
  onBytes?: (emitted: number) => void;
}

const ZEROES = Buffer.alloc(1024 * 1024);

// AES-256-CTR over zeroes is a fast, native, platform-independent keystream: deterministic bytes at
// GB/s without holding them, and any chunking of it concatenates to the same bytes.
function keystream(seed: string | number) {
  const key = createHash('sha256')
    .update(`@artifacts/testkit:${String(seed)}`)
    .digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
}

/**
 * A deterministic stream of `size` pseudo-random bytes, produced on demand (never held in memory).
 * `dataBytes(size, { seed })` and `hashData(size, { seed })` give the same bytes and their hash.
 */
export function dataStream(size: number, options: DataStreamOptions = {}): Readable {
  if (!Number.isSafeInteger(size) || size < 0)
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  const {
    seed = 'artifacts',
    chunkSize = 1024 * 1024,
    delayMs = 0,
    bytesPerSecond,
    errorAfter,
    stallAfter,
    onBytes,
  } = options;
  if (bytesPerSecond !== undefined && !(bytesPerSecond > 0))
    throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
  const cipher = keystream(seed);
  let emitted = 0;
  let started: number | undefined;
  const produce = (): Buffer | null => {
    if (errorAfter !== undefined && emitted >= errorAfter) {
      throw new Error(`@artifacts/testkit: source stream failed on purpose after ${emitted} bytes`);
    }
    const n = Math.min(
      chunkSize,
      size - emitted,
      errorAfter === undefined ? chunkSize : errorAfter - emitted,
      stallAfter === undefined ? chunkSize : stallAfter - emitted,
    );
    if (n <= 0) return null;
    const chunk = cipher.update(n <= ZEROES.length ? ZEROES.subarray(0, n) : Buffer.alloc(n));
    emitted += n;
    return chunk;
  };
  return new Readable({
    highWaterMark: chunkSize,
    read() {
      if (stallAfter !== undefined && emitted >= stallAfter) return;
      const push = () => {
        try {
          const chunk = produce();
          this.push(chunk);
          if (chunk) onBytes?.(emitted);
        } catch (error) {
          this.destroy(error as Error);
        }
      };
      let wait = delayMs;
      if (bytesPerSecond !== undefined) {
        started ??= performance.now();
        wait = Math.max(wait, started + (emitted * 1000) / bytesPerSecond - performance.now());
      }
      if (wait > 0) setTimeout(push, wait);
      else push();
    },
  });
}

/** The bytes of `dataStream(size, options)`, in memory: for small fixtures only. */
export function dataBytes(size: number, options: Pick<DataStreamOptions, 'seed'> = {}): Buffer {
  return keystream(options.seed ?? 'artifacts').update(Buffer.alloc(size));
}

export interface HashResult {
  /** Hex digest. */
  digest: string;
  bytes: number;
}

/** Hashes a stream (Node Readable or any async iterable of bytes) without holding it. */
export async function hashStream(
  stream: AsyncIterable<Uint8Array | string>,
  algorithm = 'sha256',
): Promise<HashResult> {
  const hash = createHash(algorithm);
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { digest: hash.digest('hex'), bytes };
}

/** Hashes a local file by streaming it. */
export function hashFile(path: string, algorithm = 'sha256'): Promise<HashResult> {
  return hashStream(createReadStream(path, { highWaterMark: 1024 * 1024 }), algorithm);
}

/** The hash `dataStream(size, options)` will have, computed by streaming it (no memory held). */
export function hashData(
  size: number,
  options: Pick<DataStreamOptions, 'seed'> = {},
  algorithm = 'sha256',
): Promise<HashResult> {
  return hashStream(dataStream(size, options), algorithm);
}

/** Reads a whole (small) stream into memory. */
export async function readAll(stream: AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
