/** Stable error codes. Match on `error.code`, never on the message. */
export type ArtifactsErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'permission_denied'
  | 'unauthenticated'
  | 'unsupported'
  | 'timeout'
  | 'aborted'
  | 'unavailable'
  | 'integrity'
  | 'failed_precondition'
  | 'partial_failure'
  | 'internal';

export interface FailedFile {
  /** The artifact path (or local path) that failed. */
  path: string;
  error: ArtifactsError;
}

export interface ArtifactsErrorOptions {
  cause?: unknown;
  /** Extra, non-secret context: the artifact path, the bucket, the HTTP status… */
  context?: Record<string, unknown>;
  /** Each file that failed, for `partial_failure`. */
  failures?: FailedFile[];
  /**
   * The same call may succeed if repeated (a reset connection, a 503, a throttled request). Only
   * such errors are retried, and only for idempotent operations. Default false.
   */
  temporary?: boolean;
}

const BRAND = Symbol.for('@artifacts/core/ArtifactsError');

/** The one error class of @artifacts: a stable `code`, the original error as `cause`, no secrets. */
export class ArtifactsError extends Error {
  override readonly name = 'ArtifactsError';
  readonly code: ArtifactsErrorCode;
  readonly context: Record<string, unknown>;
  readonly failures: FailedFile[];
  /** Repeating the same call may succeed (see `ArtifactsErrorOptions.temporary`). */
  readonly temporary: boolean;

  constructor(code: ArtifactsErrorCode, message: string, options: ArtifactsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.failures = options.failures ?? [];
    this.temporary = options.temporary ?? false;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** Works across copies of core (ESM + CJS, or two versions), unlike `instanceof`. */
  static is(value: unknown, code?: ArtifactsErrorCode): value is ArtifactsError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as Record<symbol, unknown>)[BRAND] === true &&
      (code === undefined || (value as ArtifactsError).code === code)
    );
  }

  static invalidArgument(message: string, options?: ArtifactsErrorOptions): ArtifactsError {
    return new ArtifactsError('invalid_argument', message, options);
  }

  static notFound(what: string, options?: ArtifactsErrorOptions): ArtifactsError {
    return new ArtifactsError('not_found', `${what} does not exist`, options);
  }

  static unsupported(message: string, options?: ArtifactsErrorOptions): ArtifactsError {
    return new ArtifactsError('unsupported', message, options);
  }
}

const ERRNO_CODES: Record<string, ArtifactsErrorCode> = {
  ENOENT: 'not_found',
  EACCES: 'permission_denied',
  EPERM: 'permission_denied',
  EROFS: 'permission_denied',
  EEXIST: 'already_exists',
  ENOTEMPTY: 'already_exists',
  EISDIR: 'failed_precondition',
  ENOTDIR: 'failed_precondition',
  ENAMETOOLONG: 'invalid_argument',
  EINVAL: 'invalid_argument',
  ENOTFOUND: 'unavailable',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ENOSPC: 'unavailable',
  EDQUOT: 'unavailable',
};

/**
 * Node/undici error codes meaning the connection broke under a request (not an answer from the
 * server): the request may succeed on a fresh connection.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  // a body that ended before its Content-Length: the connection was cut under it
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
]);
// Some clients keep only the message of the socket error (Google's resumable upload: "Retry limit
// exceeded - request to … failed, reason: write EPIPE - code: EPIPE").
const CONNECTION_MESSAGES = /socket hang up|ECONNRESET|EPIPE|other side closed|premature close/i;

/**
 * True when `error` (or one of its causes) says the connection broke under the request: reset,
 * refused, a closed socket, a connect timeout. The base every backend extends with its protocol's
 * own signs (an FTP 421, an SSH channel closed). An `ArtifactsError` counts through its `cause` only.
 */
export function isConnectionError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    if (!ArtifactsError.is(current)) {
      const code = errorCodeOf(current);
      if (code !== undefined && CONNECTION_CODES.has(code)) return true;
      // Node's HTTP parser met bytes that are no HTTP answer (`HPE_INVALID_CONSTANT`, "Expected
      // HTTP/"): the exchange on that connection is broken — seen when a connection is cut while an
      // upload is still being written.
      if (code?.startsWith('HPE_')) return true;
      const message = (current as { message?: unknown }).message;
      if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The one mapping of an HTTP status to an ArtifactsError code, shared by every HTTP-speaking
 * backend. 408 is a `timeout`; 409 (a conflict with the object's current state: a pending copy, a
 * lease, a directory in the way) is `failed_precondition`; 429 and 5xx are `unavailable` (see
 * `isTemporaryHttpStatus`). Undefined for statuses below 400.
 */
export function codeForHttpStatus(status: number): ArtifactsErrorCode | undefined {
  if (status < 400) return undefined;
  switch (status) {
    case 401:
      return 'unauthenticated';
    case 403:
      return 'permission_denied';
    case 404:
    case 410:
      return 'not_found';
    case 405:
    case 501:
    case 505:
      return 'unsupported';
    case 408:
      return 'timeout';
    case 409:
    case 412:
    case 428:
      return 'failed_precondition';
    case 429:
      return 'unavailable';
    default:
      return status >= 500 ? 'unavailable' : 'invalid_argument';
  }
}

/** What an HTTP error answer's body says: MLflow's `{error_code, message}`, or a page's text. */
export interface HttpErrorBody {
  errorCode?: string;
  message?: string;
}

/** Longest piece of a non-JSON error body kept in a message. */
const ERROR_TEXT_MAX = 300;

/**
 * Reads an HTTP error answer's body (the MLflow tracking and artifact APIs, or whatever a proxy put
 * in front of them sent): MLflow's `{error_code, message}` JSON, else (any other body) its readable text (HTML
 * tags and whitespace runs collapsed), bounded. Scrub credentials from the result before printing it.
 */
export function parseHttpErrorBody(text: string): HttpErrorBody {
  const out: HttpErrorBody = {};
  try {
    const parsed = JSON.parse(text) as { error_code?: unknown; message?: unknown } | null;
    if (typeof parsed?.error_code === 'string') out.errorCode = parsed.error_code;
    if (typeof parsed?.message === 'string') out.message = parsed.message.slice(0, 2000);
    if (out.errorCode !== undefined || out.message !== undefined) return out;
  } catch {
    // Not JSON (a plain-text 503, a proxy's HTML page): its text.
  }
  const plain = text
    .replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (plain !== '')
    out.message = plain.length > ERROR_TEXT_MAX ? `${plain.slice(0, ERROR_TEXT_MAX)}…` : plain;
  return out;
}

/** Statuses after which the same request may succeed: 408, 429 and 5xx except 501/505. */
export function isTemporaryHttpStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/** Whether repeating the call that threw `error` may succeed: a temporary ArtifactsError or a broken connection. */
export function isTemporaryError(error: unknown): boolean {
  if (ArtifactsError.is(error)) return error.temporary;
  return isConnectionError(error);
}

function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True for an AbortSignal's reason or anything a library threw because of one. */
export function isAbortError(error: unknown): boolean {
  if (ArtifactsError.is(error)) return error.code === 'aborted';
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'AbortError' || errorCodeOf(error) === 'ABORT_ERR';
}

/**
 * A `TimeoutError` that is one. Some clients rename a reset or broken pipe `TimeoutError` (the AWS
 * SDK's Node handler does so for ECONNRESET and EPIPE, to retry it): a connection the peer broke is
 * `unavailable`, not a timeout.
 */
function isTimeoutError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  if (name !== 'TimeoutError') return false;
  const code = errorCodeOf(error);
  return code === undefined || !CONNECTION_CODES.has(code) || ERRNO_CODES[code] === 'timeout';
}

/**
 * Turns anything thrown into an ArtifactsError. `what` names the thing being worked on
 * ("artifact 'model/model.pkl'"); `secrets` are scrubbed from the message.
 */
export function toArtifactsError(
  error: unknown,
  what: string,
  options: { secrets?: readonly string[]; code?: ArtifactsErrorCode } = {},
): ArtifactsError {
  if (ArtifactsError.is(error)) return scrubError(error, options.secrets);
  const raw = error instanceof Error ? error.message : String(error);
  const connection = isConnectionError(error);
  let code: ArtifactsErrorCode =
    options.code ?? ERRNO_CODES[errorCodeOf(error) ?? ''] ?? (connection ? 'unavailable' : 'internal');
  if (isTimeoutError(error)) code = 'timeout';
  else if (isAbortError(error)) code = 'aborted';
  const message = scrub(`${describe(code, what)}: ${raw}`, options.secrets);
  return new ArtifactsError(code, message, {
    cause: error,
    temporary: connection && code !== 'aborted' && options.code === undefined,
  });
}

function describe(code: ArtifactsErrorCode, what: string): string {
  switch (code) {
    case 'not_found':
      return `${what} does not exist`;
    case 'permission_denied':
      return `permission denied for ${what}`;
    case 'timeout':
      return `${what} timed out`;
    case 'aborted':
      return `${what} was aborted`;
    case 'unavailable':
      return `storage unavailable for ${what}`;
    default:
      return `${what} failed`;
  }
}

/** Removes every secret (and its percent-encoded form) from a message. */
export function scrub(message: string, secrets: readonly string[] = []): string {
  let out = message;
  for (const secret of secrets) {
    if (!secret || secret.length < 3) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}

function scrubError(error: ArtifactsError, secrets: readonly string[] = []): ArtifactsError {
  if (secrets.length === 0) return error;
  const message = scrub(error.message, secrets);
  if (message === error.message) return error;
  return new ArtifactsError(error.code, message, {
    cause: error.cause,
    context: error.context,
    failures: error.failures,
    temporary: error.temporary,
  });
}
