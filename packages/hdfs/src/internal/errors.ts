import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  fileProtocolError,
} from '@artifacts/core';

/** The JSON body WebHDFS answers errors with. */
export interface RemoteException {
  exception: string;
  message?: string;
}

/**
 * Exception → code; `true` marks the ones after which the same call (or the other NameNode) may
 * succeed: core's retry layer repeats those (`temporary`), nothing in this package does.
 */
const EXCEPTIONS: Record<string, [ArtifactsErrorCode, boolean?]> = {
  FileNotFoundException: ['not_found'],
  AccessControlException: ['permission_denied'],
  AuthorizationException: ['permission_denied'],
  SecurityException: ['unauthenticated'],
  AuthenticationException: ['unauthenticated'],
  InvalidToken: ['unauthenticated'],
  StandbyException: ['unavailable', true],
  RetriableException: ['unavailable', true],
  SafeModeException: ['unavailable', true],
  ObserverRetryOnActiveException: ['unavailable', true],
  ConnectException: ['unavailable', true],
  FileAlreadyExistsException: ['already_exists'],
  PathIsNotEmptyDirectoryException: ['failed_precondition'],
  ParentNotDirectoryException: ['failed_precondition'],
  NSQuotaExceededException: ['failed_precondition'],
  DSQuotaExceededException: ['failed_precondition'],
  QuotaExceededException: ['failed_precondition'],
  AlreadyBeingCreatedException: ['failed_precondition'],
  LeaseExpiredException: ['failed_precondition'],
  IllegalArgumentException: ['invalid_argument'],
  InvalidPathException: ['invalid_argument'],
  UnsupportedOperationException: ['unsupported'],
};

/** Reads a RemoteException out of a WebHDFS error body, if it is one. */
export function parseRemoteException(body: string): RemoteException | undefined {
  try {
    const remote = (JSON.parse(body) as { RemoteException?: Partial<RemoteException> })?.RemoteException;
    if (remote && typeof remote.exception === 'string') {
      return {
        exception: remote.exception,
        ...(typeof remote.message === 'string' ? { message: remote.message } : {}),
      };
    }
  } catch {
    // Not JSON (a proxy's HTML page, a Jetty error page): the HTTP status decides.
  }
  return undefined;
}

/** The ArtifactsError for a WebHDFS error answer. */
export function webhdfsError(status: number, body: string, what: string, hint?: string): ArtifactsError {
  const remote = parseRemoteException(body);
  const known = remote && EXCEPTIONS[remote.exception];
  // 401 is always authentication (SPNEGO/token refused), whatever exception name the server gives.
  const code = status === 401 ? 'unauthenticated' : (known?.[0] ?? codeForHttpStatus(status) ?? 'internal');
  const temporary = remote ? known?.[1] === true : status === 502 || status === 503 || status === 504;
  const line = remote?.message?.split('\n', 1)[0] ?? '';
  const detail = remote
    ? `${remote.exception}${line ? `: ${line.length > 500 ? `${line.slice(0, 500)}…` : line}` : ''}`
    : `HTTP ${status}${body.trim() && body.length < 300 && !body.includes('<') ? `: ${body.trim()}` : ''}`;
  return new ArtifactsError(code, `${what}: ${detail}${hint ? ` (${hint})` : ''}`, {
    context: { status, ...(remote ? { exception: remote.exception } : {}) },
    temporary,
  });
}

/** True when the exception says this NameNode is not the active one (try the next). */
export function isStandby(error: unknown): boolean {
  return ArtifactsError.is(error) && error.context.exception === 'StandbyException';
}

/** A network failure that reached the server (a reset, a cut body) as a temporary `unavailable` ArtifactsError. */
export function connectionError(error: unknown, what: string): ArtifactsError {
  return fileProtocolError('unavailable', what, error, { protocol: 'WebHDFS', temporary: true });
}
