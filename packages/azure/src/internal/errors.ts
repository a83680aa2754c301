import {
  answerHeader,
  describeStoreErrors,
  type FailedAnswer,
  type StoreErrorDetail,
  type StoreSubject,
  xmlErrorDetail,
} from '@artifacts/core';

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

/**
 * What an error answer of the blob service says (core's `StoreHttp` reads it): its code
 * (`x-ms-error-code`, the only one a HEAD's answer has, else the body's `<Code>`), `<Message>` and
 * request id (`x-ms-request-id`, else the body's `<RequestId>`).
 */
export async function azureErrorDetail(text: string, answer: FailedAnswer): Promise<StoreErrorDetail> {
  const detail = await xmlErrorDetail(text);
  return {
    code: answerHeader(answer, 'x-ms-error-code') ?? detail.code,
    message: detail.message,
    requestId: answerHeader(answer, 'x-ms-request-id') ?? detail.requestId,
  };
}

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
