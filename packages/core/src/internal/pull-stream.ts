import { Readable } from 'node:stream';
import { directBody } from './file-body.js';

export interface PullStreamOptions {
  /** Called with each chunk's length as the consumer takes it. */
  onChunk?: (bytes: number) => void;
  /** Called when the consumer waits for data and the source has none; `onData` when it arrives. */
  onWait?: () => void;
  onData?: () => void;
  /** Destroying this stream destroys the source too (false: the source can be handed to another reader). */
  ownSource: boolean;
  /** The error this stream fails with when the source fails with `error`. */
  translateError?: (error: Error) => Error;
}

/**
 * A readable that takes bytes from `source` only when its own consumer asks for them, so that
 * (a) nothing is pulled from the source that the consumer did not take — a body nobody read can
 * be handed to a second attempt — and (b) the time a consumer waits on the source (a stall) can be
 * told apart from the time the consumer is busy (back-pressure).
 */
const ignore = () => undefined;

export class PullStream extends Readable {
  /** Bytes handed to the consumer. */
  pulled = 0;
  #wanting = false;
  #ended = false;
  #listening = false;
  #detached = false;
  readonly #source: Readable;
  readonly #options: PullStreamOptions;
  readonly #onReadable = () => {
    if (this.#wanting) this.#drain();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#options.onData?.();
    this.push(null);
  };
  readonly #onError = (error: Error) => this.destroy(this.#options.translateError?.(error) ?? error);

  constructor(source: Readable, options: PullStreamOptions) {
    super({ highWaterMark: 64 * 1024 });
    this.#source = source;
    this.#options = options;
    // `readable` is listened to only once our consumer first asks for data: adding the listener
    // makes the source read ahead (Node calls `read(0)` on the next tick), and a view stacked on
    // another (the timeout layer's on the retry layer's) would then take bytes from the one below
    // before the store asked for any — the retry layer would think the body read and not retry.
    source.once('end', this.#onEnd);
    source.on('error', this.#onError);
    if (source.readableEnded) this.#onEnd();
  }

  override _read(): void {
    this.#wanting = true;
    if (!this.#listening && !this.#detached) {
      this.#listening = true;
      this.#source.on('readable', this.#onReadable);
    }
    // `read()` calls this before it takes what is buffered, and then takes everything: a chunk
    // pushed now, beside one still buffered, would come out concatenated with it (a copy, and the
    // chunks' `RELEASE_CHUNK` lost). With something buffered, the next chunk waits a tick.
    if (this.readableLength > 0) process.nextTick(() => this.#drain());
    else this.#drain();
  }

  #drain(): void {
    // Once detached, nothing more is taken from the source: it may be handed, whole, to another reader.
    if (this.#ended || this.#detached || this.destroyed) return;
    for (;;) {
      const chunk = this.#source.read() as Buffer | null;
      if (chunk === null) break;
      this.#options.onData?.();
      this.pulled += chunk.length;
      this.#options.onChunk?.(chunk.length);
      if (!this.push(chunk)) {
        this.#wanting = false;
        return;
      }
    }
    if (!this.#ended && !this.#source.readableEnded) this.#options.onWait?.();
  }

  /** The source can be read directly (a local file, `DirectBody`) and this view has not been read as a stream. */
  canReadInto(): boolean {
    return !this.#listening && !this.#detached && !this.destroyed && directBody(this.#source) !== undefined;
  }

  get ended(): boolean {
    return directBody(this.#source)?.ended ?? this.#ended;
  }

  /**
   * The source's `readInto`, counted as this view's stream chunks are: what it hands out is pulled
   * (`pulled`, `onChunk`, `onData`), and this view ends with the source's last byte.
   */
  async readInto(target: Buffer): Promise<number> {
    const source = this.#detached ? undefined : directBody(this.#source);
    if (!source) throw new Error('the upload body cannot be read directly');
    const n = await source.readInto(target);
    if (this.destroyed) throw this.errored ?? new Error('the upload body was closed');
    if (n > 0) {
      this.#options.onData?.();
      this.pulled += n;
      this.#options.onChunk?.(n);
    }
    if (source.ended && !this.#ended) {
      this.#ended = true;
      this.push(null);
      this.read(0);
    }
    return n;
  }

  /** Stops listening to the source without touching it. */
  detach(): void {
    this.#detached = true;
    this.#source.off('readable', this.#onReadable);
    this.#source.off('end', this.#onEnd);
    this.#source.off('error', this.#onError);
    // A source may still fail after we let go (an SDK stream that errors once its request is
    // aborted): that must not become an uncaught exception. A later reader adds its own listener.
    if (this.#source.listenerCount('error') === 0) this.#source.on('error', ignore);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.detach();
    // Without the error: nobody listens to the source's errors any more, and ours already travels.
    if (this.#options.ownSource && !this.#source.destroyed) this.#source.destroy();
    callback(error);
  }
}
