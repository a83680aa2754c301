import { describeStoreErrors } from '@artifacts/core';

/** What a failed call was about, for the message: never holds a secret. */
export interface Subject {
  what: string;
  bucket: string;
  object?: string;
}

/** google-auth-library's "Application Default Credentials found none". */
export const NO_DEFAULT_CREDENTIALS = /Could not load the default credentials/i;

const bucket = (s: Subject) => `bucket ${JSON.stringify(s.bucket)}`;

/**
 * Maps an error of our own requests (core's `StoreHttp`), @google-cloud/storage (ApiError), gaxios
 * or google-auth-library to an ArtifactsError, declared for core's `describeStoreErrors`.
 */
export const mapGcsError: (error: unknown, subject: Subject, secrets: readonly string[]) => unknown =
  describeStoreErrors<Subject>({
    store: 'Google Cloud Storage',
    hints: {
      caHint: 'give its CA with the caFile option or ARTIFACTS_GCS_CA_FILE',
      addressHint: 'check STORAGE_EMULATOR_HOST or the endpoint option',
    },
    context: (s) => ({ bucket: s.bucket, ...(s.object === undefined ? {} : { object: s.object }) }),
    messages: {
      unauthenticated: (s, detail) =>
        `${s.what}: Google Cloud Storage refused the credentials (401): ${detail}`,
      permission_denied: (s, detail) => `${s.what}: permission denied on ${bucket(s)} (403): ${detail}`,
      // The driver drops the object from the subject when the bucket itself is missing.
      not_found: (s, detail) =>
        s.object !== undefined && !(/bucket/i.test(detail) && !/object/i.test(detail))
          ? `${s.what}: object ${JSON.stringify(s.object)} does not exist in ${bucket(s)}`
          : `${s.what}: ${bucket(s)} does not exist`,
    },
    credentials: {
      pattern: NO_DEFAULT_CREDENTIALS,
      message: (s) =>
        `${s.what}: no Google credentials found (Application Default Credentials); set GOOGLE_APPLICATION_CREDENTIALS, pass keyFilename or credentials, or anonymous: true for a public bucket`,
    },
  });
