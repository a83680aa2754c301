import { ArtifactsError, httpStatusOf, isAbortError, requestFailure, storeErrors } from '@artifacts/core';

/** What a failed call was about, for the message: never holds a secret. */
export interface Subject {
  what: string;
  bucket: string;
  object?: string;
}

/** What only GCS can say about a connect that reached no server. */
const HINTS = {
  caHint: 'give its CA with the caFile option or ARTIFACTS_GCS_CA_FILE',
  addressHint: 'check STORAGE_EMULATOR_HOST or the endpoint option',
};

/**
 * Maps an error of our own requests (core's `StoreHttp`), @google-cloud/storage (ApiError), gaxios
 * or google-auth-library to an ArtifactsError.
 */
export function mapGcsError(error: unknown, subject: Subject, secrets: readonly string[]): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  if (typeof error !== 'object' || error === null) return error;
  const message = (error as { message?: string }).message ?? '';
  const status = httpStatusOf(error);
  const { retryAfterMs, reached } = error as { retryAfterMs?: number; reached?: boolean };
  const context = {
    bucket: subject.bucket,
    ...(subject.object === undefined ? {} : { object: subject.object }),
  };
  const { make, detail, fallback } = storeErrors(error, {
    what: subject.what,
    store: 'Google Cloud Storage',
    status,
    message,
    secrets,
    context: { ...context, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  });
  // Our requests say whether the endpoint answered before (a refusal then is a restart).
  const unreached =
    status === undefined
      ? requestFailure(error, HINTS, { what: subject.what, context, reached: reached === true })
      : undefined;
  if (unreached) return unreached;
  const bucket = `bucket ${JSON.stringify(subject.bucket)}`;
  if (/Could not load the default credentials/i.test(message)) {
    return make(
      'unauthenticated',
      `${subject.what}: no Google credentials found (Application Default Credentials); set GOOGLE_APPLICATION_CREDENTIALS, pass keyFilename or credentials, or anonymous: true for a public bucket`,
    );
  }
  if (status === 401) {
    return make(
      'unauthenticated',
      `${subject.what}: Google Cloud Storage refused the credentials (401): ${detail}`,
    );
  }
  if (status === 403)
    return make('permission_denied', `${subject.what}: permission denied on ${bucket} (403): ${detail}`);
  if (status === 404) {
    if (subject.object !== undefined && !(/bucket/i.test(message) && !/object/i.test(message))) {
      return make(
        'not_found',
        `${subject.what}: object ${JSON.stringify(subject.object)} does not exist in ${bucket}`,
      );
    }
    return make('not_found', `${subject.what}: ${bucket} does not exist`);
  }
  return fallback() ?? error;
}
