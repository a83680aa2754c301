import type { Readable } from 'node:stream';
import type {
  DriverEntry,
  DriverListOptions,
  DriverWriteOptions,
  OperationOptions,
  StorageDriver,
} from '../driver.js';
import { ArtifactsError, isAbortError, isConnectionError, isTemporaryError } from '../errors.js';
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
  /**
   * The one request of a transfer that failed, when an engine retries it on its own (a part of a
   * chunked upload, a range of a read: `uploading "a/b": part 3`); absent for a whole call.
   */
  request?: string;
  /** The part of the file that request moves, when it is one part of a transfer. */
  part?: TransferPart;
  /** Attempts per call or request, the first included: `attempt` of this many failed. */
  maxAttempts: number;
}

/** One part of a chunked upload or a ranged read: its number (from 1) and its bytes (`end` inclusive). */
export interface TransferPart {
  number: number;
  start: number;
  end: number;
}

export interface RetryOptions {
  /** Attempts per call, the first included. Default 4 (`ARTIFACTS_MAX_RETRIES` + 1). */
  maxAttempts?: number;
  /** First backoff step in ms; each later step doubles, with full jitter. Default 200. */
  baseDelayMs?: number;
  /** Cap on one wait, `Retry-After` included. Default 20,000. */
  maxDelayMs?: number;
  /**
   * MLflow's (urllib3's) schedule instead of full jitter: each wait is the whole exponential step
   * (`baseDelayMs × 2^(n−1)`, at most `maxDelayMs`) plus up to this many random ms
   * (`MLFLOW_HTTP_REQUEST_BACKOFF_JITTER`). Default: unset (full jitter).
   */
  jitterMs?: number;
  /**
   * Retries the repository may spend before it stops retrying (each success earns a tenth of one
   * back), so a store that is down is not hammered by every file of a large transfer. Default 100.
   */
  budget?: number;
  /**
   * The repository's timeout (ms; `-1`, `0` or undefined = none), overridden by a call's own
   * `timeoutMs`. When every attempt of a call ended without an answer from the store (a broken
   * connection, a timeout) and this long has passed since the first began, the call fails with
   * `timeout` rather than trying again: retries never restart the clock of a store that is silent.
   */
  timeoutMs?: number | undefined;
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
 * The wait before attempt `attempt + 1` after `error`: exponential from `baseMs` with full jitter
 * (or, with `jitterMs`, the whole step plus up to `jitterMs` random ms, as MLflow waits), at least
 * what the error's `Retry-After` asks, at most `capMs`. Shared by this layer and the transfer
 * engines' per-part and per-range retries.
 */
export function backoffDelayMs(
  attempt: number,
  error: unknown,
  {
    baseMs = 200,
    capMs = 20_000,
    jitterMs,
    random = Math.random,
  }: { baseMs?: number; capMs?: number; jitterMs?: number | undefined; random?: () => number } = {},
): number {
  const step = Math.min(capMs, baseMs * 2 ** (attempt - 1));
  const backoff = jitterMs === undefined ? random() * step : step + random() * jitterMs;
  return Math.round(Math.min(capMs, Math.max(backoff, retryAfterOf(error) ?? 0)));
}

/**
 * MLflow's HTTP retry schedule (urllib3's `Retry` as `mlflow.utils.rest_utils` builds it) from its
 * two variables: retry *n* waits `backoffFactor × 2^(n−1)` seconds, at most 60, plus up to
 * `backoffJitter` random seconds (`MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR`, default 2, and
 * `MLFLOW_HTTP_REQUEST_BACKOFF_JITTER`, default 1). One place for everything that talks to an MLflow
 * server: the tracking client and `@artifacts/http` (as its driver's `retryPolicy`).
 */
export function mlflowRetrySchedule(
  backoffFactor: number,
  backoffJitter: number,
): Required<Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'jitterMs'>> {
  return { baseDelayMs: backoffFactor * 1000, maxDelayMs: 60_000, jitterMs: backoffJitter * 1000 };
}

/**
 * True when a failed attempt got no answer from the store at all: the connection broke, was refused
 * or timed out before any status came back. An error carrying the store's status (a 503, a 429) is
 * an answer, however unwelcome.
 */
export function isSilentFailure(error: unknown): boolean {
  if (ArtifactsError.is(error)) {
    if (error.context.status !== undefined) return false;
    if (error.code === 'timeout') return true;
  }
  return isConnectionError(error);
}

function limitOf(options: OperationOptions | undefined, fallback: number | undefined): number | undefined {
  const ms = options?.timeoutMs ?? fallback;
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/**
 * One call's attempts as the silent-store rule sees them: when it began, whether the store ever
 * answered, and the timeout that applies.
 */
export class Attempts {
  readonly started = Date.now();
  answered = false;
  constructor(readonly limitMs: number | undefined) {}

  /** Notes how an attempt failed. */
  failed(error: unknown): void {
    if (!isSilentFailure(error)) this.answered = true;
  }

  /** Every attempt so far went unanswered, and the timeout has passed since the first began. */
  expired(): boolean {
    return !this.answered && this.limitMs !== undefined && Date.now() - this.started >= this.limitMs;
  }

  /**
   * The timeout for the next attempt of a plain request (not a stream), while the store has not
   * answered: what is left of the call's, but at least a short fresh try (2 s, or the whole timeout
   * when shorter). Undefined when the call's own timeout applies.
   */
  nextTimeoutMs(): number | undefined {
    if (this.answered || this.limitMs === undefined) return undefined;
    const left = this.limitMs - (Date.now() - this.started);
    return Math.max(left, Math.min(this.limitMs, 2_000));
  }

  /**
   * The `timeout` error a call that was never answered ends with; `subject` names the call
   * (`stat "a/b"`), `error` is the last attempt's.
   */
  timeout(subject: string, attempt: number, error: unknown): ArtifactsError {
    if (ArtifactsError.is(error, 'timeout')) return error;
    const ms = Date.now() - this.started;
    const tries = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
    const reason = error instanceof Error && !isAbortError(error) ? `: ${error.message}` : '';
    return new ArtifactsError(
      'timeout',
      `${subject}: no answer from the store in ${ms} ms (${tries}; the timeout is ${this.limitMs} ms)${reason}`,
      {
        ...(error === undefined ? {} : { cause: error }),
        context: { timeoutMs: this.limitMs, attempts: attempt },
      },
    );
  }
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
 * Core's one retry loop, with one budget: what the retry layer and every other client of a store
 * (the MLflow tracking client) repeat calls with. `run` repeats `call` while it fails with a
 * temporary error, waiting `backoffDelayMs` (exponential, full jitter, `Retry-After` honoured)
 * and reporting each retry to `onRetry`, until `maxAttempts`, the budget or the signal ends it.
 */
export interface Retrier {
  /**
   * After attempt `attempt` of a call failed with `error`: throws what the call ends with, or waits
   * the backoff and returns so the caller tries again. `state` holds the silent-store rule;
   * `request` names one request of a transfer the call's engine repeats on its own.
   */
  again(
    operation: string,
    key: string,
    attempt: number,
    error: unknown,
    state: Attempts,
    signal: AbortSignal | undefined,
    request?: string,
    part?: TransferPart,
  ): Promise<void>;
  /** This retrier as one driver call hands it to its engines (see `RequestRetry`). */
  forCall(operation: string, key: string): RequestRetry;
  /** Notes a success: it earns a tenth of one retry back into the budget. */
  succeeded(): void;
  /** Runs `call` (given the attempt, from 1) until it succeeds or `again` gives up. */
  run<T>(
    operation: string,
    key: string,
    call: (attempt: number) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T>;
}

/**
 * The retry policy of one driver call, for the requests its transfer engine repeats on its own (the
 * parts of a chunked upload, the ranges of a read): the same attempts, backoff, jitter,
 * `Retry-After`, budget and `onRetry` as the retry layer's, so that there is one rule. The retry
 * layer hands it to `write`, `read` and `readToFile` (`DriverWriteOptions.retry`, …); the engines
 * take it through `engineOptions`.
 */
export interface RequestRetry {
  /**
   * After attempt `attempt` of the request `request` failed with `error`: throws what the request
   * ends with, or waits the backoff and returns so it is tried again.
   */
  again(
    request: string,
    attempt: number,
    error: unknown,
    state: Attempts,
    signal?: AbortSignal,
    part?: TransferPart,
  ): Promise<void>;
}

/**
 * The retry policy of an engine whose driver was called without core's retry layer (a driver used
 * on its own): core's default schedule, `maxAttempts` attempts per request, its own budget.
 */
export function defaultRequestRetry(maxAttempts: number, operation: string, key: string): RequestRetry {
  return createRetrier({ maxAttempts }).forCall(operation, key);
}

/**
 * `Retrier.forCall`'s policy: a plain object and a shared method, not a closure per call (every
 * file's read or write gets one; what is built per file and lives while it is in flight is what
 * V8's young generation grows with).
 */
class CallRetry implements RequestRetry {
  constructor(
    readonly retrier: Retrier['again'],
    readonly operation: string,
    readonly key: string,
  ) {}

  again(
    request: string,
    attempt: number,
    error: unknown,
    state: Attempts,
    signal?: AbortSignal,
    part?: TransferPart,
  ): Promise<void> {
    return this.retrier(this.operation, this.key, attempt, error, state, signal, request, part);
  }
}

const ignore = () => undefined;

export function createRetrier(options: RetryOptions = {}): Retrier {
  const maxAttempts = options.maxAttempts ?? 4;
  const base = options.baseDelayMs ?? 200;
  const cap = options.maxDelayMs ?? 20_000;
  const random = options.random ?? Math.random;
  let budget = options.budget ?? 100;
  const full = budget;

  const again: Retrier['again'] = async (operation, key, attempt, error, state, signal, request, part) => {
    state.failed(error);
    if (signal?.aborted) throw error;
    if (state.expired())
      throw state.timeout(request ?? `${operation} ${JSON.stringify(key)}`, attempt, error);
    if (attempt >= maxAttempts || budget < 1 || !isTemporaryError(error)) throw error;
    budget -= 1;
    const delayMs = backoffDelayMs(attempt, error, {
      baseMs: base,
      capMs: cap,
      jitterMs: options.jitterMs,
      random,
    });
    options.onRetry?.({
      operation,
      key,
      attempt,
      delayMs,
      error,
      maxAttempts,
      ...(request === undefined ? {} : { request }),
      ...(part === undefined ? {} : { part }),
    });
    await sleep(delayMs, signal);
  };

  function forCall(operation: string, key: string): RequestRetry {
    return new CallRetry(again, operation, key);
  }

  function succeeded(): void {
    budget = Math.min(full, budget + 0.1);
  }

  async function run<T>(
    operation: string,
    key: string,
    call: (attempt: number) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    const state = new Attempts(limitOf(undefined, options.timeoutMs));
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await call(attempt);
        succeeded();
        return result;
      } catch (error) {
        await again(operation, key, attempt, error, state, signal);
      }
    }
  }

  return { again, succeeded, run, forCall };
}

/**
 * The retry layer (OpenDAL's `RetryLayer`): repeats a call that failed with a temporary error
 * (`ArtifactsError.temporary`, or a broken connection), with exponential backoff and full jitter,
 * honouring `Retry-After`, within a per-repository budget. Only what is safe to repeat is repeated:
 * `stat`, `delete`, `mkdir`, `copy`, presign and multipart `abort`, the opening of a `read`, each
 * page request of a `list` (through `DriverListOptions.page`; a driver that does not page through it
 * has its listing repeated while it has not yielded an entry), and a `write` whose body the store
 * has not read a byte of. A stream that breaks mid-way is the ranged-read engine's to resume.
 *
 * A store that never answers is a `timeout`, not a reason to keep trying: once every attempt of a
 * call ended without an answer (see `isSilentFailure`) and the timeout has passed since the first
 * began, the call fails with `timeout`, and a later attempt of a plain request gets only what is
 * left of the timeout (at least 2 s).
 */
export function withRetry(driver: StorageDriver, options: RetryOptions = {}): StorageDriver {
  const { again, succeeded, forCall } = createRetrier(options);

  /**
   * Runs `call` until it succeeds or `again` gives up. A `plain` call is one request, bounded as a
   * whole by the timeout layer: its later attempts get what is left of a silent store's timeout.
   * (`delete` of a prefix and `copy` are many requests the driver bounds one by one: they keep theirs.)
   */
  async function retried<T>(
    operation: string,
    key: string,
    opts: OperationOptions | undefined,
    call: (opts: OperationOptions | undefined) => Promise<T>,
    plain = true,
  ): Promise<T> {
    const state = new Attempts(limitOf(opts, options.timeoutMs));
    for (let attempt = 1; ; attempt++) {
      const timeoutMs = attempt === 1 || !plain ? undefined : state.nextTimeoutMs();
      try {
        const result = await call(timeoutMs === undefined ? opts : { ...opts, timeoutMs });
        succeeded();
        return result;
      } catch (error) {
        await again(operation, key, attempt, error, state, opts?.signal);
      }
    }
  }

  return wrapDriver(driver, {
    stat: (key, o) => retried('stat', key, o, (p) => driver.stat(key, { ...o, ...p })),
    // A read's and a write's engine repeats a failed part or range with this same policy.
    read: (key, o) =>
      retried('read', key, o, (p) => driver.read(key, { ...o, ...p, retry: forCall('read', key) })),
    // A download to a file is not repeated whole: its engine repeats each range (the first included).
    readToFile:
      driver.readToFile &&
      ((key, path, o) => driver.readToFile!(key, path, { ...o, retry: forCall('read', key) })),
    delete: (key, o) => retried('delete', key, o, (p) => driver.delete(key, { ...o, ...p }), false),
    deleteMany:
      driver.deleteMany &&
      ((keys, o) => retried('delete', keys[0] ?? '', o, (p) => driver.deleteMany!(keys, { ...o, ...p }))),

    async write(key: string, body: Readable, o: DriverWriteOptions) {
      // A write is a stream: its stall timeout stays whole on every attempt; the silent-store rule
      // only decides whether to try again.
      const state = new Attempts(limitOf(o, options.timeoutMs));
      for (let attempt = 1; ; attempt++) {
        // Each attempt reads the body through its own view; a view nobody took a byte from can be
        // dropped and the body handed, whole, to the next attempt.
        const view = new PullStream(body, { ownSource: false });
        // The driver sees the body's failure through its own read of the view; a driver that already
        // let go of the view (it failed first) must not turn that failure into an uncaught error.
        view.on('error', ignore);
        // After attempts the store never answered, this one is cut when what is left of the timeout
        // has passed and it is still only waiting on the store (no byte taken, or the body sent
        // whole and no answer): a silent store does not get a fresh timeout per attempt.
        // (The first attempt, every upload's only one, builds no controller, timer or signal.)
        const cut = attempt === 1 ? undefined : state.nextTimeoutMs();
        let timer: NodeJS.Timeout | undefined;
        let expired = false;
        let signal = o.signal;
        if (cut !== undefined) {
          const controller = new AbortController();
          timer = setTimeout(() => {
            if (view.pulled > 0 && !body.readableEnded) return;
            expired = true;
            controller.abort(state.timeout(`write ${JSON.stringify(key)}`, attempt, undefined));
          }, cut);
          signal = o.signal ? AbortSignal.any([o.signal, controller.signal]) : controller.signal;
        }
        try {
          const result = await driver.write(key, view, {
            ...o,
            ...(signal === o.signal ? {} : { signal }),
            retry: forCall('write', key),
          });
          succeeded();
          return result;
        } catch (caught) {
          const error = expired ? state.timeout(`write ${JSON.stringify(key)}`, attempt, caught) : caught;
          view.detach();
          const unread = view.pulled === 0 && !body.destroyed && !body.readableEnded;
          try {
            if (!unread) {
              state.failed(error);
              throw state.expired() ? state.timeout(`write ${JSON.stringify(key)}`, attempt, error) : error;
            }
            await again('write', key, attempt, error, state, o.signal);
          } catch (final) {
            if (!body.destroyed) body.destroy();
            throw final;
          }
        } finally {
          if (timer) clearTimeout(timer);
        }
      }
    },

    list(prefix: string, o: DriverListOptions): AsyncIterable<DriverEntry> {
      return {
        async *[Symbol.asyncIterator]() {
          // A driver that sends its page requests through `page` has each one repeated on its own:
          // a listing broken on page 2 resumes there, never yields an entry twice.
          let paged = false;
          const page = <T>(request: () => Promise<T>): Promise<T> => {
            paged = true;
            return retried('list', prefix, o, () => request());
          };
          const state = new Attempts(limitOf(o, options.timeoutMs));
          for (let attempt = 1; ; attempt++) {
            let yielded = false;
            try {
              for await (const entry of driver.list(prefix, { ...o, page })) {
                yielded = true;
                yield entry;
              }
              succeeded();
              return;
            } catch (error) {
              if (paged || yielded) throw error;
              await again('list', prefix, attempt, error, state, o.signal);
            }
          }
        },
      };
    },

    mkdir: driver.mkdir && ((key, o) => retried('mkdir', key, o, (p) => driver.mkdir!(key, { ...o, ...p }))),
    copy:
      driver.copy &&
      ((from, to, o) =>
        retried('copy', from.address, o, (p) => driver.copy!(from, to, { ...o, ...p }), false)),
    multipart: driver.multipart && {
      // Creating twice would leave an orphan upload, completing twice may fail after a success:
      // only the abort is repeated.
      create: (key, o) => driver.multipart!.create(key, o),
      complete: (key, id, parts, o) => driver.multipart!.complete(key, id, parts, o),
      abort: (key, id, o) =>
        retried('abort', key, o, (p) => driver.multipart!.abort(key, id, { ...o, ...p })),
    },
    presign: driver.presign && {
      getUrl: (key, o) => retried('presign', key, o, (p) => driver.presign!.getUrl(key, { ...o, ...p })),
      putUrl: (key, o) => retried('presign', key, o, (p) => driver.presign!.putUrl(key, { ...o, ...p })),
    },
  });
}
