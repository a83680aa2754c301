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

/** Where counted bytes are reported: a transfer's `Progress`, under the file's key. */
export interface ByteSink {
  bytes(delta: number, key: string): void;
}

/**
 * What one transfer counts (for progress) and hashes (for integrity), one pass over the bytes serving
 * both. A plain object: a local file's upload reaches it through `FileBody`'s shared `observe`, with
 * no stream in between (a Transform per file, or a fresh closure stored on each body, outlived V8's
 * young-generation collections and grew the young generation over many small files,
 * docs/benchmarks/s3.md); a `Meter` stream counts through one. `progress` and `key` are kept
 * rather than a closure over them, for the same reason.
 */
export class Tally {
  bytes = 0;
  readonly #hasher: Hasher | undefined;
  #digest: string | undefined;

  constructor(
    readonly algorithm: ChecksumAlgorithm | undefined,
    private readonly progress?: ByteSink,
    private readonly key = '',
  ) {
    this.#hasher = algorithm ? createHasher(algorithm) : undefined;
  }

  account(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.#hasher?.update(chunk);
    this.progress?.bytes(chunk.length, this.key);
  }

  digest(): string | undefined {
    if (!this.#hasher) return undefined;
    this.#digest ??= this.#hasher.digest();
    return this.#digest;
  }
}

/**
 * A pass-through that counts and hashes the bytes going through it (its `tally`). With
 * `expectedBytes`, a stream that ends with fewer (or more) bytes fails with `integrity` instead of
 * ending: a store that closed early never yields a short file; with `expected`, one whose bytes hash
 * to another value fails likewise.
 */
export class Meter extends Transform {
  readonly tally: Tally;

  constructor(
    algorithm: ChecksumAlgorithm | undefined,
    progress?: ByteSink,
    key?: string,
    private readonly expected?: Checksum,
    private readonly what = 'artifact',
    private readonly expectedBytes?: number,
  ) {
    super();
    this.tally = new Tally(algorithm, progress, key);
  }

  get bytes(): number {
    return this.tally.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.tally.account(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { bytes, algorithm } = this.tally;
    if (this.expectedBytes !== undefined && bytes !== this.expectedBytes) {
      callback(
        new ArtifactsError(
          'integrity',
          `${this.what}: expected ${this.expectedBytes} bytes, received ${bytes} (the store ${bytes < this.expectedBytes ? 'ended the stream early' : 'sent more than it announced'})`,
        ),
      );
      return;
    }
    if (this.expected && algorithm && this.expected.algorithm === algorithm) {
      const actual = this.tally.digest();
      if (actual !== this.expected.value) {
        callback(
          new ArtifactsError(
            'integrity',
            `${this.what}: ${algorithm} checksum mismatch (store says ${this.expected.value}, received bytes hash to ${actual})`,
          ),
        );
        return;
      }
    }
    callback();
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
