import {
  ArtifactsError,
  type ArtifactsErrorCode,
  codeForHttpStatus,
  isAbortError,
  isConnectionError,
  isTemporaryHttpStatus,
  scrub,
} from '@artifacts/core';

/** What a failed call was about, for the message: never holds a secret. */
export interface Subject {
  what: string;
  bucket: string;
  object?: string;
}

interface GoogleErrorLike {
  message?: string;
  code?: number | string;
  status?: number;
  response?: { status?: number };
}

function statusOf(error: GoogleErrorLike): number | undefined {
  if (typeof error.code === 'number') return error.code;
  if (typeof error.status === 'number') return error.status;
  if (typeof error.response?.status === 'number') return error.response.status;
  return undefined;
}

function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0]!.trim().slice(0, 300);
}

/** Maps an error of @google-cloud/storage (ApiError), gaxios or google-auth-library to an ArtifactsError. */
export function mapGcsError(error: unknown, subject: Subject, secrets: readonly string[]): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  if (typeof error !== 'object' || error === null) return error;
  const e = error as GoogleErrorLike;
  const status = statusOf(e);
  const detail = scrub(firstLine(e.message), secrets);
  const temporary = (status !== undefined && isTemporaryHttpStatus(status)) || isConnectionError(error);
  const make = (code: ArtifactsErrorCode, message: string) =>
    new ArtifactsError(code, scrub(message, secrets), {
      cause: error,
      temporary,
      context: {
        bucket: subject.bucket,
        ...(subject.object === undefined ? {} : { object: subject.object }),
        ...(status === undefined ? {} : { status }),
      },
    });
  const bucket = `bucket ${JSON.stringify(subject.bucket)}`;
  if (/Could not load the default credentials/i.test(e.message ?? '')) {
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
    if (/bucket/i.test(e.message ?? '') && !/object/i.test(e.message ?? '')) {
      return make('not_found', `${subject.what}: ${bucket} does not exist`);
    }
    if (subject.object !== undefined) {
      return make(
        'not_found',
        `${subject.what}: object ${JSON.stringify(subject.object)} does not exist in ${bucket}`,
      );
    }
    return make('not_found', `${subject.what}: ${bucket} does not exist`);
  }
  if (status === 416)
    return make('invalid_argument', `${subject.what}: the requested range is not satisfiable`);
  const byStatus = status === undefined ? undefined : codeForHttpStatus(status);
  if (byStatus !== undefined)
    return make(byStatus, `${subject.what}: Google Cloud Storage answered ${status}: ${detail}`);
  if (isConnectionError(error))
    return make('unavailable', `${subject.what}: cannot reach Google Cloud Storage: ${detail}`);
  return error;
}
