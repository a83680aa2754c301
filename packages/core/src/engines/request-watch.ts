import { Readable } from 'node:stream';
import { ArtifactsError, isAbortError } from '../errors.js';
import { Attempts, type RequestRetry, type TransferPart } from '../layers/retry.js';

/**
 * Bytes per chunk a part's body is handed to the client in: each one the client takes is progress.
 * 256 KiB: smaller chunks cost measurably more CPU per byte (64 KiB: about 10–15% for an S3 upload);
 * a stall is still seen by any link faster than 256 KiB per timeout.
 */
const BODY_CHUNK = 256 * 1024;

/** What one storage request of an engine gets: its signal, and a way to report progress. */
export interface RequestContext {
  /** Aborted by the caller, by a failure elsewhere in the transfer, or by the stall timeout. */
  signal: AbortSignal;
  /** Re-arms the stall timeout: call it whenever bytes move. */
  touch(): void;
  /**
   * A stall timeout is in force. Without one nothing needs to see progress, and a client may take a
   * part's bytes whole (one buffer write costs less CPU than a stream of chunks).
   */
  watched: boolean;
}

export interface RequestPolicy {
  /** Bound on each stall of a request (no byte moved for this long), ms; undefined = none. */
  timeoutMs?: number | undefined;
  /**
   * Repeats a request that failed (the retry layer's policy: temporary errors only, its attempts,
   * backoff, jitter, `Retry-After` and budget). Undefined: the request is sent once.
   */
  retry?: RequestRetry | undefined;
  /** Called whenever bytes move, in any request: the timeout layer's watchdog listens. */
  onActivity?: (() => void) | undefined;
}

/**
 * Runs one storage request of a transfer under the per-request stall timeout (armed at the start,
 * re-armed by every `touch`), retrying it as `policy.retry` (the retry layer's policy) decides.
 * A stall fails with a `timeout` error (never retried: retrying a stalled store multiplies the wait);
 * an abort of `outer` fails at once.
 */
export async function runRequest<T>(
  what: string,
  outer: AbortSignal,
  policy: RequestPolicy,
  request: (context: RequestContext) => Promise<T>,
  /** The part of the file the request moves, named to `onRetry`. */
  part?: TransferPart,
): Promise<T> {
  const ms = policy.timeoutMs;
  // A store that never answered any attempt gets no fresh timeout per attempt (the retry layer's rule).
  const attempts = new Attempts(ms);
  for (let attempt = 1; ; attempt++) {
    outer.throwIfAborted();
    const left = attempt === 1 ? undefined : attempts.nextTimeoutMs();
    // Only a stall timeout aborts a request on its own: without one the request takes `outer` as is.
    const link = ms === undefined ? undefined : linkedAbort(outer);
    const signal = link?.signal ?? outer;
    let timer: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let stalled: ArtifactsError | undefined;
    let touched = Date.now();
    // One timer per attempt, not one per touch (a download touches once per socket read): when it
    // fires it fails the request only if nothing moved for `ms` since the last touch, else waits on.
    const watch = (wait: number) => {
      timer = setTimeout(() => {
        const idle = Date.now() - touched;
        if (idle < ms!) {
          watch(ms! - idle);
          return;
        }
        // Past the deadline below as well: the store is only not answering, as that check says.
        stalled =
          left !== undefined && Date.now() - began >= left
            ? attempts.timeout(what, attempt, undefined)
            : new ArtifactsError('timeout', `${what}: no progress for ${ms} ms`, {
                context: { timeoutMs: ms },
              });
        link!.abort(stalled);
      }, wait);
    };
    const touch = () => {
      touched = Date.now();
      policy.onActivity?.();
    };
    const began = touched;
    policy.onActivity?.();
    if (ms !== undefined) watch(ms);
    if (ms !== undefined && left !== undefined) {
      // After attempts the store never answered, this one is cut once what is left of the timeout
      // has passed and no byte moved for a second: it is only waiting for an answer.
      const idleMs = Math.min(ms, 1_000);
      const check = () => {
        const idle = Date.now() - touched;
        if (idle < idleMs) {
          deadline = setTimeout(check, idleMs - idle);
          return;
        }
        stalled = attempts.timeout(what, attempt, undefined);
        link!.abort(stalled);
      };
      deadline = setTimeout(check, left);
    }
    try {
      return await request({ signal, touch, watched: ms !== undefined });
    } catch (error) {
      if (stalled) throw stalled;
      if (outer.aborted) throw isAbortError(error) ? error : (outer.reason ?? error);
      if (policy.retry) {
        await policy.retry.again(what, attempt, error, attempts, outer, part);
        continue;
      }
      attempts.failed(error);
      throw attempts.expired() ? attempts.timeout(what, attempt, error) : error;
    } finally {
      if (timer) clearTimeout(timer);
      if (deadline) clearTimeout(deadline);
      link?.unlink();
    }
  }
}

/** A signal that aborts with `outer` or by `abort`; `unlink` once its work is done. */
export interface LinkedAbort {
  readonly signal: AbortSignal;
  abort(reason: unknown): void;
  /** Stops listening to `outer`. */
  unlink(): void;
}

/**
 * A signal of one request (or one transfer) that aborts when `outer` does, with its reason, or
 * when `abort` is called: one listener on `outer`, removed by `unlink`. Not `AbortSignal.any`,
 * whose signal `outer` holds through a WeakRef until a full garbage collection: V8's scavenges
 * keep what a WeakRef points at, so every request's objects (its signal's listeners reach the
 * ClientRequest, its socket's listeners, the answer) outlived the young generation, which grew to
 * its 64 MiB limit in a transfer of many small files (docs/benchmarks/s3.md).
 */
export function linkedAbort(outer: AbortSignal | undefined): LinkedAbort {
  const controller = new AbortController();
  if (outer === undefined) {
    return { signal: controller.signal, abort: (reason) => controller.abort(reason), unlink: () => {} };
  }
  const follow = () => controller.abort(outer.reason);
  if (outer.aborted) follow();
  else outer.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    unlink: () => outer.removeEventListener('abort', follow),
  };
}

/**
 * A fresh stream of `data` for one attempt of a request, in chunks the client takes one at a time:
 * each chunk taken calls `touch` (the socket drained enough to want more), which is how a paced
 * upload shows progress and a stalled one shows none.
 */
export function bodyOf(data: Uint8Array, touch: () => void): Readable {
  let offset = 0;
  // Object mode: each read gives one chunk, a view of `data`. In byte mode a reader that waits
  // for the socket to drain finds two chunks buffered and gets them joined in a new buffer: a copy
  // of about half the bytes of every upload, and the garbage to collect.
  return new Readable({
    objectMode: true,
    highWaterMark: 1,
    read() {
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(data.length, offset + BODY_CHUNK);
      const chunk = data.subarray(offset, end);
      offset = end;
      touch();
      this.push(chunk);
    },
  });
}
