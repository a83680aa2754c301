import type { OperationOptions } from '../driver.js';
import { ArtifactsError, toArtifactsError } from '../errors.js';

/**
 * One call's own signal, linked to the caller's; `done` unlinks it when the call ends. No signal
 * when the caller gave none: nothing could abort it, and every layer, engine and request below
 * would otherwise link a listener to it and unlink it again, per file.
 */
export interface Scope {
  signal: AbortSignal | undefined;
  done: () => void;
}

const UNSIGNALLED: Scope = { signal: undefined, done: () => undefined };

/**
 * Every call linked to one caller's signal shares a single 'abort' listener on it. A directory
 * transfer runs up to `maxConcurrency` calls on the same signal at once, and one listener per call
 * makes Node 20 and 22 print a MaxListenersExceededWarning past ten. Each call's callback leaves
 * the set when the call ends, and the listener leaves the signal with the last callback.
 */
const abortFanouts = new WeakMap<AbortSignal, { callbacks: Set<() => void>; fire: () => void }>();

/** Runs `callback` when `signal` aborts; the returned function unlinks it (idempotent). */
function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let fanout = abortFanouts.get(signal);
  if (fanout === undefined) {
    const callbacks = new Set<() => void>();
    const fire = () => {
      abortFanouts.delete(signal);
      for (const each of [...callbacks]) each();
      callbacks.clear();
    };
    fanout = { callbacks, fire };
    abortFanouts.set(signal, fanout);
    signal.addEventListener('abort', fire, { once: true });
  }
  const own = fanout;
  const entry = () => callback();
  own.callbacks.add(entry);
  return () => {
    if (!own.callbacks.delete(entry) || own.callbacks.size > 0) return;
    if (abortFanouts.get(signal) === own) abortFanouts.delete(signal);
    signal.removeEventListener('abort', own.fire);
  };
}

/** Links the call to the caller's signal; timeouts are the timeout layer's (see `withTimeout`). */
export function openScope(options: OperationOptions): Scope {
  // An already aborted signal is an `aborted` ArtifactsError like any later abort, not a raw DOMException.
  if (options.signal?.aborted)
    throw new ArtifactsError('aborted', 'the operation was aborted before it started', {
      cause: options.signal.reason,
    });
  const caller = options.signal;
  if (caller === undefined) return UNSIGNALLED;
  const controller = new AbortController();
  const unlink = onAbort(caller, () => controller.abort(caller.reason));
  return { signal: controller.signal, done: unlink };
}

/** Maps a failure of `what` to an ArtifactsError: `aborted` when its scope was aborted, secrets scrubbed. */
export function scopedError(
  error: unknown,
  what: string,
  secrets: readonly string[],
  scope?: Scope,
): ArtifactsError {
  if (scope?.signal?.aborted && !ArtifactsError.is(error, 'timeout')) {
    const mapped = toArtifactsError(error, what, { secrets, code: 'aborted' });
    return mapped.code === 'aborted'
      ? mapped
      : new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
  }
  return toArtifactsError(error, what, { secrets });
}

/** Runs one driver call with the caller's signal and timeout applied and errors mapped. */
export async function runScoped<T>(
  what: string,
  options: OperationOptions,
  secrets: readonly string[],
  fn: (options: OperationOptions) => Promise<T>,
): Promise<T> {
  const scope = openScope(options);
  try {
    return await fn(scope.signal ? { signal: scope.signal, ...timeoutOf(options) } : timeoutOf(options));
  } catch (error) {
    throw scopedError(error, what, secrets, scope);
  } finally {
    scope.done();
  }
}

export function timeoutOf(options: OperationOptions): { timeoutMs?: number } {
  return options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
}
