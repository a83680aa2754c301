import {
  ArtifactsError,
  isAbortError,
  isConnectionError,
  requestFailure,
  storeErrors,
} from '@artifacts/core';

interface RestErrorLike {
  name?: string;
  message?: string;
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string };
}

/** What only Azure can say about a connect that reached no server. */
const HINTS = {
  caHint: 'give its CA to Node with NODE_EXTRA_CA_CERTS',
  addressHint: 'check the account URL (AZURE_STORAGE_CONNECTION_STRING or the artifact URI)',
};

const UNAUTHENTICATED = new Set([
  'AuthenticationFailed',
  'InvalidAuthenticationInfo',
  'NoAuthenticationInformation',
]);
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

function serviceCode(error: RestErrorLike): string | undefined {
  return error.details?.errorCode ?? (typeof error.code === 'string' ? error.code : undefined);
}

/**
 * The SDK's error for an answer whose body broke while it read it as text (a listing page cut by a
 * reset): the original socket error is gone, only its message is kept.
 */
function isCutAnswer(error: RestErrorLike): boolean {
  return (
    error.statusCode === undefined &&
    error.code === 'PARSE_ERROR' &&
    /^Error reading response as text:/.test(error.message ?? '')
  );
}

/** Node's error for an answer whose connection closed before its body ended. */
function isCutBody(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ECONNRESET' && e.message === 'aborted';
}

/**
 * Maps an error of the blob service (our requests' and the SDK's RestError, @azure/identity errors)
 * to an ArtifactsError. A body whose connection closed under it is `unavailable` and temporary, so
 * core's ranged reads resume it.
 */
export function mapAzureError(error: unknown, subject: Subject, secrets: readonly string[]): unknown {
  const cutBody = isCutBody(error);
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  if (typeof error !== 'object' || error === null) return error;
  const e = error as RestErrorLike;
  const code = serviceCode(e);
  const status = e.statusCode;
  const { make, detail, fallback } = storeErrors(error, {
    what: subject.what,
    store: code === undefined ? 'the blob service' : `the blob service (${code})`,
    status,
    message: e.message,
    secrets,
    context: {
      container: subject.container,
      account: subject.account,
      ...(subject.blob === undefined ? {} : { blob: subject.blob }),
      ...(code === undefined ? {} : { serviceCode: code }),
    },
    temporary: isCutAnswer(e) || cutBody,
  });
  if (cutBody) {
    return make(
      'unavailable',
      `${subject.what}: the connection to the blob service broke mid-transfer (${detail})`,
    );
  }
  const context = { container: subject.container, account: subject.account };
  const unreached =
    status === undefined
      ? requestFailure(error, HINTS, { what: subject.what, context, reached: subject.reached })
      : undefined;
  if (unreached) return unreached;
  const where = `container ${JSON.stringify(subject.container)} of storage account ${JSON.stringify(subject.account)}`;
  if (e.name && CREDENTIAL_ERRORS.has(e.name)) {
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
  if (status !== undefined) return fallback() ?? error;
  // REQUEST_SEND_ERROR is the SDK's wrapper around a socket failure.
  if (isCutAnswer(e)) {
    return make(
      'unavailable',
      `${subject.what}: the connection broke under the blob service's answer: ${detail}`,
    );
  }
  if (code === 'REQUEST_SEND_ERROR' || isConnectionError(error)) {
    return make('unavailable', `${subject.what}: cannot reach the blob service: ${detail}`);
  }
  return error;
}
