import { importOptional, lazily } from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';

type IdentityModule = { DefaultAzureCredential: new () => TokenCredential };

/**
 * `new DefaultAzureCredential()` from `@azure/identity`, an optional peer dependency: imported only
 * when neither a connection string nor an account key is configured, so that applications using
 * keys never install it. `importer` exists for the test of the missing-package message.
 */
export async function loadDefaultAzureCredential(
  importer: () => Promise<unknown> = () => import('@azure/identity'),
): Promise<TokenCredential> {
  const mod = (await importOptional(
    importer,
    '@azure/identity',
    'no Azure credentials configured: set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCESS_KEY, or install the optional peer dependency @azure/identity to use DefaultAzureCredential',
    'failed_precondition',
  )) as IdentityModule;
  return new mod.DefaultAzureCredential();
}

/**
 * DefaultAzureCredential, loaded by its first token request rather than at open: `@azure/identity`
 * adds about 29 MiB of RSS, and a repository opened but never used needs none of it. A missing
 * package is then that request's `failed_precondition` error; a failed load is tried again.
 */
export function lazyDefaultAzureCredential(
  importer: () => Promise<unknown> = () => import('@azure/identity'),
): TokenCredential {
  const loaded = lazily(() => loadDefaultAzureCredential(importer));
  return {
    async getToken(scopes, options) {
      return (await loaded()).getToken(scopes, options);
    },
  };
}
