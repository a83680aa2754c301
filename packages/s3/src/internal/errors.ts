import { type ArtifactsErrorCode, describeStoreErrors, httpStatusOf } from '@artifacts/core';

/** What an S3 call was working on, for messages: `s3://bucket/key`. */
export interface S3Target {
  bucket: string;
  key?: string;
  /** Shown instead of the generic "S3 request" (e.g. "uploading"). */
  action?: string;
  /** The endpoint in use, named in connection and TLS errors. */
  endpoint?: string;
}

type Subject = S3Target & { what: string };

const where = (t: S3Target) => (t.key ? `s3://${t.bucket}/${t.key}` : `bucket s3://${t.bucket}`);
const also = (detail: string) => (detail ? ` (${detail})` : '');
const codes = (names: string, code: ArtifactsErrorCode) =>
  Object.fromEntries(names.split(' ').map((name) => [name, code]));

/**
 * S3's error mapping, declared for core's `describeStoreErrors`: the S3 codes whose meaning differs
 * from their HTTP status (refused signatures answer 403 or 400, bad digests and S3's request timeout
 * 400, throttling may come as 400, an archived object is a 403), the messages naming bucket or key.
 */
const mapError = describeStoreErrors<Subject>({
  store: 'S3',
  hints: {
    caHint:
      'set AWS_CA_BUNDLE to a PEM bundle holding its CA, or MLFLOW_S3_IGNORE_TLS=true to skip verification',
    addressHint: 'check MLFLOW_S3_ENDPOINT_URL (or the endpoint option)',
  },
  context: (t) => ({ bucket: t.bucket, ...(t.key === undefined ? {} : { key: t.key }) }),
  endpoint: (t) => t.endpoint,
  codes: {
    ...codes(
      'InvalidAccessKeyId SignatureDoesNotMatch ExpiredToken InvalidToken TokenRefreshRequired MissingSecurityHeader RequestTimeTooSkewed InvalidSecurity',
      'unauthenticated',
    ),
    ...codes(
      'SlowDown Throttling ThrottlingException RequestLimitExceeded TooManyRequestsException ServiceUnavailable InternalError XMinioServerNotInitialized ClientDisconnected',
      'unavailable',
    ),
    ...codes(
      'BadDigest InvalidDigest XAmzContentSHA256Mismatch XAmzContentChecksumMismatch InvalidChecksum IncompleteBody InvalidChunkSizeError',
      'integrity',
    ),
    InvalidObjectState: 'failed_precondition',
    RequestTimeout: 'timeout',
    NoSuchBucket: {
      code: 'not_found',
      message: (t, d) => `${t.what}: bucket ${JSON.stringify(t.bucket)} does not exist${also(d)}`,
    },
    NoSuchUpload: {
      code: 'not_found',
      message: (t, d) =>
        `${t.what}: the multipart upload of ${where(t)} does not exist (completed or aborted)${also(d)}`,
    },
  },
  messages: {
    unauthenticated: (t, d) => `${t.what}: the credentials were refused${also(d)}`,
    permission_denied: (t, d) => `permission denied: ${t.what}${also(d)}`,
    not_found: (t, d) => `${where(t)} does not exist${also(d)}`,
  },
  credentials: {
    names: ['CredentialsProviderError'],
    pattern: /could not load credentials/i,
    message: (t) =>
      `${t.what}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in ~/.aws/credentials (AWS_PROFILE), a role, or the anonymous option for a public bucket`,
  },
});

/**
 * Maps an S3 answer's error (core's `StoreHttpError`, requests.ts), a credential chain's or a request
 * that got no answer to an ArtifactsError. Abort and timeout errors are passed through for core.
 */
export function mapS3Error(error: unknown, target: S3Target): unknown {
  return mapError(error, { ...target, what: `${target.action ?? 'S3 request'} ${where(target)}` });
}

/** The S3 error code of an answer (`NoSuchKey`, `InvalidRange`). */
export function s3ErrorCode(error: unknown): string | undefined {
  const code = (error as { serviceCode?: unknown } | null)?.serviceCode;
  return typeof code === 'string' ? code : undefined;
}

/** An answer meaning "no such key": a bodiless 404 (HEAD) or the code of one with a body. */
export function isMissing(error: unknown): boolean {
  return httpStatusOf(error) === 404 || s3ErrorCode(error) === 'NoSuchKey';
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
    serviceCode: first.Code,
    ...(status === undefined ? {} : { status }),
  });
  return mapS3Error(error, {
    ...target,
    ...(first.Key ? { key: first.Key } : {}),
    action: `deleting (${failed.length} of ${count} keys failed)`,
  });
}
