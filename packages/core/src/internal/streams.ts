import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Checksum, ChecksumAlgorithm } from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { createHasher, type Hasher } from './checksum.js';

/** What `repo.write` accepts. */
export type WriteBody =
  | Readable
  | WebReadableStream<Uint8Array>
  | ReadableStream<Uint8Array>
  | Uint8Array
  | string;

export function toReadable(body: WriteBody): { stream: Readable; size?: number } {
  if (typeof body === 'string') {
    const bytes = Buffer.from(body, 'utf8');
    return { stream: Readable.from([bytes], { objectMode: false }), size: bytes.length };
  }
  if (body instanceof Uint8Array) {
    return {
      stream: Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)], {
        objectMode: false,
      }),
      size: body.byteLength,
    };
  }
  if (body instanceof Readable) return { stream: body };
  if (body && typeof (body as ReadableStream).getReader === 'function') {
    return { stream: Readable.fromWeb(body as WebReadableStream<Uint8Array>) };
  }
  throw ArtifactsError.invalidArgument(
    'write body must be a Readable, a web ReadableStream, a Uint8Array or a string',
  );
}

/**
 * A pass-through that counts bytes (for progress) and hashes them (for integrity), so one pass
 * over the data serves both. With `expectedBytes`, a stream that ends with fewer (or more) bytes
 * fails with `integrity` instead of ending: a store that closed early never yields a short file.
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly hasher: Hasher | undefined;
  private digestValue: string | undefined;

  constructor(
    readonly algorithm: ChecksumAlgorithm | undefined,
    private readonly onBytes?: (delta: number) => void,
    private readonly expected?: Checksum,
    private readonly what = 'artifact',
    private readonly expectedBytes?: number,
  ) {
    super();
    this.hasher = algorithm ? createHasher(algorithm) : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.account(chunk);
    callback(null, chunk);
  }

  /** Counts and hashes `chunk` without passing it on (a body read past the stream: `FileBody`). */
  account(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.hasher?.update(chunk);
    this.onBytes?.(chunk.length);
  }

  override _flush(callback: TransformCallback): void {
    if (this.expectedBytes !== undefined && this.bytes !== this.expectedBytes) {
      callback(
        new ArtifactsError(
          'integrity',
          `${this.what}: expected ${this.expectedBytes} bytes, received ${this.bytes} (the store ${this.bytes < this.expectedBytes ? 'ended the stream early' : 'sent more than it announced'})`,
        ),
      );
      return;
    }
    if (this.expected && this.hasher && this.expected.algorithm === this.algorithm) {
      const actual = this.digest();
      if (actual !== this.expected.value) {
        callback(
          new ArtifactsError(
            'integrity',
            `${this.what}: ${this.algorithm} checksum mismatch (store says ${this.expected.value}, received bytes hash to ${actual})`,
          ),
        );
        return;
      }
    }
    callback();
  }

  digest(): string | undefined {
    if (!this.hasher) return undefined;
    this.digestValue ??= this.hasher.digest();
    return this.digestValue;
  }
}
