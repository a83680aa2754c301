import { MAX_PRESIGN_SECONDS, presignSeconds } from '@artifacts/core';
import type { BlobServiceClient, UserDelegationKey } from '@azure/storage-blob';
import type { AzureClients, BlobAddress } from './lean.js';

/** Clock skew allowance: a SAS starts a little in the past. */
const SKEW_MS = 5 * 60 * 1000;

/**
 * The block id of part `n` of a proxied multipart upload. Azure wants every block id of a blob to be
 * base64 of the same length, so the number is zero-padded.
 */
export function partBlockId(partNumber: number): string {
  return Buffer.from(`artifacts-part-${String(partNumber).padStart(5, '0')}`).toString('base64');
}

/**
 * Shared Access Signatures, made by `@azure/storage-blob` (loaded on first use; signing is never on
 * the transfer path): a service SAS signed with the account key, or a user-delegation SAS with an
 * Entra ID token (its key fetched once and reused while valid). They serve presigned URLs, proxied
 * multipart uploads (Put Block URLs) and Copy Blob From URL's source.
 */
export class AzureSas {
  readonly #clients: Pick<AzureClients, 'service' | 'auth' | 'account'>;
  /** Plain HTTP only for emulators and private endpoints configured as http://. */
  readonly #https: boolean;
  /** True when a SAS can be made: an account key, or a token credential. */
  readonly canSign: boolean;
  #delegationKey: { key: UserDelegationKey; expiresOn: number } | undefined;

  constructor(clients: Pick<AzureClients, 'service' | 'auth' | 'account'>, endpoint: string) {
    this.#clients = clients;
    this.#https = !endpoint.startsWith('http:');
    this.canSign = clients.auth.kind !== 'sas';
  }

  /** A SAS query string (without `?`) for the blob `at`, lasting `seconds` (default one hour). */
  async sas(at: BlobAddress, permissions: string, seconds?: number): Promise<string> {
    const { auth, account } = this.#clients;
    // A service SAS may last any time; Azure refuses a user-delegation SAS of more than 7 days.
    const shared = auth.kind === 'shared-key';
    const expiresInSeconds = presignSeconds(seconds, shared ? Number.POSITIVE_INFINITY : undefined);
    const sdk = await import('@azure/storage-blob');
    const now = Date.now();
    const expiresOn = new Date(now + expiresInSeconds * 1000);
    const values = {
      containerName: at.container,
      blobName: at.blob,
      permissions: sdk.BlobSASPermissions.parse(permissions),
      startsOn: new Date(now - SKEW_MS),
      expiresOn,
      protocol: this.#https ? sdk.SASProtocol.Https : sdk.SASProtocol.HttpsAndHttp,
    };
    if (auth.kind === 'shared-key') {
      const key = new sdk.StorageSharedKeyCredential(account, auth.key);
      return sdk.generateBlobSASQueryParameters(values, key).toString();
    }
    const delegation = await this.#userDelegationKey(await this.#clients.service(), expiresOn.getTime());
    return sdk.generateBlobSASQueryParameters(values, delegation, account).toString();
  }

  /** A user-delegation key valid at least until `until`, reused while it is. */
  async #userDelegationKey(service: BlobServiceClient, until: number): Promise<UserDelegationKey> {
    const cached = this.#delegationKey;
    if (cached && cached.expiresOn >= until) return cached.key;
    const now = Date.now();
    const expiresOn = new Date(now + MAX_PRESIGN_SECONDS * 1000 - SKEW_MS);
    const response = await service.getUserDelegationKey(new Date(now - SKEW_MS), expiresOn);
    this.#delegationKey = { key: response, expiresOn: expiresOn.getTime() };
    return response;
  }
}
