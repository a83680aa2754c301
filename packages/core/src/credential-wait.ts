import { ArtifactsError } from './errors.js';

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

/** `promise`, or a `timeout` error saying `problem` when it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, problem: (seconds: number) => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ArtifactsError('timeout', problem(ms / 1000), { context: { timeoutMs: ms } })),
      ms,
    );
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
