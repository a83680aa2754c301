import {
  ArtifactsError,
  describeStoreErrors,
  type StoreCodeRule,
  type StoreErrorDetail,
  type StoreSubject,
} from '@artifacts/core';

/** What a failed WebHDFS call was about: nothing secret in it. */
export interface WebHdfsSubject extends StoreSubject {
  /** The NameNode the call went to, named by a connect that reached nothing. */
  endpoint?: string | undefined;
  /** What a 401 means for this repository's settings (Kerberos or not). */
  hint?: string | undefined;
}

const unavailable = { code: 'unavailable', temporary: true } as const;

/**
 * Hadoop's exception names (a RemoteException's `exception`) that mean more than their HTTP status
 * (any other, `IOException` say, is read by its status, as core reads every store's);
 * the temporary ones are those after which the same call (or the other NameNode) may succeed: core's
 * retry layer repeats them, nothing in this package does.
 */
const EXCEPTIONS: Record<string, StoreCodeRule<WebHdfsSubject>> = {
  FileNotFoundException: 'not_found',
  AccessControlException: 'permission_denied',
  AuthorizationException: 'permission_denied',
  SecurityException: 'unauthenticated',
  AuthenticationException: 'unauthenticated',
  InvalidToken: 'unauthenticated',
  StandbyException: unavailable,
  RetriableException: unavailable,
  SafeModeException: unavailable,
  ObserverRetryOnActiveException: unavailable,
  ConnectException: unavailable,
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

/**
 * Any failure of a WebHDFS call as an ArtifactsError, or as it was when nothing explains it (core's
 * `toArtifactsError` wraps that): an answer's status and RemoteException, a connect that reached no
 * NameNode, a broken connection (temporary `unavailable`). WebHDFS's mapping, declared for core.
 */
export const webhdfsFailure = describeStoreErrors<WebHdfsSubject>({
  store: 'WebHDFS',
  hints: {
    caHint: 'give its CA with the caFile option or ARTIFACTS_HDFS_CA_FILE',
    addressHint: 'is the NameNode running, and is this its WebHDFS port?',
  },
  context: () => ({}),
  endpoint: (subject) => subject.endpoint,
  codes: EXCEPTIONS,
  messages: {
    unauthenticated: ({ what, hint }, detail) =>
      `${what}: authentication failed${detail ? ` (${detail})` : ''}${hint ? `: ${hint}` : ''}`,
  },
});

/**
 * What a WebHDFS error body says, for core's `StoreHttp` (`errorDetail`): a RemoteException's name
 * (the service code `EXCEPTIONS` reads) and message, else a short plain text — markup (a proxy's
 * page, Jetty's) never. A 401 is authentication whatever exception it names: the name stays in the
 * message, never as the code.
 */
export function webhdfsErrorDetail(text: string, { status }: { status: number }): StoreErrorDetail {
  let remote: { exception?: unknown; message?: unknown } | undefined;
  try {
    remote = (JSON.parse(text) as { RemoteException?: typeof remote })?.RemoteException;
  } catch {
    // Not JSON: the HTTP status decides.
  }
  if (remote && typeof remote.exception === 'string') {
    const message = typeof remote.message === 'string' ? remote.message : undefined;
    return status === 401
      ? { message: `${remote.exception}: ${message ?? ''}` }
      : { code: remote.exception, message };
  }
  return text.trim() && text.length < 300 && !text.includes('<') ? { message: text.trim() } : {};
}

/** True when the exception says this NameNode is not the active one (try the next). */
export function isStandby(error: unknown): boolean {
  return ArtifactsError.is(error) && error.context.serviceCode === 'StandbyException';
}
