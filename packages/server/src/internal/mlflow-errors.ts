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
 * Turns anything a handler threw into the error the client sees. Messages of `ArtifactsError`s are
 * already scrubbed of secrets by core; anything else (a library's own error, a bug) is answered with
 * a generic message and the request id, and logged in full on the server only.
 */
export function toHttpError(
  error: unknown,
  requestId: string,
  destinationUri?: string,
): { http: HttpError; internal: boolean } {
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
