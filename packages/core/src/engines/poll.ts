import { setTimeout as sleep } from 'node:timers/promises';
import { ArtifactsError } from '../errors.js';

/** A store's long-running operation, asked about until it says it is done. */
export interface PollPlan<A> {
  /** The store's first answer (the request that started the operation). */
  first: A;
  /** The next answer: the operation asked about (Azure's HEAD) or continued (GCS's rewrite token). */
  next(answer: A): Promise<A>;
  /** Whether `answer` says the operation is over (succeeded or not: the caller reads which). */
  done(answer: A): boolean;
  /** How far the store says the operation has come (bytes copied); any change is progress. */
  progress(answer: A): string | undefined;
  /**
   * Bound on each stall, ms: no progress reported for this long fails with `timeout`, however long
   * the operation takes while it moves (MLflow's semantics: `-1`, `0` or undefined = none).
   */
  stallMs: number | undefined;
  /** Wait between two answers, ms (default none: each request itself does a bounded amount of work). */
  intervalMs?: number;
  signal?: AbortSignal | undefined;
  /** The `timeout` error's message, given the progress last reported and the bound. */
  stalled(progress: string | undefined, stallMs: number): string;
}

/**
 * Repeats a request until the store says its operation is done (Azure's Copy Blob polled with
 * HEAD, GCS's `objects.rewrite` continued with its rewrite token), bounded by no progress for
 * `stallMs` — never by the operation's length. Returns the last answer; each request's own failure
 * (and a cancellation) passes through. Undoing what the store started is the caller's.
 */
export async function pollUntilDone<A>(plan: PollPlan<A>): Promise<A> {
  const stallMs = plan.stallMs !== undefined && plan.stallMs > 0 ? plan.stallMs : undefined;
  let answer = plan.first;
  let progress = plan.progress(answer);
  let moved = Date.now();
  plan.signal?.throwIfAborted();
  while (!plan.done(answer)) {
    if (stallMs !== undefined && Date.now() - moved >= stallMs) {
      throw new ArtifactsError('timeout', plan.stalled(progress, stallMs));
    }
    if (plan.intervalMs) await sleep(plan.intervalMs, undefined, { signal: plan.signal });
    answer = await plan.next(answer);
    const now = plan.progress(answer);
    if (now !== progress) {
      progress = now;
      moved = Date.now();
    }
  }
  return answer;
}
