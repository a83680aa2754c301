import type { Readable } from 'node:stream';
import type {
  DriverEntry,
  DriverListOptions,
  DriverWriteOptions,
  OperationOptions,
  StorageDriver,
} from '../driver.js';
import { ArtifactsError, isTemporaryError } from '../errors.js';
import { PullStream } from '../internal/pull-stream.js';
import { wrapDriver } from './wrap.js';

/** What the retry layer reports before each new attempt (the CLI prints it with `--verbose`). */
export interface RetryEvent {
  /** The driver operation: `stat`, `read`, `write`, `list`, `delete`, … */
  operation: string;
  /** The key (or prefix) it was working on. */
  key: string;
  /** The attempt that failed, from 1. */
  attempt: number;
  /** How long the layer waits before the next attempt. */
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  /** Attempts per call, the first included. Default 4 (`ARTIFACTS_MAX_RETRIES` + 1). */
  maxAttempts?: number;
  /** First backoff step in ms; each later step doubles, with full jitter. Default 200. */
  baseDelayMs?: number;
  /** Cap on one wait, `Retry-After` included. Default 20,000. */
  maxDelayMs?: number;
  /**
   * Retries the repository may spend before it stops retrying (each success earns a tenth of one
   * back), so a store that is down is not hammered by every file of a large transfer. Default 100.
   */
  budget?: number;
  /** Called before each retry. */
  onRetry?: (event: RetryEvent) => void;
  /** Test hook: the random source for jitter. */
  random?: () => number;
}

/** The wait in ms an error asks for (`context.retryAfterMs`, which drivers fill from `Retry-After`). */
function retryAfterOf(error: unknown): number | undefined {
  if (!ArtifactsError.is(error)) return undefined;
  const value = error.context.retryAfterMs;
  return typeof value === 'number' && value >= 0 ? value : undefined;
}

/**
 * Parses an HTTP `Retry-After` header (seconds or an HTTP date) into milliseconds from `now`;
 * undefined when absent or unreadable. Drivers put the result in an error's `context.retryAfterMs`.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The wait before attempt `attempt + 1` after `error`: exponential from `baseMs` with full jitter,
 * at least what the error's `Retry-After` asks, at most `capMs`. Shared by this layer and the
 * transfer engines' per-part and per-range retries.
 */
export function backoffDelayMs(
  attempt: number,
  error: unknown,
  {
    baseMs = 200,
    capMs = 20_000,
    random = Math.random,
  }: { baseMs?: number; capMs?: number; random?: () => number } = {},
): number {
  const backoff = random() * Math.min(capMs, baseMs * 2 ** (attempt - 1));
  return Math.round(Math.min(capMs, Math.max(backoff, retryAfterOf(error) ?? 0)));
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The retry layer (OpenDAL's `RetryLayer`): repeats a call that failed with a temporary error
 * (`ArtifactsError.temporary`, or a broken connection), with exponential backoff and full jitter,
 * honouring `Retry-After`, within a per-repository budget. Only what is safe to repeat is repeated:
 * `stat`, `delete`, `mkdir`, `copy`, presign and multipart `abort`, the opening of a `read`, a
 * `list` that has not yielded an entry yet, and a `write` whose body the store has not read a byte
 * of. A stream that breaks mid-way is the ranged-read engine's to resume, not this layer's.
 */
export function withRetry(driver: StorageDriver, options: RetryOptions = {}): StorageDriver {
  const maxAttempts = options.maxAttempts ?? 4;
  const base = options.baseDelayMs ?? 200;
  const cap = options.maxDelayMs ?? 20_000;
  const random = options.random ?? Math.random;
  let budget = options.budget ?? 100;
  const full = budget;

  /** Whether to try again after `error`; waits the backoff first. */
  async function again(
    operation: string,
    key: string,
    attempt: number,
    error: unknown,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    if (attempt >= maxAttempts || budget < 1 || signal?.aborted || !isTemporaryError(error)) return false;
    budget -= 1;
    const delayMs = backoffDelayMs(attempt, error, { baseMs: base, capMs: cap, random });
    options.onRetry?.({ operation, key, attempt, delayMs, error });
    await sleep(delayMs, signal);
    return true;
  }

  function succeeded(): void {
    budget = Math.min(full, budget + 0.1);
  }

  async function retried<T>(
    operation: string,
    key: string,
    opts: OperationOptions | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await call();
        succeeded();
        return result;
      } catch (error) {
        if (!(await again(operation, key, attempt, error, opts?.signal))) throw error;
      }
    }
  }

  return wrapDriver(driver, {
    stat: (key, o) => retried('stat', key, o, () => driver.stat(key, o)),
    read: (key, o) => retried('read', key, o, () => driver.read(key, o)),
    delete: (key, o) => retried('delete', key, o, () => driver.delete(key, o)),
    deleteMany:
      driver.deleteMany &&
      ((keys, o) => retried('delete', keys[0] ?? '', o, () => driver.deleteMany!(keys, o))),

    async write(key: string, body: Readable, o: DriverWriteOptions) {
      for (let attempt = 1; ; attempt++) {
        // Each attempt reads the body through its own view; a view nobody took a byte from can be
        // dropped and the body handed, whole, to the next attempt.
        const view = new PullStream(body, { ownSource: false });
        // The driver sees the body's failure through its own read of the view; a driver that already
        // let go of the view (it failed first) must not turn that failure into an uncaught error.
        view.on('error', () => undefined);
        try {
          const result = await driver.write(key, view, o);
          succeeded();
          return result;
        } catch (error) {
          view.detach();
          const unread = view.pulled === 0 && !body.destroyed && !body.readableEnded;
          if (!unread || !(await again('write', key, attempt, error, o.signal))) {
            if (!body.destroyed) body.destroy();
            throw error;
          }
        }
      }
    },

    list(prefix: string, o: DriverListOptions): AsyncIterable<DriverEntry> {
      return {
        async *[Symbol.asyncIterator]() {
          for (let attempt = 1; ; attempt++) {
            let yielded = false;
            try {
              for await (const entry of driver.list(prefix, o)) {
                yielded = true;
                yield entry;
              }
              succeeded();
              return;
            } catch (error) {
              if (yielded || !(await again('list', prefix, attempt, error, o.signal))) throw error;
            }
          }
        },
      };
    },

    mkdir: driver.mkdir && ((key, o) => retried('mkdir', key, o, () => driver.mkdir!(key, o))),
    copy: driver.copy && ((from, to, o) => retried('copy', from.address, o, () => driver.copy!(from, to, o))),
    multipart: driver.multipart && {
      // Creating twice would leave an orphan upload, completing twice may fail after a success:
      // only the abort is repeated.
      create: (key, o) => driver.multipart!.create(key, o),
      complete: (key, id, parts, o) => driver.multipart!.complete(key, id, parts, o),
      abort: (key, id, o) => retried('abort', key, o, () => driver.multipart!.abort(key, id, o)),
    },
    presign: driver.presign && {
      getUrl: (key, o) => retried('presign', key, o, () => driver.presign!.getUrl(key, o)),
      putUrl: (key, o) => retried('presign', key, o, () => driver.presign!.putUrl(key, o)),
    },
  });
}
