import { type ConnectTarget, connectFailure, failedRequestUrl, httpTarget } from './connection-pool.js';
import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  isAbortError,
  isConnectionError,
  isTemporaryHttpStatus,
  scrub,
} from './errors.js';
import { httpStatusOf } from './store-http.js';

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
      if (isConnectionError(error))
        return make('unavailable', `${what}: the connection to ${store} broke: ${detail}`);
      return undefined;
    },
  };
}

/** What a failed call of a store was about. Everything in it may be printed: never a secret. */
export interface StoreSubject {
  /** The operation and what it worked on (`reading s3://b/k`), first in every message. */
  what: string;
  /** The store answered this client before: a refused connect is then a restart, temporary. */
  reached?: boolean | undefined;
}

/** A message naming the subject; `detail` is the service's own first line, scrubbed (may be ''). */
export type StoreMessage<S> = (subject: S, detail: string) => string;

/** What a service code means: our code, and where the generic wording says too little, a message. */
export type StoreCodeRule<S> =
  | ArtifactsErrorCode
  | {
      code: ArtifactsErrorCode;
      message?: StoreMessage<S> | undefined;
      /** The same call may succeed (default: `unavailable` and `timeout` are temporary). */
      temporary?: boolean | undefined;
    };

/** One store's error mapping, declared as data: `describeStoreErrors` turns it into the mapper. */
export interface StoreErrorSpec<S extends StoreSubject> {
  /** Names the store in messages (`S3`, `the blob service`, `Google Cloud Storage`). */
  store: string;
  /** Said when no server was reached: where to give a CA, which setting holds the address. */
  hints: Pick<ConnectTarget, 'caHint' | 'addressHint'>;
  /** Non-secret context naming the subject (bucket, key…), on every error. */
  context(subject: S): Record<string, unknown>;
  /** The configured endpoint, named by connect failures before the URL the request went to. */
  endpoint?(subject: S): string | undefined;
  /** The service's codes that mean more than their HTTP status (`NoSuchBucket`, `SlowDown`). */
  codes?: Readonly<Record<string, StoreCodeRule<S>>>;
  /**
   * What the subject's failures say, per code: used for a code from `codes` without its own message,
   * and for a bare 401, 403 or 404 (`unauthenticated`, `permission_denied`, `not_found`). A code
   * without an entry reads `<what> failed (<detail>)`; a status without one falls to the status table.
   */
  messages?: Partial<Record<ArtifactsErrorCode, StoreMessage<S>>>;
  /** A credential chain that found nothing: its error names or message, and what to set. */
  credentials?: { names?: readonly string[]; pattern?: RegExp; message: StoreMessage<S> };
  /** A code the store reads from more than its service code (Azure's 403 whose text says authentication). */
  classify?(failure: {
    status: number | undefined;
    code: string | undefined;
    detail: string;
  }): ArtifactsErrorCode | undefined;
}

/** The error of a store's answer, of an SDK, or of a request that got none, as the mapper reads it. */
interface ErrorShape {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  Code?: unknown;
  serviceCode?: unknown;
  details?: { errorCode?: unknown };
  requestId?: unknown;
  retryAfterMs?: unknown;
  reached?: unknown;
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * A store's error mapping from its declaration. The mapper takes anything a call threw and the
 * call's subject, and returns, in this order:
 * - an `ArtifactsError`, an abort or a `TimeoutError` as it is (core classifies those);
 * - a request that reached no server in `connectFailure`'s one wording (refused, unresolvable,
 *   untrusted certificate with `hints.caHint`, not TLS), naming `endpoint(subject)` or the URL;
 * - a credential chain that found nothing as `unauthenticated`, saying what to set;
 * - a service code of `codes`, then a bare 401/403/404, with the declared message;
 * - any other status by core's table, a broken connection as temporary `unavailable`, any other
 *   request that got no answer as `unavailable`;
 * - anything else as it is (core's `toArtifactsError` wraps it).
 * Every message is scrubbed of `secrets`; the context holds the subject's, the status, the service
 * code, the request id and `Retry-After` (ms).
 */
export function describeStoreErrors<S extends StoreSubject>(
  spec: StoreErrorSpec<S>,
): (error: unknown, subject: S, secrets?: readonly string[]) => unknown {
  return (error, subject, secrets = []) => {
    if (ArtifactsError.is(error) || isAbortError(error)) return error;
    if (typeof error !== 'object' || error === null) return error;
    const e = error as ErrorShape;
    if (e.name === 'TimeoutError') return error;
    const status = httpStatusOf(error);
    // A Node error's `code` (ECONNRESET) is no service code; an SDK's string code with a status is.
    const code =
      text(e.serviceCode) ??
      text(e.Code) ??
      text(e.details?.errorCode) ??
      (status === undefined ? undefined : text(e.code));
    const message = text(e.message) ?? '';
    const entry = code === undefined ? undefined : spec.codes?.[code];
    const rule = typeof entry === 'string' ? { code: entry } : entry;
    const context = spec.context(subject);
    const { make, detail, fallback } = storeErrors(error, {
      what: subject.what,
      store: spec.store,
      status,
      message: code && !message.includes(code) ? `${code}${message ? `: ${message}` : ''}` : message,
      secrets,
      context: {
        ...context,
        ...(code === undefined ? {} : { serviceCode: code }),
        ...(text(e.requestId) ? { requestId: e.requestId } : {}),
        ...(typeof e.retryAfterMs === 'number' ? { retryAfterMs: e.retryAfterMs } : {}),
      },
      temporary: rule?.temporary ?? (rule?.code === 'unavailable' || rule?.code === 'timeout'),
    });

    if (status === undefined) {
      const endpoint = spec.endpoint?.(subject);
      const url = endpoint && URL.canParse(endpoint) ? endpoint : failedRequestUrl(error);
      const unreached =
        url === undefined
          ? undefined
          : connectFailure(httpTarget(url, spec.hints), error, {
              what: subject.what,
              reached: subject.reached ?? e.reached === true,
              context,
            });
      if (unreached) return unreached;
    }
    const credentials = spec.credentials;
    if (
      credentials &&
      (credentials.names?.includes(e.name as string) || credentials.pattern?.test(message))
    ) {
      return make('unauthenticated', credentials.message(subject, detail));
    }
    const bare =
      status === 401
        ? 'unauthenticated'
        : status === 403
          ? 'permission_denied'
          : status === 404
            ? 'not_found'
            : undefined;
    const mapped = rule?.code ?? spec.classify?.({ status, code, detail }) ?? bare;
    const words = rule?.message ?? (mapped === undefined ? undefined : spec.messages?.[mapped]);
    if (mapped !== undefined && (words !== undefined || mapped !== bare)) {
      return make(
        mapped,
        words ? words(subject, detail) : `${subject.what} failed${detail ? ` (${detail})` : ''}`,
      );
    }
    const byStatus = fallback();
    if (byStatus) return byStatus;
    // A request that got no answer, for a reason no table above knows (a TLS protocol error).
    if (status === undefined && failedRequestUrl(error) !== undefined)
      return make('unavailable', `${subject.what}: ${spec.store} did not answer: ${detail}`);
    return error;
  };
}

/**
 * A file protocol's failure as an ArtifactsError: `<what>: <reason> (<the library's message>)`,
 * the reason following from the code (`no such file or directory`, `permission denied`, `the
 * <protocol> connection failed`) unless given. `temporary` tells core's retry layer to repeat the call.
 */
export function fileProtocolError(
  code: ArtifactsErrorCode,
  what: string,
  cause: unknown,
  options: { protocol: string; temporary?: boolean; reason?: string },
): ArtifactsError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const reason =
    options.reason ??
    (code === 'not_found'
      ? 'no such file or directory'
      : code === 'permission_denied'
        ? 'permission denied'
        : code === 'unavailable'
          ? `the ${options.protocol} connection failed`
          : undefined);
  return new ArtifactsError(code, `${reason ? `${what}: ${reason}` : `${what} failed`} (${detail})`, {
    cause,
    temporary: options.temporary ?? false,
  });
}

/** What one status of a file protocol means, where a bare code says too little. */
export interface FileErrorRule {
  code: ArtifactsErrorCode;
  /** The same call may succeed on a fresh connection (default: only when the connection broke). */
  temporary?: boolean;
  /** Said in place of the code's own reason (`the FTP server could not open a data connection`). */
  reason?: string;
}

/** One file protocol's error mapping, declared as data: `describeFileErrors` turns it into the mapper. */
export interface FileErrorSpec {
  /** Names the protocol in messages (`SFTP`). */
  protocol: string;
  /** The server's status of a failure (an SFTP status, an FTP reply code); undefined for anything else. */
  status(error: unknown): number | undefined;
  /** Status → code; a function reads the server's text where one status means several things. */
  codes: Readonly<
    Record<number, ArtifactsErrorCode | FileErrorRule | ((message: string) => ArtifactsErrorCode)>
  >;
  /**
   * The connection broke under the call: `unavailable` unless a status says more, and temporary.
   * `PooledFileDriver` defaults it to its connection factory's `isConnectionError`.
   */
  dropped?(error: unknown): boolean;
  /** The client's own timeout (no answer in time): `timeout` unless a status says more. */
  timedOut?(error: unknown): boolean;
}

/**
 * A file protocol's error mapping from its declaration: `(error, what)` → an ArtifactsError in
 * `fileProtocolError`'s wording (`<what>: no such file or directory (<the library's message>)`),
 * temporary when the connection broke (or the status's rule says so); an ArtifactsError, an abort and
 * what neither a status, a broken connection nor a timeout explains pass as they are.
 * `PooledFileDriver` maps its protocol's failures with it; a driver of its own (hdfs) calls it directly.
 */
export function describeFileErrors(spec: FileErrorSpec): (error: unknown, what: string) => unknown {
  return (error, what) => {
    if (ArtifactsError.is(error) || isAbortError(error)) return error;
    const status = spec.status(error);
    const entry = status === undefined ? undefined : spec.codes[status];
    const message = error instanceof Error ? error.message : String(error);
    const rule: FileErrorRule | undefined =
      typeof entry === 'function'
        ? { code: entry(message) }
        : typeof entry === 'string'
          ? { code: entry }
          : entry;
    const dropped = spec.dropped?.(error) ?? false;
    const code = rule?.code ?? (spec.timedOut?.(error) ? 'timeout' : dropped ? 'unavailable' : undefined);
    if (code === undefined) return error;
    return fileProtocolError(code, what, error, {
      protocol: spec.protocol,
      temporary: rule?.temporary === true || dropped,
      ...(rule?.reason === undefined ? {} : { reason: rule.reason }),
    });
  };
}
