import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  isConnectionError,
  isTemporaryHttpStatus,
  scrub,
} from './errors.js';

/** What an object store's error mapping knows about one failed call. */
export interface StoreFailure {
  /** The failed operation, for the message (`upload`, `list`). */
  what: string;
  /** Names the store in messages (`Google Cloud Storage`, `the blob service`). */
  store: string;
  /** The HTTP status of the answer, when there was one. */
  status?: number | undefined;
  /** The service's own message (only its first line is kept). */
  message?: string | undefined;
  /** Scrubbed from every message. */
  secrets: readonly string[];
  /** Where it failed (bucket, object, …), attached to the error's context with the status. */
  context: Record<string, unknown>;
  /** Temporary for a reason of the store's own, beyond a temporary status or a broken connection. */
  temporary?: boolean | undefined;
}

/** The first line of a service's message: the rest holds request ids and signature details. */
export function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0]!.trim().slice(0, 300);
}

/**
 * The error mapping every object store shares, around the cases a store names itself: `make` builds
 * an `ArtifactsError` (scrubbed message, the cause, the status in its context, temporary when the
 * status is 408/429/5xx or the connection broke); `fallback` maps what the store did not name
 * itself — 416, any other HTTP status by `codeForHttpStatus`, a broken connection — and returns
 * undefined for anything else (which the caller passes on as it is).
 */
export function storeErrors(
  error: unknown,
  failure: StoreFailure,
): {
  detail: string;
  make(code: ArtifactsErrorCode, message: string): ArtifactsError;
  fallback(): ArtifactsError | undefined;
} {
  const { status, what, store, secrets } = failure;
  const detail = scrub(firstLine(failure.message), secrets);
  const temporary =
    (status !== undefined && isTemporaryHttpStatus(status)) ||
    isConnectionError(error) ||
    failure.temporary === true;
  const make = (code: ArtifactsErrorCode, message: string) =>
    new ArtifactsError(code, scrub(message, secrets), {
      cause: error,
      temporary,
      context: { ...failure.context, ...(status === undefined ? {} : { status }) },
    });
  return {
    detail,
    make,
    fallback() {
      if (status === 416) return make('invalid_argument', `${what}: the requested range is not satisfiable`);
      const code = status === undefined ? undefined : codeForHttpStatus(status);
      if (code !== undefined) return make(code, `${what}: ${store} answered ${status}: ${detail}`);
      if (isConnectionError(error)) return make('unavailable', `${what}: cannot reach ${store}: ${detail}`);
      return undefined;
    },
  };
}
