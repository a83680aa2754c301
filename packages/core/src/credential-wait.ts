import { ArtifactsError } from './errors.js';
import { lazily } from './lazily.js';

/** The longest wait for credentials or a token when the repository bounds nothing (`timeoutMs` -1). */
const UNBOUNDED_WAIT_MS = 60_000;

/**
 * How long looking for credentials, and each token fetch, may take. They run in a request's
 * authorization, before the request's own timers start, and a credential chain may wait without
 * bound (Google's library for a metadata server it believes is there; Azure's managed identity for
 * its endpoint): half the repository's bound `timeoutMs`, so that this wait's own message (naming
 * what did not answer) reaches the caller before the operation's timeout does; a minute when
 * unbounded (`-1`, `0` or unset).
 */
export function credentialWaitMs(timeoutMs: number | undefined): number {
  return timeoutMs !== undefined && timeoutMs > 0
    ? Math.max(1, Math.floor(timeoutMs / 2))
    : UNBOUNDED_WAIT_MS;
}

/**
 * `promise`, or a `timeout` error saying `problem` when it has not settled within `ms`, or the
 * abort's error when `signal` aborts first. Only this wait ends: the promise runs on.
 */
export function within<T>(
  promise: Promise<T>,
  ms: number,
  problem: (seconds: number) => string,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ArtifactsError('timeout', problem(ms / 1000), { context: { timeoutMs: ms } })),
      ms,
    );
    if (!signal) return;
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, late]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}

/**
 * A credential lookup (a provider, a chain, a token fetch) whose callers each wait for it `within`
 * their own bound and signal, and which runs once at a time: a caller whose wait ran out leaves the
 * lookup running (a hung promise, a `credential_process` child), and the next caller waits on that
 * same lookup instead of starting another beside it. A failure is asked again by the next call
 * (`lazily`'s rule); a value goes to the callers waiting for it, or to the next caller once it came
 * after every wait ran out, and the call after that looks up afresh (credentials expire: caching the
 * value is the caller's `refreshing`).
 */
export function sharedLookup<T>(
  lookup: () => Promise<T>,
  ms: number,
  problem: (seconds: number) => string,
): (signal?: AbortSignal) => Promise<T> {
  let pending = lazily(lookup);
  return async (signal) => {
    const current = pending;
    const value = await within(current(), ms, problem, signal);
    if (pending === current) pending = lazily(lookup);
    return value;
  };
}
