import { describeStoreErrors, type StoreSubject, xmlErrorDetailOr } from '@artifacts/core';

/** What a failed call was about, for the message: never holds a secret. */
export interface Subject extends StoreSubject {
  container: string;
  account: string;
  blob?: string;
  /** The blob's URI as users write it (`wasbs://<container>@<account>.blob.…/<blob>`), with `blob`. */
  uri?: string;
}

const where = (s: Subject) =>
  `container ${JSON.stringify(s.container)} of storage account ${JSON.stringify(s.account)}`;

/** An error answer's code, message and request id; a HEAD's answer has only its `x-ms-*` headers. */
export const azureErrorDetail = xmlErrorDetailOr({ code: 'x-ms-error-code', requestId: 'x-ms-request-id' });

/**
 * Maps an error of the blob service (our requests' `StoreHttpError`, a body cut under a read, the
 * SDK's RestError, @azure/identity errors) to an ArtifactsError, declared for core's
 * `describeStoreErrors`. A broken connection is `unavailable` and temporary, so core's ranged reads
 * resume it.
 */
export const mapAzureError: (error: unknown, subject: Subject, secrets: readonly string[]) => unknown =
  describeStoreErrors<Subject>({
    store: 'the blob service',
    hints: {
      caHint: 'give its CA with the caFile option or ARTIFACTS_AZURE_CA_FILE',
      addressHint: 'check the account URL (AZURE_STORAGE_CONNECTION_STRING or the artifact URI)',
    },
    context: (s) => ({
      container: s.container,
      account: s.account,
      ...(s.blob === undefined ? {} : { blob: s.blob }),
    }),
    codes: {
      ContainerNotFound: { code: 'not_found', message: (s) => `${s.what}: ${where(s)} does not exist` },
      BlobNotFound: 'not_found',
      AuthenticationFailed: 'unauthenticated',
      InvalidAuthenticationInfo: 'unauthenticated',
      NoAuthenticationInformation: 'unauthenticated',
    },
    // Azurite answers a bad signature with AuthorizationFailure and the service's authentication text.
    classify: ({ status, detail }) =>
      status === 403 && /failed to authenticate the request/i.test(detail) ? 'unauthenticated' : undefined,
    messages: {
      not_found: (s, detail) =>
        s.blob === undefined
          ? `${s.what}: ${where(s)} was not found (${detail})`
          : `${s.what}: ${s.uri ?? `blob ${JSON.stringify(s.blob)} of ${where(s)}`} does not exist`,
      unauthenticated: (s, detail) =>
        `${s.what}: storage account ${JSON.stringify(s.account)} refused the credentials (${detail}): check the account key, connection string or SAS`,
      permission_denied: (s, detail) => `${s.what}: permission denied on ${s.uri ?? where(s)}: ${detail}`,
    },
    // `@azure/identity`'s errors.
    credentials: {
      names: [
        'CredentialUnavailableError',
        'AuthenticationRequiredError',
        'AggregateAuthenticationError',
        'AuthenticationError',
      ],
      message: (s, detail) => `${s.what}: no usable Microsoft Entra ID credential (${detail})`,
    },
  });
