import { ArtifactsError, httpStatusOf, isAbortError, requestFailure, storeErrors } from '@artifacts/core';

/** What only Azure can say about a connect that reached no server. */
const HINTS = {
  caHint: 'give its CA with the caFile option or ARTIFACTS_AZURE_CA_FILE',
  addressHint: 'check the account URL (AZURE_STORAGE_CONNECTION_STRING or the artifact URI)',
};

const UNAUTHENTICATED = new Set([
  'AuthenticationFailed',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
]);
/** `@azure/identity`'s errors. */
const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AuthenticationRequiredError',
  'AggregateAuthenticationError',
  'AuthenticationError',
]);

/** What a failed call was about, for the message: never holds a secret. */
export interface Subject {
  what: string;
  container: string;
  account: string;
  blob?: string;
  /** The service answered this client before: a refused connection is then a restart. */
  reached?: boolean;
}

/** The service's error code: ours (core's `StoreHttpError`), or the SDK's RestError's. */
function serviceCode(error: object): string | undefined {
  const e = error as { serviceCode?: string; code?: unknown; details?: { errorCode?: string } };
  return e.serviceCode ?? e.details?.errorCode ?? (typeof e.code === 'string' ? e.code : undefined);
}

/**
 * Maps an error of the blob service (our requests' `StoreHttpError`, a body cut under a read, the
 * SDK's RestError, @azure/identity errors) to an ArtifactsError. A broken connection is
 * `unavailable` and temporary (core's `storeErrors`), so core's ranged reads resume it.
 */
export function mapAzureError(error: unknown, subject: Subject, secrets: readonly string[]): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  if (typeof error !== 'object' || error === null) return error;
  const code = serviceCode(error);
  const status = httpStatusOf(error);
  const context = { container: subject.container, account: subject.account };
  const { retryAfterMs } = error as { retryAfterMs?: number };
  const { make, detail, fallback } = storeErrors(error, {
    what: subject.what,
    store: code === undefined ? 'the blob service' : `the blob service (${code})`,
    status,
    message: (error as { message?: string }).message,
    secrets,
    context: {
      ...context,
      ...(subject.blob === undefined ? {} : { blob: subject.blob }),
      ...(code === undefined ? {} : { serviceCode: code }),
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    },
  });
  // Node's error for an answer whose connection closed before its body ended.
  if ((error as { code?: unknown }).code === 'ECONNRESET' && (error as Error).message === 'aborted') {
    return make(
      'unavailable',
      `${subject.what}: the connection to the blob service broke mid-transfer (${detail})`,
    );
  }
  if (status === undefined) {
    const unreached = requestFailure(error, HINTS, { what: subject.what, context, reached: subject.reached });
    if (unreached) return unreached;
  }
  const where = `container ${JSON.stringify(subject.container)} of storage account ${JSON.stringify(subject.account)}`;
  const name = (error as { name?: string }).name;
  if (name && CREDENTIAL_ERRORS.has(name)) {
    return make('unauthenticated', `${subject.what}: no usable Microsoft Entra ID credential (${detail})`);
  }
  if (code === 'ContainerNotFound') return make('not_found', `${subject.what}: ${where} does not exist`);
  if (code === 'BlobNotFound' || (status === 404 && subject.blob !== undefined)) {
    return make(
      'not_found',
      `${subject.what}: blob ${JSON.stringify(subject.blob ?? '')} does not exist in ${where}`,
    );
  }
  // Azurite answers a bad signature with AuthorizationFailure and the service's authentication text.
  const authText = /failed to authenticate the request/i.test(detail);
  if (status === 401 || (code !== undefined && UNAUTHENTICATED.has(code)) || (status === 403 && authText)) {
    return make(
      'unauthenticated',
      `${subject.what}: storage account ${JSON.stringify(subject.account)} refused the credentials (${code ?? status}): check the account key, connection string or SAS`,
    );
  }
  if (status === 403) {
    return make(
      'permission_denied',
      `${subject.what}: permission denied on ${where} (${code ?? status}): ${detail}`,
    );
  }
  if (status === 404) return make('not_found', `${subject.what}: ${where} was not found (${code ?? status})`);
  return fallback() ?? error;
}
