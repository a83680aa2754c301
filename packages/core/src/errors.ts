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
}

const BRAND = Symbol.for('@artifacts/core/ArtifactsError');

/** The one error class of @artifacts: a stable `code`, the original error as `cause`, no secrets. */
export class ArtifactsError extends Error {
  override readonly name = 'ArtifactsError';
  readonly code: ArtifactsErrorCode;
  readonly context: Record<string, unknown>;
  readonly failures: FailedFile[];

  constructor(code: ArtifactsErrorCode, message: string, options: ArtifactsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.failures = options.failures ?? [];
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
  ECONNREFUSED: 'unavailable',
  ECONNRESET: 'unavailable',
  EPIPE: 'unavailable',
  EHOSTUNREACH: 'unavailable',
  ENETUNREACH: 'unavailable',
  ENOTFOUND: 'unavailable',
  EAI_AGAIN: 'unavailable',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_SOCKET: 'unavailable',
  ENOSPC: 'unavailable',
  EDQUOT: 'unavailable',
  ERR_STREAM_PREMATURE_CLOSE: 'unavailable',
};

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

function isTimeoutError(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'TimeoutError';
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
  let code: ArtifactsErrorCode = options.code ?? ERRNO_CODES[errorCodeOf(error) ?? ''] ?? 'internal';
  if (isTimeoutError(error)) code = 'timeout';
  else if (isAbortError(error)) code = 'aborted';
  const message = scrub(`${describe(code, what)}: ${raw}`, options.secrets);
  return new ArtifactsError(code, message, { cause: error });
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
  });
}
