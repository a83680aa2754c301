import {
  ArtifactsError,
  type ArtifactsErrorCode,
  type ConnectTarget,
  connectFailure,
  failedRequestUrl,
  httpTarget,
  isAbortError,
  storeErrors,
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
  /** The endpoint answered before: a refused connect is then a restart, temporary. */
  reached?: boolean;
}

/**
 * The S3 codes whose meaning differs from their HTTP status (core's `codeForHttpStatus` maps the
 * rest): refused signatures answer 403 or 400, bad digests and S3's request timeout 400, throttling
 * may come as 400, an archived object is a 403.
 */
const CODES: Record<string, ArtifactsErrorCode> = {
  InvalidObjectState: 'failed_precondition',
  RequestTimeout: 'timeout',
  ...Object.fromEntries(
    'InvalidAccessKeyId SignatureDoesNotMatch ExpiredToken InvalidToken TokenRefreshRequired MissingSecurityHeader RequestTimeTooSkewed InvalidSecurity'
      .split(' ')
      .map((code) => [code, 'unauthenticated']),
  ),
  ...Object.fromEntries(
    'SlowDown Throttling ThrottlingException RequestLimitExceeded TooManyRequestsException ServiceUnavailable InternalError XMinioServerNotInitialized'
      .split(' ')
      .map((code) => [code, 'unavailable']),
  ),
  ...Object.fromEntries(
    'BadDigest InvalidDigest XAmzContentSHA256Mismatch XAmzContentChecksumMismatch InvalidChecksum IncompleteBody InvalidChunkSizeError'
      .split(' ')
      .map((code) => [code, 'integrity']),
  ),
};

/** What only S3 can say about a connect that reached no server. */
const HINTS = {
  caHint:
    'set AWS_CA_BUNDLE to a PEM bundle holding its CA, or MLFLOW_S3_IGNORE_TLS=true to skip verification',
  addressHint: 'check MLFLOW_S3_ENDPOINT_URL (or the endpoint option)',
};

/** The endpoint as core's `connectFailure` names it: the configured one, else where the request went. */
function connectTarget(endpoint: string | undefined, error: unknown): ConnectTarget {
  const url = endpoint && URL.canParse(endpoint) ? endpoint : failedRequestUrl(error);
  return url
    ? httpTarget(url, HINTS)
    : { label: endpoint ?? 'AWS S3', host: 's3.amazonaws.com', port: 443, ...HINTS };
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
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

/** An answer meaning "no such key": a bodiless 404 (HEAD) or the code of one with a body. */
export function isMissing(error: unknown): boolean {
  const code = s3ErrorCode(error);
  return httpStatus(error) === 404 || code === 'NotFound' || code === 'NoSuchKey';
}

/** The Node error code of the innermost cause (TLS and socket errors may hide under wrappers). */
function nodeCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current; depth++) {
    const code = shape(current).code;
    if (typeof code === 'string') return code;
    current = shape(current).cause;
  }
  return undefined;
}

/**
 * Maps an S3 answer's error (SDK-shaped, requests.ts), a credential chain's or a network error to an ArtifactsError through core's store mapping (status table,
 * temporary flag, broken connections), with the S3 codes that differ from their status and the
 * messages naming the bucket or key. Abort and timeout errors are passed through for core.
 */
export function mapS3Error(error: unknown, target: S3Target): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  const e = shape(error);
  if (e.name === 'TimeoutError') return error;
  const status = httpStatus(error);
  const code = s3ErrorCode(error);
  const node = nodeCode(error);
  const action = target.action ?? 'S3 request';
  const where =
    target.key === undefined || target.key === ''
      ? `bucket s3://${target.bucket}`
      : `s3://${target.bucket}/${target.key}`;
  const raw = e.message && e.message !== 'UnknownError' ? e.message : '';
  const mapped = code === undefined ? undefined : CODES[code];
  const { make, detail, fallback } = storeErrors(error, {
    what: `${action} ${where}`,
    store: target.endpoint ?? 'S3',
    status,
    message: [code && code !== raw ? code : undefined, raw || undefined].filter(Boolean).join(': '),
    secrets: [],
    context: {
      bucket: target.bucket,
      ...(target.key === undefined ? {} : { key: target.key }),
      ...(status === undefined ? {} : { httpStatus: status }),
      ...(code === undefined ? {} : { s3Code: code }),
      ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}),
    },
    // Throttling, a busy or restarting server: the same request may succeed.
    temporary: mapped === 'unavailable' || mapped === 'timeout',
  });
  const with_ = (message: string) => (detail ? `${message} (${detail})` : message);

  const unreached =
    status === undefined
      ? connectFailure(connectTarget(target.endpoint, error), error, {
          what: `${action} ${where}`,
          // Whether this origin answered before: the driver's knowledge, else storeRequest's mark.
          reached: target.reached ?? (error as { reached?: boolean }).reached,
          context: { bucket: target.bucket, ...(target.key === undefined ? {} : { key: target.key }) },
        })
      : undefined;
  if (unreached) return unreached;
  if (code === 'CredentialsProviderError' || /could not load credentials/i.test(raw)) {
    return make(
      'unauthenticated',
      `${action} ${where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in ~/.aws/credentials (AWS_PROFILE), a role, or the anonymous option for a public bucket`,
    );
  }
  if (/checksum mismatch/i.test(raw)) return make('integrity', `${action} ${where}: ${raw}`);
  if (code === 'NoSuchBucket')
    return make('not_found', with_(`bucket ${JSON.stringify(target.bucket)} does not exist`));
  if (code === 'NoSuchUpload') {
    return make('not_found', with_(`the multipart upload of ${where} does not exist (completed or aborted)`));
  }
  if (mapped === 'unauthenticated')
    return make(mapped, with_(`${action} ${where}: the credentials were refused`));
  if (mapped) return make(mapped, with_(`${action} ${where} failed`));
  if (status === 404) return make('not_found', with_(`${where} does not exist`));
  if (status === 403) return make('permission_denied', with_(`permission denied: ${action} ${where}`));
  if (status === undefined && node) {
    // A network failure: core's errno table knows the code (a reset is unavailable).
    const base = toArtifactsError(error, action).code;
    return make(
      base === 'internal' ? 'unavailable' : base,
      `${action} ${where}: ${raw || node}${target.endpoint ? ` (endpoint ${target.endpoint})` : ''}`,
    );
  }
  const byStatus = fallback();
  if (byStatus) return byStatus;
  return make(
    e.$fault === 'server' ? 'unavailable' : 'internal',
    `${action} ${where} failed: ${detail || String(error)}`,
  );
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
  // A key's failure in the answer carries a code but no status of its own.
  const status = first.Code === 'AccessDenied' ? 403 : first.Code === 'SlowDown' ? 503 : undefined;
  const error = Object.assign(new Error(first.Message ?? first.Code ?? 'DeleteObjects failed'), {
    name: first.Code ?? 'Error',
    Code: first.Code,
    ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
  });
  return mapS3Error(error, {
    ...target,
    ...(first.Key ? { key: first.Key } : {}),
    action: `deleting (${failed.length} of ${count} keys failed)`,
  });
}
