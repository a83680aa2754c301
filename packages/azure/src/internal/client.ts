import { ArtifactsError, HttpPool } from '@artifacts/core';
import type { BlobServiceClient, StoragePipelineOptions } from '@azure/storage-blob';
import { parseConnectionString } from './connection-string.js';
import { loadDefaultAzureCredential } from './identity.js';
import { type LeanAuth, LeanAzure } from './lean.js';
import type { AzureConfig } from './settings.js';

/** Pipeline options shared by every client this package builds. */
export function pipelineOptions(config: AzureConfig): StoragePipelineOptions {
  return {
    retryOptions: {
      maxTries: config.maxTries,
      ...(config.requestTimeoutMs === undefined ? {} : { tryTimeoutInMs: config.requestTimeoutMs }),
    },
  };
}

/** What the driver talks to the blob service with. */
export interface AzureClients {
  /** Our own requests (reads, writes, stat, listings, deletes). */
  lean: LeanAzure;
  /** The storage account the requests are for. */
  account: string;
  /** What signs a SAS: the account key, or a token credential (user delegation); none with a SAS. */
  signer: { kind: 'shared-key'; key: string } | { kind: 'token' } | undefined;
  /** Scrubbed from every message. */
  secrets: string[];
  /**
   * `@azure/storage-blob`'s service client, for the operations still sent through the SDK (copy,
   * SAS signing): the SDK is loaded by the first call, never by reads, writes, stat or listings.
   */
  service(): Promise<BlobServiceClient>;
  destroy(): void;
}

/** Builds our request path for the configured credential, in MLflow's order; the SDK's client lazily. */
export async function createClients(config: AzureConfig, connections: number): Promise<AzureClients> {
  const source = config.credential;
  let url = config.endpoint;
  let account = config.account;
  let auth: LeanAuth;
  let secrets: string[] = [];
  switch (source.kind) {
    case 'connection-string': {
      secrets = [source.connectionString, ...connectionStringSecrets(source.connectionString)];
      let parsed: ReturnType<typeof parseConnectionString>;
      try {
        parsed = parseConnectionString(source.connectionString);
      } catch (error) {
        throw ArtifactsError.invalidArgument(
          `the Azure connection string (${source.from === 'option' ? 'option connectionString' : source.from}) is not valid: ${
            error instanceof Error ? error.message : String(error)
          }`.replaceAll(source.connectionString, '***'),
        );
      }
      if (parsed.accountName && parsed.accountName !== config.account) {
        throw ArtifactsError.invalidArgument(
          `the Azure connection string is for storage account ${JSON.stringify(parsed.accountName)}, but the artifact URI names ${JSON.stringify(config.account)}`,
        );
      }
      url = parsed.url;
      account = parsed.accountName || config.account;
      auth = parsed.accountKey
        ? { kind: 'shared-key', account, key: parsed.accountKey }
        : { kind: 'sas', sas: parsed.sas ?? '' };
      break;
    }
    case 'account-key':
      secrets = [source.accountKey];
      auth = { kind: 'shared-key', account, key: source.accountKey };
      break;
    case 'token':
      auth = { kind: 'token', credential: source.credential };
      break;
    case 'default-azure-credential':
      auth = { kind: 'token', credential: await loadDefaultAzureCredential() };
      break;
  }
  const pool = new HttpPool({ connections });
  const lean = new LeanAzure(pool, url, auth);
  let service: Promise<BlobServiceClient> | undefined;
  return {
    lean,
    account,
    signer:
      auth.kind === 'shared-key'
        ? { kind: 'shared-key', key: auth.key }
        : auth.kind === 'token'
          ? { kind: 'token' }
          : undefined,
    secrets,
    service() {
      service ??= (async () => {
        const sdk = await import('@azure/storage-blob');
        const options = pipelineOptions(config);
        if (auth.kind === 'shared-key')
          return new sdk.BlobServiceClient(
            lean.url,
            new sdk.StorageSharedKeyCredential(account, auth.key),
            options,
          );
        if (auth.kind === 'sas')
          return new sdk.BlobServiceClient(`${lean.url}?${auth.sas}`, undefined, options);
        return new sdk.BlobServiceClient(lean.url, auth.credential, options);
      })();
      return service;
    },
    destroy: () => pool.destroy(),
  };
}

/** The secret parts of a connection string (AccountKey, SharedAccessSignature). */
export function connectionStringSecrets(connectionString: string): string[] {
  const out: string[] = [];
  for (const part of connectionString.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if ((name === 'accountkey' || name === 'sharedaccesssignature') && value) {
      out.push(value);
      // The SAS's signature alone is the secret part that may show up in a URL.
      const sig = /(?:^|&)sig=([^&]+)/.exec(value);
      if (sig?.[1]) out.push(decodeURIComponent(sig[1]));
    }
  }
  return out;
}
