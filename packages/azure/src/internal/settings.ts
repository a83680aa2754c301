import {
  type ArtifactUri,
  credentialsObjectSetting,
  defineSettings,
  MiB,
  objectStoreSettings,
  type SettingsValues,
} from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';
import type { AzureOptions } from '../options.js';
import { connectionStringSecrets } from './connection-string.js';

/**
 * The resolved settings, and what the URI says. Of `connectionString`, `accountKey` and `credential`
 * only the one that applies is set (the declaration's alternatives picked it, in MLflow's order);
 * none: `DefaultAzureCredential`.
 */
export type AzureConfig = Omit<
  SettingsValues<typeof azureSettings.specs>,
  'endpoint' | 'requestTimeoutMs'
> & {
  container: string;
  account: string;
  /** Key prefix of the repository root inside the container ('' = the container's root). */
  root: string;
  /** The URI's scheme and host, with which messages name blobs as users write them. */
  scheme: string;
  host: string;
  endpoint: string;
  /** The SDK's per-try timeout, for the user-delegation key request (the option only; core bounds the others). */
  requestTimeoutMs: number | undefined;
  /** Where each setting came from (`option`, a variable's name), for messages. */
  sources: ReturnType<typeof azureSettings.resolve>['sources'];
  /** Credentials to scrub from every message: the keys, the connection strings and their key or SAS. */
  secrets: string[];
};

/** MLflow's default for Azure: 600 s. */
export const DEFAULT_AZURE_TIMEOUT_MS = 600_000;

/** Every option of the Azure backend, declared once: README table, env vars, secrets, validation. */
export const azureSettings = defineSettings(
  '@artifacts/azure',
  {
    connectionString: {
      type: 'string',
      env: 'AZURE_STORAGE_CONNECTION_STRING',
      secret: true,
      secretsOf: connectionStringSecrets,
      help: "storage connection string; wins over every other credential; its own endpoint is used and its account must be the URI's",
    },
    accountKey: {
      type: 'string',
      env: 'AZURE_STORAGE_ACCESS_KEY',
      secret: true,
      help: "account key for the URI's account (service SAS are signed with it); used only when no connection string is set",
    },
    credential: {
      ...credentialsObjectSetting<TokenCredential>({
        backend: '@artifacts/azure',
        required: [],
        secret: [],
        methods: ['getToken'],
        shape: 'a `TokenCredential`: an object with a getToken() method',
      }),
      defaultText: '`DefaultAzureCredential`',
      help: 'a `TokenCredential` (from `@azure/identity`, or your own); presigned URLs are then user-delegation SAS',
    },
    endpoint: {
      type: 'url',
      env: 'ARTIFACTS_AZURE_BLOB_ENDPOINT',
      credentialsHint: 'pass credentials with connectionString, accountKey or credential',
      defaultText: '`https://<account>.blob.<suffix>`',
      help: 'blob service endpoint for emulators and private endpoints, e.g. `http://127.0.0.1:10000/devstoreaccount1`; must carry no query string or credentials; ignored with a connection string',
    },
    caFile: objectStoreSettings.caFile('ARTIFACTS_AZURE_CA_FILE'),
    blockSize: {
      type: 'integer',
      default: 4 * MiB,
      defaultText: '4 MiB',
      min: 1,
      max: 4000 * MiB,
      help: 'bytes per staged block, and the largest body sent as one Put Blob; raised automatically for a known size needing more than 50,000 blocks',
    },
    uploadConcurrency: {
      type: 'integer',
      default: 4,
      min: 1,
      max: 64,
      help: 'blocks of one upload in flight',
    },
    transactionalMd5: {
      type: 'boolean',
      default: true,
      help: "per-block `Content-MD5` and the blob's MD5 recorded at commit (later downloads are verified); `false` declares no checksum",
    },
    downloadPartSize: {
      type: 'integer',
      env: 'ARTIFACTS_AZURE_DOWNLOAD_PART_SIZE',
      default: 32 * MiB,
      defaultText: '32 MiB',
      min: 1,
      help: 'bytes per ranged GET of a parallel download (`downloadConcurrency` > 1)',
    },
    downloadConcurrency: {
      type: 'integer',
      env: 'ARTIFACTS_AZURE_DOWNLOAD_CONCURRENCY',
      // Measured on Azurite, 256 MiB (docs/benchmarks/azure.md, 2026-12-02): 4 × 32 MiB ranges
      // 1.3–1.5× the rate of one GET at the same CPU; 4 × 8 MiB 1.2×.
      default: 4,
      min: 1,
      max: 64,
      help: 'ranged GETs of one download in flight; 1 = one GET per download',
    },
    listPageSize: { type: 'integer', default: 5000, min: 1, max: 5000, help: 'blobs per listing page' },
    deleteConcurrency: objectStoreSettings.deleteConcurrency,
    maxTries: {
      type: 'integer',
      default: 1,
      min: 1,
      max: 20,
      help: "attempts per HTTP request in the SDK's own retry policy, for the one request still sent through the SDK (a user-delegation key, with a token credential), on top of core's retries (`maxRetries`); 1 = core alone retries",
    },
    requestTimeoutMs: {
      type: 'integer',
      min: -1,
      defaultText: 'none',
      help: "the SDK's deadline on each whole HTTP request in ms, for the one request still sent through the SDK (a user-delegation key; core bounds the others' stalls); `-1` = none",
    },
  },
  {
    // MLflow's order, options in code before any variable: connection string, account key, Entra ID.
    alternatives: [{ names: ['connectionString', 'accountKey', 'credential'], sameLevel: 'first' }],
  },
);

/** `location` as `parseAzureUri` gave it: a container (`bucket`) and an account, always. */
export function resolveAzureConfig(location: ArtifactUri, options: AzureOptions): AzureConfig {
  const { values, sources, secrets } = azureSettings.resolve(options);
  const suffix = location.endpointSuffix ?? 'core.windows.net';
  const { requestTimeoutMs, ...rest } = values;
  return {
    ...rest,
    container: location.bucket!,
    account: location.account!,
    root: location.path,
    scheme: location.scheme,
    host: location.host ?? `${location.account}.blob.${suffix}`,
    endpoint: values.endpoint ?? `https://${location.account}.blob.${suffix}`,
    // The SDK's per-try timeout is a deadline on a whole request: only when asked (`-1` = none).
    requestTimeoutMs: requestTimeoutMs !== undefined && requestTimeoutMs > 0 ? requestTimeoutMs : undefined,
    sources,
    secrets,
  };
}
