import {
  type CompletedPart,
  guessContentType,
  MAX_PRESIGN_SECONDS,
  type MultipartCapability,
  type OperationOptions,
  type PresignCapability,
  partCredentials,
  presignSeconds,
  sortedParts,
} from '@artifacts/core';
import type { BlobServiceClient, UserDelegationKey } from '@azure/storage-blob';
import type { AzureClients } from './lean.js';

/** Clock skew allowance: a SAS starts a little in the past. */
const SKEW_MS = 5 * 60 * 1000;

/**
 * The block id of part `n` of a proxied multipart upload. Azure wants every block id of a blob to be
 * base64 of the same length, so the number is zero-padded.
 */
export function partBlockId(partNumber: number): string {
  return Buffer.from(`artifacts-part-${String(partNumber).padStart(5, '0')}`).toString('base64');
}

/** What signing needs of the driver. */
export interface SasTarget {
  clients: Pick<AzureClients, 'service' | 'signer' | 'account'>;
  container: string;
  /** The service URL (plain http only for emulators and private endpoints). */
  endpoint: string;
  name(key: string): string;
  /** The blob's URL, without a SAS. */
  url(key: string): string;
  /** Commits a proxied multipart upload's blocks (Put Block List). */
  commit(
    key: string,
    blockIds: string[],
    contentType: string,
    signal: AbortSignal | undefined,
  ): Promise<void>;
  /** Runs one call of `key`, its errors mapped. */
  run<T>(what: string, key: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * Shared Access Signatures: a service SAS signed with the account key, or a user-delegation SAS
 * with an Entra ID token (its key fetched once and reused while valid). They serve presigned URLs,
 * proxied multipart uploads (Put Block URLs) and Copy Blob From URL's source.
 */
export class AzureSas {
  readonly #target: SasTarget;
  readonly #sharedKey: boolean;
  /** True when a SAS can be made: an account key, or a token credential. */
  readonly canSign: boolean;
  #delegationKey: { key: UserDelegationKey; expiresOn: number } | undefined;

  constructor(target: SasTarget) {
    this.#target = target;
    this.#sharedKey = target.clients.signer?.kind === 'shared-key';
    this.canSign = target.clients.signer !== undefined;
  }

  /** A SAS query string for `key` (or another container's blob, `target`). */
  async sas(
    key: string,
    permissions: string,
    seconds?: number,
    target?: { container: string; blob: string },
  ): Promise<string> {
    // A service SAS may last any time; Azure refuses a user-delegation SAS of more than 7 days.
    const expiresInSeconds = presignSeconds(seconds, this.#sharedKey ? Number.POSITIVE_INFINITY : undefined);
    const { clients, endpoint } = this.#target;
    const sdk = await import('@azure/storage-blob');
    const now = Date.now();
    const expiresOn = new Date(now + expiresInSeconds * 1000);
    const values = {
      containerName: target?.container ?? this.#target.container,
      blobName: target?.blob ?? this.#target.name(key),
      permissions: sdk.BlobSASPermissions.parse(permissions),
      startsOn: new Date(now - SKEW_MS),
      expiresOn,
      // Plain HTTP only for emulators and private endpoints configured as http://.
      protocol: endpoint.startsWith('http:') ? sdk.SASProtocol.HttpsAndHttp : sdk.SASProtocol.Https,
    };
    const signer = clients.signer;
    if (signer?.kind === 'shared-key') {
      const key = new sdk.StorageSharedKeyCredential(clients.account, signer.key);
      return sdk.generateBlobSASQueryParameters(values, key).toString();
    }
    const service = await clients.service();
    const delegation = await this.#userDelegationKey(service, expiresOn.getTime());
    return sdk.generateBlobSASQueryParameters(values, delegation, clients.account).toString();
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

  async #url(key: string, permissions: string, expiresInSeconds?: number): Promise<string> {
    return this.#target.run('presign', key, async () => {
      const sas = await this.sas(key, permissions, expiresInSeconds);
      return `${this.#target.url(key)}?${sas}`;
    });
  }

  presign(): PresignCapability {
    return {
      getUrl: (key, options) => this.#url(key, 'r', options?.expiresInSeconds),
      putUrl: (key, options) => this.#url(key, 'cw', options?.expiresInSeconds),
    };
  }

  /** Proxied multipart uploads: a Put Block URL per part, committed as one block list. */
  multipart(): MultipartCapability {
    const { run, url: blobUrl, commit } = this.#target;
    return {
      create: (key, options) =>
        run('multipart create', key, async () => {
          const sas = await this.sas(key, 'w', options.expiresInSeconds);
          const url = blobUrl(key);
          const block = async (n: number) =>
            `${url}?comp=block&blockid=${encodeURIComponent(partBlockId(n))}&${sas}`;
          return { uploadId: null, credentials: await partCredentials(options.numParts, block) };
        }),
      complete: async (key, _uploadId, parts: CompletedPart[], options: OperationOptions = {}) => {
        const numbers = sortedParts(parts).map((part) => part.partNumber);
        await run('multipart complete', key, () =>
          commit(key, numbers.map(partBlockId), guessContentType(key), options.signal),
        );
      },
      // Uncommitted blocks cannot be deleted one by one; the service discards them after 7 days,
      // and nothing is visible at the name until a commit.
      abort: async () => {},
    };
  }
}
