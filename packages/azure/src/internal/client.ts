import { ArtifactsError } from '@artifacts/core';
import {
  BlobServiceClient,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { loadDefaultAzureCredential } from './identity.js';
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

/** Builds the service client for the configured credential, in MLflow's order. */
export async function createServiceClient(
  config: AzureConfig,
): Promise<{ service: BlobServiceClient; secrets: string[] }> {
  const options = pipelineOptions(config);
  const source = config.credential;
  switch (source.kind) {
    case 'connection-string': {
      const secrets = [source.connectionString, ...connectionStringSecrets(source.connectionString)];
      let service: BlobServiceClient;
      try {
        service = BlobServiceClient.fromConnectionString(source.connectionString, options);
      } catch (error) {
        throw ArtifactsError.invalidArgument(
          `the Azure connection string (${source.from === 'option' ? 'option connectionString' : source.from}) is not valid: ${
            error instanceof Error ? error.message.split('\n')[0] : String(error)
          }`.replaceAll(source.connectionString, '***'),
        );
      }
      if (service.accountName && service.accountName !== config.account) {
        throw ArtifactsError.invalidArgument(
          `the Azure connection string is for storage account ${JSON.stringify(service.accountName)}, but the artifact URI names ${JSON.stringify(config.account)}`,
        );
      }
      return { service, secrets };
    }
    case 'account-key': {
      const credential = new StorageSharedKeyCredential(config.account, source.accountKey);
      return {
        service: new BlobServiceClient(config.endpoint, credential, options),
        secrets: [source.accountKey],
      };
    }
    case 'token':
      return { service: new BlobServiceClient(config.endpoint, source.credential, options), secrets: [] };
    case 'default-azure-credential': {
      const credential = await loadDefaultAzureCredential();
      return { service: new BlobServiceClient(config.endpoint, credential, options), secrets: [] };
    }
  }
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
