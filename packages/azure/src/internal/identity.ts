import { ArtifactsError, isModuleNotFound } from '@artifacts/core';
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
  let mod: IdentityModule;
  try {
    mod = (await importer()) as IdentityModule;
  } catch (error) {
    if (isModuleNotFound(error, '@azure/identity')) {
      throw new ArtifactsError(
        'failed_precondition',
        'no Azure credentials configured: set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCESS_KEY, or install the optional peer dependency @azure/identity (npm install @azure/identity) to use DefaultAzureCredential',
        { cause: error },
      );
    }
    throw error;
  }
  return new mod.DefaultAzureCredential();
}
