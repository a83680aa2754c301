import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
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

/** What `stream.pipeline` fails with when a stage closes before its end. */
function prematureClose(): Error {
  return Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
}

/**
 * `source.pipe(through).pipe(sink)` with the outcomes of `stream.pipeline`, without its
 * `AbortController`, whose abort at every finish builds a `DOMException` (about 50 µs of CPU per
 * stream: a server's every GET, every small file an SFTP or FTP download writes):
 * - a failure of any stage, a `source` that closes before its end, or `signal` aborting destroys all
 *   three, `sink` with the failure (as `mapError` makes it; an abort is an `AbortError` whose cause
 *   is the signal's reason, as `pipeline` has it);
 * - `sink` closed before it finished (its consumer stopped reading) stops the others;
 * - `onClose` runs once `sink` has closed: with the failure, with a premature-close error when
 *   `sink` closed unfinished, or with nothing when every byte went through.
 */
export function pipeStages(
  source: Readable,
  through: Transform,
  sink: Writable,
  options: {
    signal?: AbortSignal;
    mapError?: (error: unknown) => Error;
    onClose?: (error: Error | undefined) => void;
  } = {},
): void {
  const { signal, mapError, onClose } = options;
  let failure: Error | undefined;
  let settled = false;
  const fail = (error: unknown) => {
    if (settled) return;
    settled = true;
    failure = mapError ? mapError(error) : (error as Error);
    source.destroy();
    through.destroy();
    sink.destroy(failure);
  };
  const abort = () =>
    fail(
      Object.assign(new Error('The operation was aborted', { cause: signal?.reason }), {
        name: 'AbortError',
        code: 'ABORT_ERR',
      }),
    );
  // `on`, not `once`: a stage may emit a second error while it is destroyed, which must not be uncaught.
  source.on('error', fail);
  through.on('error', fail);
  source.once('close', () => {
    if (!source.readableEnded) fail(prematureClose());
  });
  sink.once('close', () => {
    signal?.removeEventListener('abort', abort);
    if (!settled) {
      settled = true;
      if (!sink.writableFinished) {
        failure = sink.errored ?? prematureClose();
        source.destroy();
        through.destroy();
      }
    }
    onClose?.(failure);
  });
  if (signal?.aborted) abort();
  else signal?.addEventListener('abort', abort, { once: true });
  source.pipe(through).pipe(sink);
}
