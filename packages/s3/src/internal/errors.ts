import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  isAbortError,
  isConnectionError,
  isTemporaryHttpStatus,
  toArtifactsError,
} from '@artifacts/core';

/** What an S3 call was working on, for messages: `s3://bucket/key`. */
export interface S3Target {
  bucket: string;
  key?: string;
  /** Shown instead of the generic "S3 request" (e.g. "uploading"). */
  action?: string;
  /** The endpoint in use, named in connection and TLS errors. */
  endpoint?: string;
}

const CODES: Record<string, ArtifactsErrorCode> = {
  NoSuchKey: 'not_found',
  NotFound: 'not_found',
  NoSuchBucket: 'not_found',
  NoSuchUpload: 'not_found',
  NoSuchVersion: 'not_found',
  AccessDenied: 'permission_denied',
  Forbidden: 'permission_denied',
  AllAccessDisabled: 'permission_denied',
  AccountProblem: 'permission_denied',
  InvalidObjectState: 'failed_precondition',
  InvalidAccessKeyId: 'unauthenticated',
  SignatureDoesNotMatch: 'unauthenticated',
  ExpiredToken: 'unauthenticated',
  InvalidToken: 'unauthenticated',
  TokenRefreshRequired: 'unauthenticated',
  MissingSecurityHeader: 'unauthenticated',
  CredentialsProviderError: 'unauthenticated',
  RequestTimeTooSkewed: 'unauthenticated',
  InvalidSecurity: 'unauthenticated',
  SlowDown: 'unavailable',
  Throttling: 'unavailable',
  ThrottlingException: 'unavailable',
  RequestLimitExceeded: 'unavailable',
  TooManyRequestsException: 'unavailable',
  ServiceUnavailable: 'unavailable',
  InternalError: 'unavailable',
  RequestTimeout: 'timeout',
  XMinioServerNotInitialized: 'unavailable',
  PreconditionFailed: 'failed_precondition',
  InvalidRange: 'invalid_argument',
  EntityTooLarge: 'invalid_argument',
  EntityTooSmall: 'invalid_argument',
  InvalidPart: 'invalid_argument',
  InvalidPartOrder: 'invalid_argument',
  InvalidArgument: 'invalid_argument',
  InvalidBucketName: 'invalid_argument',
  KeyTooLongError: 'invalid_argument',
  InvalidStorageClass: 'invalid_argument',
  MalformedXML: 'invalid_argument',
  NotImplemented: 'unsupported',
  BadDigest: 'integrity',
  InvalidDigest: 'integrity',
  XAmzContentSHA256Mismatch: 'integrity',
  XAmzContentChecksumMismatch: 'integrity',
  InvalidChecksum: 'integrity',
  IncompleteBody: 'integrity',
  InvalidChunkSizeError: 'integrity',
};

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $retryable?: unknown;
  cause?: unknown;
}

function shape(error: unknown): SdkErrorShape {
  return typeof error === 'object' && error !== null ? (error as SdkErrorShape) : {};
}

/** The S3 error code (`NoSuchKey`, `AccessDenied`…) or the Node error code of a network failure. */
export function s3ErrorCode(error: unknown): string | undefined {
  const e = shape(error);
  if (typeof e.Code === 'string') return e.Code;
  if (typeof e.code === 'string' && e.$metadata === undefined) return e.code;
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name;
  return undefined;
}

export function httpStatus(error: unknown): number | undefined {
  return shape(error).$metadata?.httpStatusCode;
}

/** The Node error code of the innermost cause (TLS and socket errors hide under SDK wrappers). */
function nodeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = shape(current).code;
    if (typeof code === 'string') return code;
    current = shape(current).cause;
  }
  return undefined;
}

function describeTarget(target: S3Target): string {
  return target.key === undefined || target.key === ''
    ? `bucket s3://${target.bucket}`
    : `s3://${target.bucket}/${target.key}`;
}

/**
 * Maps an SDK or network error to an ArtifactsError with the right code and a message naming the
 * bucket or key. Abort and timeout errors are passed through for core to classify.
 */
export function mapS3Error(error: unknown, target: S3Target): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  const e = shape(error);
  if (e.name === 'TimeoutError') return error;
  const status = httpStatus(error);
  const code = s3ErrorCode(error);
  const node = nodeCode(error);
  const action = target.action ?? 'S3 request';
  const where = describeTarget(target);
  const raw =
    typeof e.message === 'string' && e.message !== '' && e.message !== 'UnknownError' ? e.message : '';
  const detail = [
    code && code !== raw ? code : undefined,
    raw || undefined,
    status ? `HTTP ${status}` : undefined,
  ]
    .filter(Boolean)
    .join(': ');
  const context = {
    bucket: target.bucket,
    ...(target.key === undefined ? {} : { key: target.key }),
    ...(status === undefined ? {} : { httpStatus: status }),
    ...(code === undefined ? {} : { s3Code: code }),
    ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}),
  };

  if (node && TLS_CODES.has(node)) {
    return new ArtifactsError(
      'unavailable',
      `${action} ${where}: the TLS certificate of ${target.endpoint ?? 'the S3 endpoint'} was not accepted (${node}); set AWS_CA_BUNDLE to a PEM bundle holding its CA, or MLFLOW_S3_IGNORE_TLS=true to skip verification`,
      { cause: error, context },
    );
  }
  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(raw)) {
    return new ArtifactsError(
      'unauthenticated',
      `${action} ${where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in ~/.aws/credentials (AWS_PROFILE), a role, or the anonymous option for a public bucket`,
      { cause: error, context },
    );
  }
  if (/checksum mismatch/i.test(raw)) {
    return new ArtifactsError('integrity', `${action} ${where}: ${raw}`, { cause: error, context });
  }

  const temporary =
    // S3 codes after which the same request may succeed: throttling, a busy or restarting server.
    (code !== undefined && (CODES[code] === 'unavailable' || CODES[code] === 'timeout')) ||
    (status !== undefined && isTemporaryHttpStatus(status)) ||
    isConnectionError(error);
  let mapped: ArtifactsErrorCode | undefined = code ? CODES[code] : undefined;
  if (!mapped && status !== undefined) mapped = codeForHttpStatus(status);
  if (!mapped && e.$fault === 'server') mapped = 'unavailable';
  if (!mapped) {
    // A network failure: core's errno table knows the code; add where we were.
    if (node) {
      const base = toArtifactsError(error, `${action} ${where}`);
      return new ArtifactsError(
        base.code === 'internal' ? 'unavailable' : base.code,
        `${action} ${where}: ${raw || node}${target.endpoint ? ` (endpoint ${target.endpoint})` : ''}`,
        { cause: error, context, temporary },
      );
    }
    return new ArtifactsError('internal', `${action} ${where} failed: ${detail || String(error)}`, {
      cause: error,
      context,
    });
  }

  let message: string;
  switch (mapped) {
    case 'not_found':
      message =
        code === 'NoSuchBucket'
          ? `bucket ${JSON.stringify(target.bucket)} does not exist`
          : code === 'NoSuchUpload'
            ? `the multipart upload of ${where} does not exist (completed or aborted)`
            : `${where} does not exist`;
      break;
    case 'permission_denied':
      message = `permission denied: ${action} ${where}`;
      break;
    case 'unauthenticated':
      message = `${action} ${where}: the credentials were refused`;
      break;
    case 'unavailable':
      message = `${action} ${where}: S3 is unavailable`;
      break;
    case 'timeout':
      message = `${action} ${where}: S3 timed out`;
      break;
    case 'integrity':
      message = `${action} ${where}: the data did not match its checksum`;
      break;
    default:
      message = `${action} ${where} failed`;
  }
  return new ArtifactsError(mapped, detail ? `${message} (${detail})` : message, {
    cause: error,
    context,
    temporary,
  });
}

/** The failure of a DeleteObjects answer (keys already gone are not one), or undefined. */
export function deleteObjectsError(
  errors: ReadonlyArray<{ Key?: string; Code?: string; Message?: string }>,
  count: number,
  target: S3Target,
): unknown {
  const failed = errors.filter((e) => e.Code !== 'NoSuchKey');
  const first = failed[0];
  if (!first) return undefined;
  const error = Object.assign(new Error(first.Message ?? first.Code ?? 'DeleteObjects failed'), {
    name: first.Code ?? 'Error',
    Code: first.Code,
  });
  return mapS3Error(error, {
    ...target,
    ...(first.Key ? { key: first.Key } : {}),
    action: `deleting (${failed.length} of ${count} keys failed)`,
  });
}
