import {
  ArtifactsError,
  credentialWaitMs,
  encodePath,
  lazily,
  type OutgoingRequest,
  refreshing,
  StoreHttp,
  scrub,
  sharedLookup,
  xmlReader,
} from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';
import type { BlobServiceClient } from '@azure/storage-blob';
import { parseConnectionString } from './connection-string.js';
import { azureErrorDetail } from './errors.js';
import { lazyDefaultAzureCredential } from './identity.js';
import type { AzureConfig } from './settings.js';
import { SharedKey } from './shared-key.js';

/** The REST API version this package speaks (the one `@azure/storage-blob` 12.34 sends). */
export const API_VERSION = '2026-10-06';
const TOKEN_SCOPE = 'https://storage.azure.com/.default';
/** A token is fetched again this long before it expires. */
const TOKEN_MARGIN_MS = 2 * 60 * 1000;

/** How our requests are authorized. */
export type LeanAuth =
  | { kind: 'shared-key'; account: string; key: string }
  | { kind: 'sas'; sas: string }
  | { kind: 'token'; credential: TokenCredential };

/** A blob of the account: its container and its name. */
export interface BlobAddress {
  container: string;
  blob: string;
}

/** The path of a container (`blob` undefined) or of a blob, below the service URL. */
export const blobPath = (container: string, blob?: string): string =>
  `/${encodePath(container)}${blob === undefined ? '' : `/${encodePath(blob)}`}`;

/** A List Blobs page's reader (core's, loaded on the first listing). */
const xml = xmlReader({
  // Blob names keep their spaces; `<Name Encoded="true">` is read with its attribute.
  trimValues: false,
  attributes: true,
  arrays: ['EnumerationResults.Blobs.Blob', 'EnumerationResults.Blobs.BlobPrefix'],
  // Kept as text, each read for the one element needed: building a blob's ~20 properties into
  // objects cost 3-4 times the CPU of the rest of the page (README, "Listing").
  raw: ['*.Properties', '*.Metadata'],
});

/**
 * Authorizes our requests: Shared Key signed with a key decoded once, a SAS appended, or a bearer
 * token fetched once and shared by concurrent requests until shortly before it expires (fetched with
 * no request's signal: one caller's abort must not fail the others'), each fetch bounded by core's
 * `credentialWaitMs` (a managed identity's endpoint that never answers); a fetch whose wait ran out
 * is waited on by the next, not started again beside itself (core's `sharedLookup`).
 */
function authorizer(
  auth: LeanAuth,
  endpoint: URL,
  timeoutMs: number | undefined,
): (request: OutgoingRequest) => Promise<void> | void {
  const stamp = (r: OutgoingRequest) =>
    Object.assign(r.headers, { 'x-ms-version': API_VERSION, 'x-ms-date': new Date().toUTCString() });
  if (auth.kind === 'shared-key') {
    const key = new SharedKey(auth.account, auth.key);
    return (r) => {
      stamp(r).authorization = key.sign(r.method, r.path, r.query, r.headers);
    };
  }
  if (auth.kind === 'sas') {
    return (r) => {
      stamp(r);
      r.search = auth.sas;
    };
  }
  const token = sharedLookup(
    () => auth.credential.getToken(TOKEN_SCOPE),
    credentialWaitMs(timeoutMs),
    (seconds) => `no Microsoft Entra ID token within ${seconds} s: the token credential did not answer`,
  );
  const bearer = refreshing(
    async () => {
      const got = await token();
      if (!got) throw new ArtifactsError('unauthenticated', 'the token credential returned no token');
      return got;
    },
    (got) => got.refreshAfterTimestamp ?? got.expiresOnTimestamp - TOKEN_MARGIN_MS,
  );
  return async (r) => {
    if (endpoint.protocol !== 'https:') {
      throw new ArtifactsError(
        'failed_precondition',
        `a Microsoft Entra ID token is sent only over https, and the blob endpoint is ${endpoint.origin}`,
      );
    }
    stamp(r).authorization = `Bearer ${(await bearer()).token}`;
  };
}

/** What the driver talks to the blob service with. */
export interface AzureClients {
  /** Our requests, over core's keep-alive pool. */
  http: StoreHttp;
  /** The storage account the requests are for. */
  account: string;
  /**
   * How requests are authorized; it also says what signs a SAS (the account key, or a token
   * credential's user-delegation key) and gives a connection string's own SAS (a copy's source).
   */
  auth: LeanAuth;
  /** `@azure/storage-blob`'s service client, loaded on first use: user-delegation keys only. */
  service(): Promise<BlobServiceClient>;
}

/**
 * Our request path for the configured credential, in MLflow's order. `timeoutMs`: the repository's,
 * which bounds a token fetch (`credentialWaitMs`).
 */
export async function createClients(
  config: AzureConfig,
  connections: number,
  timeoutMs?: number,
): Promise<AzureClients> {
  // A connection string's account is the URI's (checked below), or not named (a SAS for a domain).
  const { connectionString, accountKey, account } = config;
  let url = config.endpoint;
  let auth: LeanAuth;
  if (connectionString) {
    let parsed: ReturnType<typeof parseConnectionString>;
    try {
      parsed = parseConnectionString(connectionString);
    } catch (error) {
      const from = config.sources.connectionString;
      const why = error instanceof Error ? error.message : String(error);
      throw ArtifactsError.invalidArgument(
        scrub(
          `the Azure connection string (${from === 'option' ? 'option connectionString' : from}) is not valid: ${why}`,
          config.secrets,
        ),
      );
    }
    if (parsed.accountName && parsed.accountName !== config.account) {
      throw ArtifactsError.invalidArgument(
        `the Azure connection string is for storage account ${JSON.stringify(parsed.accountName)}, but the artifact URI names ${JSON.stringify(config.account)}`,
      );
    }
    url = parsed.url;
    auth = parsed.accountKey
      ? { kind: 'shared-key', account, key: parsed.accountKey }
      : { kind: 'sas', sas: parsed.sas ?? '' };
  } else if (accountKey) {
    auth = { kind: 'shared-key', account, key: accountKey };
  } else {
    auth = { kind: 'token', credential: config.credential ?? lazyDefaultAzureCredential() };
  }
  const http = new StoreHttp({
    endpoint: url,
    store: 'the blob service',
    connections,
    ...(config.caFile ? { tls: { ca: config.caFile } } : {}),
    authorize: authorizer(auth, new URL(url), timeoutMs),
    errorDetail: azureErrorDetail,
  });
  const credential = auth.kind === 'token' ? auth.credential : undefined;
  const service = lazily(async () => {
    const sdk = await import('@azure/storage-blob');
    return new sdk.BlobServiceClient(http.url, credential, {
      retryOptions: {
        maxTries: config.maxTries,
        ...(config.requestTimeoutMs === undefined ? {} : { tryTimeoutInMs: config.requestTimeoutMs }),
      },
      // Reaches the SDK's core pipeline (its TLS policy), though the type does not declare it.
      ...(config.caFile ? ({ tlsOptions: { ca: config.caFile } } as object) : {}),
    });
  });
  return {
    http,
    account,
    auth,
    service() {
      if (!credential) throw new ArtifactsError('internal', 'the SDK client serves token credentials only');
      return service();
    },
  };
}

export interface ListedBlob {
  name: string;
  size: number;
  /** A folder blob of Hadoop's WASB or of a hierarchical-namespace account (`hdi_isfolder=true`). */
  folder: boolean;
}

type XmlName = string | { '#text'?: string; Encoded?: string };

/** A `<Name>`: text, or percent-encoded text with `Encoded="true"` (names with characters XML cannot hold). */
function nameOf(name: XmlName | undefined): string {
  if (name === undefined)
    throw new ArtifactsError('internal', 'the blob service sent a listing entry without a <Name>');
  if (typeof name === 'string') return name;
  const text = name['#text'] ?? '';
  return name.Encoded === 'true' ? decodeURIComponent(text) : text;
}

/** One List Blobs page: the blobs, the prefixes (with a delimiter) and the next marker. */
export async function parseBlobList(text: string): Promise<{
  blobs: ListedBlob[];
  prefixes: string[];
  next: string | undefined;
}> {
  const page = (xml(text) as { EnumerationResults?: unknown }).EnumerationResults as
    | {
        Blobs?: {
          Blob?: Array<{ Name?: XmlName; Properties?: string; Metadata?: string }>;
          BlobPrefix?: Array<{ Name?: XmlName }>;
        };
        NextMarker?: unknown;
      }
    | undefined;
  if (page === undefined)
    throw new ArtifactsError('internal', 'the blob service answered a listing without EnumerationResults');
  const blobs = (page.Blobs?.Blob ?? []).map((blob) => ({
    name: nameOf(blob.Name),
    size: Number(/<Content-Length>(\d+)<\/Content-Length>/.exec(blob.Properties ?? '')?.[1] ?? 0),
    folder: /<hdi_isfolder>true<\/hdi_isfolder>/.test(blob.Metadata ?? ''),
  }));
  const prefixes = (page.Blobs?.BlobPrefix ?? []).map((prefix) => nameOf(prefix.Name));
  const next = typeof page.NextMarker === 'string' && page.NextMarker ? page.NextMarker : undefined;
  return { blobs, prefixes, next };
}
