import { ArtifactsError, type ArtifactsErrorCode } from '@artifacts/core';

/** The JSON body WebHDFS answers errors with. */
export interface RemoteException {
  exception: string;
  javaClassName?: string;
  message?: string;
}

const EXCEPTION_CODES: Record<string, ArtifactsErrorCode> = {
  FileNotFoundException: 'not_found',
  AccessControlException: 'permission_denied',
  AuthorizationException: 'permission_denied',
  SecurityException: 'unauthenticated',
  AuthenticationException: 'unauthenticated',
  InvalidToken: 'unauthenticated',
  StandbyException: 'unavailable',
  RetriableException: 'unavailable',
  SafeModeException: 'unavailable',
  ObserverRetryOnActiveException: 'unavailable',
  ConnectException: 'unavailable',
  FileAlreadyExistsException: 'already_exists',
  PathIsNotEmptyDirectoryException: 'failed_precondition',
  ParentNotDirectoryException: 'failed_precondition',
  NSQuotaExceededException: 'failed_precondition',
  DSQuotaExceededException: 'failed_precondition',
  QuotaExceededException: 'failed_precondition',
  AlreadyBeingCreatedException: 'failed_precondition',
  LeaseExpiredException: 'failed_precondition',
  IllegalArgumentException: 'invalid_argument',
  InvalidPathException: 'invalid_argument',
  UnsupportedOperationException: 'unsupported',
};

/** Exceptions after which another attempt (or the other NameNode) may succeed. */
const RETRIABLE = new Set([
  'StandbyException',
  'RetriableException',
  'SafeModeException',
  'ObserverRetryOnActiveException',
  'ConnectException',
]);

/** Reads a RemoteException out of a WebHDFS error body, if it is one. */
export function parseRemoteException(body: string): RemoteException | undefined {
  try {
    const parsed = JSON.parse(body) as { RemoteException?: Partial<RemoteException> };
    const remote = parsed?.RemoteException;
    if (remote && typeof remote.exception === 'string') {
      return {
        exception: remote.exception,
        ...(typeof remote.javaClassName === 'string' ? { javaClassName: remote.javaClassName } : {}),
        ...(typeof remote.message === 'string' ? { message: remote.message } : {}),
      };
    }
  } catch {
    // Not JSON (a proxy's HTML page, a Jetty error page): the HTTP status decides.
  }
  return undefined;
}

function codeForStatus(status: number): ArtifactsErrorCode {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 400) return 'invalid_argument';
  if (status === 408 || status === 429 || status >= 500) return 'unavailable';
  return 'internal';
}

/** The ArtifactsError for a WebHDFS error answer. */
export function webhdfsError(status: number, body: string, what: string, hint?: string): ArtifactsError {
  const remote = parseRemoteException(body);
  // 401 is always authentication (SPNEGO/token refused), whatever exception name the server gives.
  const code =
    status === 401
      ? 'unauthenticated'
      : ((remote && EXCEPTION_CODES[remote.exception]) ?? codeForStatus(status));
  const detail = remote
    ? `${remote.exception}${remote.message ? `: ${firstLine(remote.message)}` : ''}`
    : `HTTP ${status}${body.trim() && body.length < 300 && !body.includes('<') ? `: ${body.trim()}` : ''}`;
  return new ArtifactsError(code, `${what}: ${detail}${hint ? ` (${hint})` : ''}`, {
    context: { status, ...(remote ? { exception: remote.exception } : {}) },
  });
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** True for an answer after which a retry (possibly on another NameNode) may succeed. */
export function isRetriableError(error: unknown): boolean {
  if (ArtifactsError.is(error)) {
    const exception = error.context.exception;
    if (typeof exception === 'string') return RETRIABLE.has(exception);
    const status = error.context.status;
    if (typeof status === 'number') return status === 502 || status === 503 || status === 504;
    return error.context.connection === true;
  }
  return isConnectionError(error);
}

/** True when the exception says this NameNode is not the active one (try the next). */
export function isStandby(error: unknown): boolean {
  return ArtifactsError.is(error) && error.context.exception === 'StandbyException';
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** A network failure (refused, reset, socket closed under the request) rather than an answer. */
export function isConnectionError(error: unknown): boolean {
  let current: unknown = error;
  for (let i = 0; i < 5 && current; i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** A network failure as an `unavailable` ArtifactsError (marked so retries recognise it). */
export function connectionError(error: unknown, what: string): ArtifactsError {
  const code = (error as { code?: unknown }).code;
  const reason = error instanceof Error ? error.message : String(error);
  return new ArtifactsError(
    'unavailable',
    `${what}: ${reason}${typeof code === 'string' ? ` (${code})` : ''}`,
    {
      cause: error,
      context: { connection: true },
    },
  );
}
