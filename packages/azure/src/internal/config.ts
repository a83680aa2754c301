import { ArtifactsError, type ArtifactUri, envString } from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';

/** Options of the Azure Blob backend (passed to `openRepository` beside core's options). */
export interface AzureOptions {
  /**
   * A storage connection string. Wins over every other credential. Default:
   * `AZURE_STORAGE_CONNECTION_STRING`. Its own endpoint (BlobEndpoint, or AccountName + EndpointSuffix)
   * is used; its account must be the URI's.
   */
  connectionString?: string;
  /**
   * The storage account key (a service SAS is signed with it). Default: `AZURE_STORAGE_ACCESS_KEY`
   * (used only when no connection string is set).
   */
  accountKey?: string;
  /**
   * A Microsoft Entra ID token credential (from `@azure/identity`, or your own). Default, when neither a
   * connection string nor an account key is configured: `new DefaultAzureCredential()` from the
   * optional peer dependency `@azure/identity`. Presigned URLs are then user-delegation SAS.
   */
  credential?: TokenCredential;
  /**
   * The blob service endpoint, for emulators and private endpoints
   * (`http://127.0.0.1:10000/devstoreaccount1`, `https://myacct.privatelink.blob.core.windows.net`).
   * Default: `ARTIFACTS_AZURE_BLOB_ENDPOINT`, else `https://<account>.blob.<suffix>` from the URI.
   * Not used with a connection string, which carries its own endpoint.
   */
  endpoint?: string;
  /**
   * Bytes per staged block (and the largest upload sent as one Put Blob). Default 4 MiB (the Azure
   * SDKs' own default), raised for a body of known size that would need more than Azure's 50,000
   * blocks. A body of unknown size can then be at most 50,000 × blockSize (195 GiB by default).
   */
  blockSize?: number;
  /** Blocks of one upload in flight at once. Default 4. */
  uploadConcurrency?: number;
  /**
   * Send each block's MD5 (`Content-MD5`) so the service rejects a corrupted block, and record the
   * whole blob's MD5 so later downloads are verified. Default true.
   */
  transactionalMd5?: boolean;
  /** Bytes per ranged GET of a parallel download (`downloadConcurrency` > 1). Default 8 MiB. */
  downloadPartSize?: number;
  /**
   * Ranged GETs of one download in flight at once. Default 1: one GET per download, which the SDK
   * resumes where it stopped if the connection drops. Against Azurite every ranged GET is costly (a
   * 256 MiB blob read in 8 MiB parts took 19 s, as one GET 5.4 s); on Azure, 4–8 parallel parts
   * raise the throughput of large blobs.
   */
  downloadConcurrency?: number;
  /** Blobs per listing page (1–5000). Default 5000. */
  listPageSize?: number;
  /** Blob deletions in flight at once when deleting a directory. Default 16. */
  deleteConcurrency?: number;
  /** Attempts per HTTP request (the SDK's retry policy). Default 4. */
  maxTries?: number;
  /**
   * Server-side and client timeout of each HTTP request, in ms. Default: the repository's `timeoutMs`
   * or `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`, else 600 s (MLflow's Azure default); `-1` in the
   * variable means none.
   */
  requestTimeoutMs?: number;
}

export type CredentialSource =
  | {
      kind: 'connection-string';
      connectionString: string;
      from: 'option' | 'AZURE_STORAGE_CONNECTION_STRING';
    }
  | { kind: 'account-key'; accountKey: string; from: 'option' | 'AZURE_STORAGE_ACCESS_KEY' }
  | { kind: 'token'; credential: TokenCredential; from: 'option' }
  | { kind: 'default-azure-credential' };

export interface AzureConfig {
  container: string;
  account: string;
  /** Key prefix of the repository root inside the container ('' = the container's root). */
  root: string;
  credential: CredentialSource;
  endpoint: string;
  blockSize: number;
  uploadConcurrency: number;
  transactionalMd5: boolean;
  downloadPartSize: number;
  downloadConcurrency: number;
  listPageSize: number;
  deleteConcurrency: number;
  maxTries: number;
  requestTimeoutMs: number | undefined;
}

/** MLflow's default for Azure: 600 s. */
export const DEFAULT_AZURE_TIMEOUT_MS = 600_000;
const MiB = 1024 * 1024;

function positiveInt(name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw ArtifactsError.invalidArgument(
      `option ${name} must be an integer between 1 and ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** Credentials in MLflow's order, options in code first: connection string, account key, Entra ID. */
export function resolveCredential(options: AzureOptions): CredentialSource {
  if (options.connectionString)
    return { kind: 'connection-string', connectionString: options.connectionString, from: 'option' };
  if (options.accountKey) return { kind: 'account-key', accountKey: options.accountKey, from: 'option' };
  if (options.credential) return { kind: 'token', credential: options.credential, from: 'option' };
  const connectionString = envString('AZURE_STORAGE_CONNECTION_STRING');
  if (connectionString)
    return { kind: 'connection-string', connectionString, from: 'AZURE_STORAGE_CONNECTION_STRING' };
  const accountKey = envString('AZURE_STORAGE_ACCESS_KEY');
  if (accountKey) return { kind: 'account-key', accountKey, from: 'AZURE_STORAGE_ACCESS_KEY' };
  return { kind: 'default-azure-credential' };
}

/**
 * The SDK's per-try timeout: the option (`-1` = none), else the repository's timeout that core
 * resolved once (option `timeoutMs`, `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`, else the plugin's
 * default of 600 s).
 */
export function resolveRequestTimeout(
  options: AzureOptions,
  repositoryTimeoutMs: number | undefined,
): number | undefined {
  if (options.requestTimeoutMs !== undefined) {
    if (options.requestTimeoutMs === -1) return undefined;
    return positiveInt('requestTimeoutMs', options.requestTimeoutMs, DEFAULT_AZURE_TIMEOUT_MS);
  }
  return repositoryTimeoutMs;
}

function checkEndpoint(endpoint: string, from: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw ArtifactsError.invalidArgument(`${from} ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw ArtifactsError.invalidArgument(
      `${from} must be an http(s) URL, got ${JSON.stringify(url.protocol)}`,
    );
  if (url.search || url.username || url.password) {
    // A SAS or credentials in the endpoint would end up in every error message and log line.
    throw ArtifactsError.invalidArgument(
      `${from} must not carry a query string or credentials; pass credentials with connectionString, accountKey or credential`,
    );
  }
  return endpoint.replace(/\/+$/, '');
}

export function resolveAzureConfig(
  location: ArtifactUri,
  options: AzureOptions,
  repositoryTimeoutMs?: number,
): AzureConfig {
  if (!location.bucket || !location.account) {
    throw ArtifactsError.invalidArgument(
      `an Azure URI needs a container and an account: wasbs://<container>@<account>.blob.core.windows.net/<path>`,
    );
  }
  const endpointOption = options.endpoint ?? envString('ARTIFACTS_AZURE_BLOB_ENDPOINT');
  const endpoint = endpointOption
    ? checkEndpoint(endpointOption, options.endpoint ? 'option endpoint' : 'ARTIFACTS_AZURE_BLOB_ENDPOINT')
    : `https://${location.account}.blob.${location.endpointSuffix ?? 'core.windows.net'}`;
  // Azure allows at most 50,000 blocks of up to 4000 MiB.
  const blockSize = positiveInt('blockSize', options.blockSize, 4 * MiB, 4000 * MiB);
  return {
    container: location.bucket,
    account: location.account,
    root: location.path,
    credential: resolveCredential(options),
    endpoint,
    blockSize,
    uploadConcurrency: positiveInt('uploadConcurrency', options.uploadConcurrency, 4, 64),
    transactionalMd5: options.transactionalMd5 ?? true,
    downloadPartSize: positiveInt('downloadPartSize', options.downloadPartSize, 8 * MiB),
    downloadConcurrency: positiveInt('downloadConcurrency', options.downloadConcurrency, 1, 64),
    listPageSize: positiveInt('listPageSize', options.listPageSize, 5000, 5000),
    deleteConcurrency: positiveInt('deleteConcurrency', options.deleteConcurrency, 16, 256),
    maxTries: positiveInt('maxTries', options.maxTries, 4, 20),
    requestTimeoutMs: resolveRequestTimeout(options, repositoryTimeoutMs),
  };
}
