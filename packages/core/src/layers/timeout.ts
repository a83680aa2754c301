import type { Readable } from 'node:stream';
import type {
  DriverEntry,
  DriverListOptions,
  DriverReadOptions,
  DriverReadResult,
  DriverWriteOptions,
  OperationOptions,
  StorageDriver,
} from '../driver.js';
import { type LinkedAbort, linkedAbort } from '../engines/request-watch.js';
import { ArtifactsError } from '../errors.js';
import { PullStream } from '../internal/pull-stream.js';
import { wrapDriver } from './wrap.js';

/**
 * A watchdog for one call: aborts `signal` when `arm`ed and not re-armed or disarmed within `ms`.
 * `-1`, `0` or undefined `ms` = never. `signal` follows the caller's through one listener, removed
 * by `dispose` once the call is over (not `AbortSignal.any`: see `linkedAbort`).
 */
class Watchdog {
  readonly #link: LinkedAbort;
  readonly signal: AbortSignal;
  #timer: NodeJS.Timeout | undefined;
  fired = false;

  constructor(
    readonly ms: number,
    readonly what: string,
    user: AbortSignal | undefined,
  ) {
    this.#link = linkedAbort(user);
    this.signal = this.#link.signal;
  }

  arm(): void {
    this.disarm();
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#link.abort(this.error());
    }, this.ms);
  }

  /** Arms unless already counting: a wait that goes on does not restart the clock. */
  wait(): void {
    if (this.#timer === undefined) this.arm();
  }

  disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The call is over: stops the clock and stops following the caller's signal. */
  dispose(): void {
    this.disarm();
    this.#link.unlink();
  }

  error(cause?: unknown): ArtifactsError {
    return new ArtifactsError('timeout', `${this.what}: no progress for ${this.ms} ms`, {
      ...(cause === undefined ? {} : { cause }),
      context: { timeoutMs: this.ms },
    });
  }

  /** The error to throw for `error`: ours when the watchdog fired, the driver's otherwise. */
  translate(error: unknown): unknown {
    return this.fired ? this.error(error) : error;
  }
}

/**
 * Settles as `promise` does, or rejects with the signal's reason as soon as `signal` aborts: a
 * driver whose library ignores the signal (Google's metadata and listing requests do) cannot hold
 * the caller past the watchdog. A value that arrives too late is handed to `discard`.
 */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal, discard?: (late: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      settled = true;
      reject(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (settled) discard?.(value);
        else resolve(value);
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        if (!settled) reject(error);
      },
    );
  });
}

function limitOf(options: OperationOptions | undefined, fallback: number | undefined): number | undefined {
  const ms = options?.timeoutMs ?? fallback;
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/**
 * The timeout layer, with MLflow's meaning of `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`: a bound on
 * each storage request and on each stall of a stream (no byte moved for `timeoutMs` while someone
 * waited for one), never on a whole transfer — a multi-GB upload lives as long as it keeps moving.
 *
 * - `stat`, `mkdir`, presign and multipart calls, the opening of a `read`: each call bounded.
 * - `write`: the driver must take a byte of the body (or finish) within `timeoutMs` of the last one;
 *   once the body ended, the driver's per-request (socket idle) timeout bounds the rest.
 * - `read` streams and `list` iterations: each wait of the consumer for the next byte or entry is
 *   bounded; a slow consumer (back-pressure) is never counted against the store.
 * - `delete` (a prefix may hold millions of keys), `copy` (a whole object copied by the store: one
 *   call may be many requests — UploadPartCopy parts, rewrite tokens, a polled Copy Blob — or a
 *   long kernel copy) and the whole-file fast paths are left to the driver's per-request timeouts;
 *   each `deleteMany` batch is bounded.
 *
 * `options.timeoutMs` of a call overrides `defaultMs`; `-1`, `0` or undefined means no limit.
 * A timed-out call fails with an `ArtifactsError` `timeout` (not temporary: retrying a stalled
 * store would multiply the wait).
 */
export function withTimeout(driver: StorageDriver, defaultMs: number | undefined): StorageDriver {
  async function bounded<T>(
    what: string,
    options: OperationOptions | undefined,
    call: (options: OperationOptions) => Promise<T>,
  ): Promise<T> {
    const ms = limitOf(options, defaultMs);
    if (ms === undefined) return call(options ?? {});
    const dog = new Watchdog(ms, what, options?.signal);
    dog.arm();
    try {
      return await unlessAborted(call({ ...options, signal: dog.signal }), dog.signal);
    } catch (error) {
      throw dog.translate(error);
    } finally {
      dog.dispose();
    }
  }

  function watchRead(result: DriverReadResult, dog: Watchdog): DriverReadResult {
    const stream = new PullStream(result.stream, {
      ownSource: true,
      onWait: () => dog.wait(),
      onData: () => dog.disarm(),
      // A client may fail its body with its own AbortError before the listener below runs (node-fetch
      // emits it synchronously on abort): a stall is still a timeout.
      translateError: (error) => dog.translate(error) as Error,
    });
    dog.signal.addEventListener(
      'abort',
      () => {
        if (dog.fired) stream.destroy(dog.error());
      },
      { once: true },
    );
    stream.once('close', () => dog.dispose());
    return { ...result, stream };
  }

  return wrapDriver(driver, {
    stat: (key, options) => bounded(`reading ${JSON.stringify(key)}`, options, (o) => driver.stat(key, o)),

    async read(key: string, options: DriverReadOptions): Promise<DriverReadResult> {
      const ms = limitOf(options, defaultMs);
      if (ms === undefined) return driver.read(key, options);
      const dog = new Watchdog(ms, `reading ${JSON.stringify(key)}`, options.signal);
      dog.arm();
      let result: DriverReadResult;
      try {
        result = await unlessAborted(
          driver.read(key, { ...options, signal: dog.signal }),
          dog.signal,
          (late) => late.stream.destroy(),
        );
      } catch (error) {
        dog.dispose();
        throw dog.translate(error);
      }
      dog.disarm();
      return watchRead(result, dog);
    },

    async write(key: string, body: Readable, options: DriverWriteOptions) {
      const ms = limitOf(options, defaultMs);
      if (ms === undefined) return driver.write(key, body, options);
      const dog = new Watchdog(ms, `writing ${JSON.stringify(key)}`, options.signal);
      // Every byte the store takes re-arms the watchdog, and so does every byte a driver reports
      // sending through `onActivity` (the chunked-upload engine, whose parts leave after the body
      // was read). Once the body ended, a driver that reports nothing is bounded by its own
      // per-request timeouts (the engine's, or its SDK's set from `OpenContext.timeoutMs`).
      const watched = new PullStream(body, { ownSource: true, onChunk: () => dog.arm() });
      watched.once('end', () => dog.disarm());
      const onActivity = () => {
        options.onActivity?.();
        dog.arm();
      };
      // A store blocked on the body (not on its socket) learns of the timeout through the body too;
      // a store that never listened to it must not turn that into an uncaught error.
      watched.on('error', () => undefined);
      dog.signal.addEventListener('abort', () => dog.fired && watched.destroy(dog.error()), { once: true });
      dog.arm();
      try {
        return await driver.write(key, watched, { ...options, signal: dog.signal, onActivity });
      } catch (error) {
        throw dog.translate(error);
      } finally {
        dog.dispose();
      }
    },

    list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
      const ms = limitOf(options, defaultMs);
      if (ms === undefined) return driver.list(prefix, options);
      return {
        async *[Symbol.asyncIterator]() {
          const dog = new Watchdog(ms, `listing ${JSON.stringify(prefix)}`, options.signal);
          const iterator = driver.list(prefix, { ...options, signal: dog.signal })[Symbol.asyncIterator]();
          try {
            for (;;) {
              dog.arm();
              let next: IteratorResult<DriverEntry>;
              try {
                next = await unlessAborted(iterator.next(), dog.signal);
              } catch (error) {
                throw dog.translate(error);
              }
              dog.disarm();
              if (next.done) return;
              yield next.value;
            }
          } finally {
            dog.disarm();
            try {
              // An iterator still stuck in next() would hold return() until it settles: let it go.
              if (dog.signal.aborted) void iterator.return?.()?.catch(() => undefined);
              else await iterator.return?.();
            } finally {
              dog.dispose();
            }
          }
        },
      };
    },

    deleteMany: driver.deleteMany
      ? (keys, options) =>
          bounded(`deleting ${keys.length} keys`, options, (o) => driver.deleteMany!(keys, o))
      : undefined,
    mkdir: driver.mkdir
      ? (key, options) => bounded(`creating ${JSON.stringify(key)}`, options, (o) => driver.mkdir!(key, o))
      : undefined,
    multipart: driver.multipart && {
      create: (key, options) =>
        bounded(`starting an upload of ${JSON.stringify(key)}`, options, (o) =>
          driver.multipart!.create(key, { ...options, ...o }),
        ),
      complete: (key, uploadId, parts, options) =>
        bounded(`completing an upload of ${JSON.stringify(key)}`, options, (o) =>
          driver.multipart!.complete(key, uploadId, parts, o),
        ),
      abort: (key, uploadId, options) =>
        bounded(`aborting an upload of ${JSON.stringify(key)}`, options, (o) =>
          driver.multipart!.abort(key, uploadId, o),
        ),
    },
    presign: driver.presign && {
      getUrl: (key, options) =>
        bounded(`presigning ${JSON.stringify(key)}`, options, (o) =>
          driver.presign!.getUrl(key, { ...options, ...o }),
        ),
      putUrl: (key, options) =>
        bounded(`presigning ${JSON.stringify(key)}`, options, (o) =>
          driver.presign!.putUrl(key, { ...options, ...o }),
        ),
    },
  });
}
