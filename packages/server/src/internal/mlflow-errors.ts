import { ArtifactsError, type ArtifactsErrorCode } from '@artifacts/core';

/** MLflow's error JSON: `{"error_code": "...", "message": "..."}`. */
export interface MlflowErrorBody {
  error_code: string;
  message: string;
}

/** An error the server answers with, already in MLflow's vocabulary. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
    /** Extra response headers (WWW-Authenticate, Content-Range, Connection). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The failure behind a 5xx, for the server log (never sent to the client). */
  logged?: unknown;

  body(): MlflowErrorBody {
    return { error_code: this.errorCode, message: this.message };
  }
}

// The HTTP statuses are MLflow's (mlflow/exceptions.py ERROR_CODE_TO_HTTP_STATUS), so that MLflow's
// client reacts to them as it does against MLflow's own server.
const BY_CODE: Record<ArtifactsErrorCode, { status: number; errorCode: string }> = {
  invalid_argument: { status: 400, errorCode: 'INVALID_PARAMETER_VALUE' },
  failed_precondition: { status: 400, errorCode: 'INVALID_PARAMETER_VALUE' },
  not_found: { status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST' },
  already_exists: { status: 400, errorCode: 'RESOURCE_ALREADY_EXISTS' },
  permission_denied: { status: 403, errorCode: 'PERMISSION_DENIED' },
  // The storage refused the *server's* credentials: a server fault, not the caller's (a 401 would
  // make the client believe its own credentials are wrong).
  unauthenticated: { status: 500, errorCode: 'INTERNAL_ERROR' },
  unsupported: { status: 501, errorCode: 'NOT_IMPLEMENTED' },
  timeout: { status: 504, errorCode: 'DEADLINE_EXCEEDED' },
  aborted: { status: 409, errorCode: 'ABORTED' },
  unavailable: { status: 503, errorCode: 'TEMPORARILY_UNAVAILABLE' },
  integrity: { status: 500, errorCode: 'DATA_LOSS' },
  partial_failure: { status: 500, errorCode: 'INTERNAL_ERROR' },
  internal: { status: 500, errorCode: 'INTERNAL_ERROR' },
};

/**
 * A failure of the artifact destination. Its message is the store's (local paths, bucket names,
 * the destination URI): the client gets a message built from the error code, the errno and the
 * path it named itself; the original goes to the server log.
 */
export class StorageFailure extends Error {
  constructor(readonly original: unknown) {
    super('storage failure');
  }
}

/** Runs a call to the destination, marking whatever it throws as a StorageFailure. */
export async function storage<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new StorageFailure(error);
  }
}

// Errnos the local (or any file-system) destination raises, as a code and a reason about the
// caller's path. ELOOP is a symlink loop inside the store: a fault of what the path resolves to,
// not of the server.
const ERRNO_REASONS: Record<string, { code: ArtifactsErrorCode; reason: string }> = {
  ELOOP: { code: 'failed_precondition', reason: 'the path leads through a symbolic link loop in the store' },
  ENOTDIR: { code: 'failed_precondition', reason: 'a parent of the path is a file, not a directory' },
  EISDIR: { code: 'failed_precondition', reason: 'the path is a directory' },
  ENAMETOOLONG: { code: 'invalid_argument', reason: 'a name in the path is too long for the store' },
  EEXIST: { code: 'already_exists', reason: 'something already exists at the path' },
  ENOTEMPTY: { code: 'already_exists', reason: 'the directory is not empty' },
  EFBIG: { code: 'invalid_argument', reason: 'the file is too large for the store' },
  ENOSPC: { code: 'unavailable', reason: 'the store is out of space' },
  EDQUOT: { code: 'unavailable', reason: 'the store is out of quota' },
  EMFILE: { code: 'unavailable', reason: 'the server is out of file descriptors; retry shortly' },
  ENFILE: { code: 'unavailable', reason: 'the server is out of file descriptors; retry shortly' },
  EBUSY: { code: 'unavailable', reason: 'the path is busy; retry shortly' },
  EACCES: { code: 'permission_denied', reason: 'the server may not access the path in its store' },
  EPERM: { code: 'permission_denied', reason: 'the server may not access the path in its store' },
  EROFS: { code: 'permission_denied', reason: 'the store is read-only' },
};

const REASONS: Record<ArtifactsErrorCode, string> = {
  invalid_argument: 'the store refused the request',
  failed_precondition: 'the path conflicts with what is stored',
  not_found: 'it does not exist',
  already_exists: 'something already exists at the path',
  permission_denied: 'the artifact destination refused the server access',
  unauthenticated: 'the artifact destination refused the server',
  unsupported: 'the artifact destination does not support this',
  timeout: 'the artifact destination did not answer in time; retry later',
  aborted: 'the request was aborted',
  unavailable: 'the artifact destination is unavailable; retry later',
  integrity: 'the data failed an integrity check (length or checksum)',
  partial_failure: 'some files could not be processed',
  internal: 'internal error',
};

function errnoOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code) && ERRNO_REASONS[code]) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function fromStorage(failure: StorageFailure, requestId: string, action: string): HttpError {
  const original = failure.original;
  if (original instanceof HttpError) return original;
  const errno = errnoOf(original);
  const known = errno ? ERRNO_REASONS[errno] : undefined;
  const code: ArtifactsErrorCode = known?.code ?? (ArtifactsError.is(original) ? original.code : 'internal');
  const mapped = BY_CODE[code] ?? BY_CODE.internal;
  const reason =
    code === 'internal' || code === 'unauthenticated'
      ? `${REASONS[code]}; see the server log (request ${requestId})`
      : (known?.reason ?? REASONS[code]);
  const http = new HttpError(mapped.status, mapped.errorCode, `${action}: ${reason}`);
  if (mapped.status >= 500) http.logged = original;
  return http;
}

/**
 * Turns anything a handler threw into the error the client sees. Messages of `ArtifactsError`s are
 * already scrubbed of secrets by core; anything else (a library's own error, a bug) is answered with
 * a generic message and the request id, and logged in full on the server only.
 */
export function toHttpError(
  error: unknown,
  requestId: string,
  destinationUri?: string,
  action = 'serving the request',
): { http: HttpError; internal: boolean } {
  if (error instanceof StorageFailure) {
    const http = fromStorage(error, requestId, action);
    return { http, internal: http.logged !== undefined };
  }
  if (error instanceof HttpError) return { http: error, internal: false };
  if (ArtifactsError.is(error)) {
    const mapped = BY_CODE[error.code] ?? BY_CODE.internal;
    if (error.code === 'internal' || error.code === 'unauthenticated') {
      return {
        http: new HttpError(
          mapped.status,
          mapped.errorCode,
          `internal error while ${describe(error)}; see the server log (request ${requestId})`,
        ),
        internal: true,
      };
    }
    // Where the server keeps artifacts (a bucket, a directory) is its own business, not the caller's.
    const message = destinationUri
      ? error.message.split(destinationUri).join('the artifact destination')
      : error.message;
    return { http: new HttpError(mapped.status, mapped.errorCode, message), internal: false };
  }
  const fastify = fastifyError(error);
  if (fastify) return { http: fastify, internal: false };
  return {
    http: new HttpError(500, 'INTERNAL_ERROR', `internal error; see the server log (request ${requestId})`),
    internal: true,
  };
}

function describe(error: ArtifactsError): string {
  // Core's messages start with what was being done ("uploading artifact …"); keep only that part.
  const head = error.message.split(':')[0] ?? '';
  return head.length > 0 && head.length < 200 ? head : 'serving the request';
}

/** Errors Fastify raises itself (bad JSON, body too large, unsupported media type, bad URL). */
function fastifyError(error: unknown): HttpError | undefined {
  const e = error as { statusCode?: unknown; code?: unknown; message?: unknown } | null;
  if (!e || typeof e.statusCode !== 'number' || typeof e.code !== 'string' || !e.code.startsWith('FST_')) {
    return undefined;
  }
  const status = e.statusCode;
  if (status < 400 || status >= 500) return undefined;
  const message = typeof e.message === 'string' ? e.message : 'bad request';
  const errorCode = status === 404 ? 'ENDPOINT_NOT_FOUND' : 'BAD_REQUEST';
  return new HttpError(status, errorCode, message);
}
