import { ArtifactsError } from '@artifacts/core';

export interface Outcome<T> {
  ok: boolean;
  value?: T;
  error?: unknown;
  ms: number;
  /** The operation had not settled when the watchdog fired: a hang. */
  hung: boolean;
}

/** Runs `run` and reports how it ended and how long it took; a watchdog turns a hang into a result. */
export async function settle<T>(run: () => Promise<T>, watchdogMs: number): Promise<Outcome<T>> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<'hang'>((resolve) => {
    timer = setTimeout(() => resolve('hang'), watchdogMs);
  });
  try {
    const result = await Promise.race([run().then((value) => ({ value })), watchdog]);
    if (result === 'hang') return { ok: false, ms: Date.now() - started, hung: true };
    return { ok: true, value: result.value, ms: Date.now() - started, hung: false };
  } catch (error) {
    return { ok: false, error, ms: Date.now() - started, hung: false };
  } finally {
    clearTimeout(timer);
  }
}

/** Codes a failure under a network fault may carry: each says what happened, none is a bug. */
export const FAULT_CODES = new Set(['unavailable', 'timeout', 'aborted', 'partial_failure', 'integrity']);

/** Describes an outcome for an assertion message. */
export function describeOutcome(outcome: Outcome<unknown>): string {
  if (outcome.hung) return `hung (no answer after ${outcome.ms} ms)`;
  if (outcome.ok) return `succeeded in ${outcome.ms} ms`;
  const error = outcome.error;
  if (ArtifactsError.is(error)) return `failed in ${outcome.ms} ms with ${error.code}: ${error.message}`;
  return `failed in ${outcome.ms} ms with a non-ArtifactsError: ${String((error as Error)?.stack ?? error)}`;
}

/** A failure is clear when it is an ArtifactsError with a fault code and a message. */
export function isClearFailure(outcome: Outcome<unknown>): boolean {
  const error = outcome.error;
  return !outcome.hung && ArtifactsError.is(error) && FAULT_CODES.has(error.code) && error.message.length > 0;
}
