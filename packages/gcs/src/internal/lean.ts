import {
  ArtifactsError,
  type Checksum,
  credentialWaitMs,
  lazily,
  type OutgoingRequest,
  readSettingFile,
  StoreHttp,
  sharedLookup,
} from '@artifacts/core';
import type { Storage, StorageOptions } from '@google-cloud/storage';
import type { GcsCredentials } from '../options.js';
import { NO_DEFAULT_CREDENTIALS } from './errors.js';
import type { GcsConfig } from './settings.js';

/**
 * What the driver talks to GCS with: our own JSON API requests (core's `StoreHttp`) for every call
 * of the hot path, and the client library for what it does that we do not write — the credential
 * chain (ADC) and its tokens, V4 signing, chunked resumable uploads and proxied multipart requests.
 * Nothing of the library is loaded at open: the credentials are found on the first request.
 */
export interface GcsClient {
  /** Our requests, with the library's auth client's token (none when anonymous). */
  http: StoreHttp;
  /** The client library (`@google-cloud/storage`), loaded and built on first use. */
  storage(): Promise<Storage>;
  /** True when configured never to authenticate (`anonymous: true`): nothing can be signed. */
  anonymous: boolean;
  /**
   * The library's client with the credentials found, built and asked on first use (ADC then looks
   * for them); undefined when none are found and anonymous access is the fallback.
   */
  credentials(): Promise<Storage | undefined>;
  secrets: string[];
}

const SCOPES = [
  'https://www.googleapis.com/auth/devstorage.full_control',
  'https://www.googleapis.com/auth/cloud-platform',
];

/** Google's endpoint of the JSON and XML APIs. */
export const GOOGLE_ENDPOINT = 'https://storage.googleapis.com';

/** `/storage/v1/b/<bucket>/o/<name>`: an object of the JSON API (`o` alone: the bucket's objects). */
export const objectPath = (bucket: string, name?: string): string =>
  `/storage/v1/b/${encodeURIComponent(bucket)}/o${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

type Library = typeof import('@google-cloud/storage') & { auth: typeof import('google-auth-library') };

/**
 * The client library and its auth library, imported on first use: loading them costs about as much
 * CPU as a few hundred small requests, and no request of the hot path needs them without credentials.
 */
const loadLibrary = lazily<Library>(() =>
  Promise.all([import('@google-cloud/storage'), import('google-auth-library')]).then(([storage, auth]) => ({
    ...storage,
    auth,
  })),
);

/**
 * A GoogleAuth for an explicit key object or key file. Set after construction because the
 * constructor options `credentials`/`keyFilename` now print a deprecation notice on every use, while
 * the recommended replacement (a bare AuthClient) loses the service account's e-mail, which V4
 * signing needs, and would make the library probe the metadata server for it.
 */
function explicitAuth(lib: Library, config: GcsConfig): Pick<StorageOptions, 'authClient' | 'keyFilename'> {
  if (!config.credentials && !config.keyFilename) return {};
  const auth = new lib.auth.GoogleAuth({
    scopes: SCOPES,
    ...(config.projectId ? { projectId: config.projectId } : {}),
  });
  if (config.credentials) {
    auth.jsonContent = config.credentials as typeof auth.jsonContent;
    return { authClient: auth };
  }
  // A .p12/.pem key file: only the library's own (deprecated) option reads those.
  return { keyFilename: config.keyFilename };
}

/** Options for `new Storage(…)`: endpoint, credentials, timeout, retries. */
export async function storageOptions(config: GcsConfig, anonymous: boolean): Promise<StorageOptions> {
  const lib = await loadLibrary();
  return {
    ...(config.endpoint ? { apiEndpoint: config.endpoint, useAuthWithCustomEndpoint: !anonymous } : {}),
    ...(config.projectId ? { projectId: config.projectId } : {}),
    // An AuthClient that adds no credentials: anonymous requests, for the JSON and XML APIs alike.
    ...(anonymous ? { authClient: new lib.auth.PassThroughClient() } : explicitAuth(lib, config)),
    // Core's timeout, resolved once: the library's bound on each of its requests.
    ...(config.timeoutMs === undefined ? {} : { timeout: config.timeoutMs }),
    // Core's retry layer is the one place that retries; the library's own retries stack on it only
    // when asked (`libraryRetries`).
    retryOptions:
      config.libraryRetries > 0
        ? { autoRetry: true, maxRetries: config.libraryRetries }
        : { autoRetry: false, maxRetries: 0 },
  };
}

/**
 * Builds the library's client. The Node client reads STORAGE_EMULATOR_HOST itself and then uses it,
 * unchanged, as the JSON API's base URL — without `/storage/v1` (nodejs-storage issue 2069) — so the
 * base URL is set here from the endpoint this package resolved.
 */
export async function buildStorage(config: GcsConfig, anonymous: boolean): Promise<Storage> {
  const lib = await loadLibrary();
  const storage = new lib.Storage(await storageOptions(config, anonymous));
  storage.baseUrl = `${config.endpoint ?? storage.apiEndpoint}/storage/v1`;
  return storage;
}

/** Reads a JSON key file into `credentials`, so that its private key is known (and scrubbed). */
function loadKeyFile(config: GcsConfig): GcsConfig {
  if (config.credentials || !config.keyFilename || !/\.json$/i.test(config.keyFilename)) return config;
  const text = readSettingFile(config.keyFilename, 'Google key file');
  try {
    return { ...config, credentials: JSON.parse(text) as GcsCredentials };
  } catch {
    // Never echo the file: it holds a private key.
    throw ArtifactsError.invalidArgument(
      `the Google key file ${JSON.stringify(config.keyFilename)} is not valid JSON`,
    );
  }
}

/** Where the metadata server is looked for, as gcp-metadata does. */
const metadataServer = (): string =>
  process.env.GCE_METADATA_IP ||
  process.env.GCE_METADATA_HOST ||
  '169.254.169.254 / metadata.google.internal';

/** What to do about a metadata server that does not answer. */
const METADATA_HINT =
  'on Google Cloud check its metadata server; elsewhere set GOOGLE_APPLICATION_CREDENTIALS, pass keyFilename or credentials, or anonymous: true (METADATA_SERVER_DETECTION=none skips the metadata server)';

/** The library's client with ADC's credentials, or undefined when none are found ('fallback'). */
async function findCredentials(
  config: GcsConfig,
  built: () => Promise<Storage>,
  probe: () => Promise<unknown>,
): Promise<Storage | undefined> {
  const storage = await built();
  if (config.credentials !== undefined || config.keyFilename !== undefined) return storage;
  try {
    // After the key files (GOOGLE_APPLICATION_CREDENTIALS, gcloud's), ADC asks the metadata server,
    // which Google's library waits for without bound when it believes it runs on Google Cloud.
    await probe();
  } catch (error) {
    if (!NO_DEFAULT_CREDENTIALS.test(error instanceof Error ? error.message : String(error))) throw error;
    if (config.anonymous === 'fallback') return undefined;
    throw new ArtifactsError(
      'unauthenticated',
      'no Google credentials found (Application Default Credentials) and anonymous access is off: set GOOGLE_APPLICATION_CREDENTIALS or pass keyFilename or credentials',
      { cause: error },
    );
  }
  return storage;
}

/**
 * The client for `config`. Its credentials are found on the first request (or signature) that needs
 * them, not at open: loading the client and auth libraries adds about 15 MiB, and ADC probes the
 * metadata server (a warning on a machine without one) — an open must cost neither. None found is
 * anonymous access ('fallback') or an `unauthenticated` error, at that first use; a failure other
 * than "none found" is tried again by the next request.
 * `connections`: keep-alive sockets of our own requests (files × ranges in flight).
 */
export async function createGcsClient(input: GcsConfig, connections = 64): Promise<GcsClient> {
  const config = loadKeyFile(input);
  const secrets = config.credentials?.private_key ? [String(config.credentials.private_key)] : [];
  const anonymous = config.anonymous === true;
  // "None found" stays the answer; anything else (a metadata server that timed out) is asked again.
  // One client for ADC, and one probe of it at a time: a probe whose wait ran out is waited on by
  // the next (core's `sharedLookup`), not started again beside it.
  const built = lazily(() => buildStorage(config, false));
  const probe = sharedLookup(
    async () => (await built()).authClient.getClient(),
    credentialWaitMs(config.timeoutMs),
    (seconds) =>
      `no Google credentials found within ${seconds} s: Application Default Credentials found no key file and the metadata server (${metadataServer()}) did not answer; ${METADATA_HINT}`,
  );
  const found = lazily(
    () => findCredentials(config, built, probe),
    (error) => ArtifactsError.is(error, 'unauthenticated'),
  );
  const credentials = (): Promise<Storage | undefined> => (anonymous ? Promise.resolve(undefined) : found());
  // Without credentials (anonymous, or none found): the library's client for anonymous requests.
  const storage = lazily(async () => (await credentials()) ?? buildStorage(config, true));
  // Asked only once credentials() gave a client (the same one every time: `found` keeps it).
  const tokens = lazily(async () =>
    tokenLookup((await credentials()) as Storage, credentialWaitMs(config.timeoutMs)),
  );
  const http = new StoreHttp({
    endpoint: config.endpoint ?? GOOGLE_ENDPOINT,
    store: 'Google Cloud Storage',
    connections,
    stallMs: config.timeoutMs,
    ...(config.caFile ? { tls: { ca: config.caFile } } : {}),
    ...(anonymous
      ? {}
      : {
          authorize: async (request: OutgoingRequest) => {
            const storage = await credentials();
            if (!storage) return;
            (await (await tokens())()).forEach((value, name) => {
              request.headers[name] = value;
            });
          },
        }),
  });
  return { http, storage, anonymous, credentials, secrets };
}

/**
 * The auth client's headers (it caches the token and refreshes it before it expires), each wait within
 * `ms`: a token comes from the metadata server or a token endpoint, outside the request's timers; a
 * fetch whose wait ran out is waited on by the next (core's `sharedLookup`).
 */
async function tokenLookup(storage: Storage, ms: number): Promise<() => Promise<Headers>> {
  const lib = await loadLibrary();
  return sharedLookup(
    () => storage.authClient.getRequestHeaders(),
    ms,
    (seconds) => {
      const problem = `no Google access token within ${seconds} s`;
      return storage.authClient.cachedCredential instanceof lib.auth.Compute
        ? `${problem}: the metadata server (${metadataServer()}) did not answer; ${METADATA_HINT}`
        : `${problem}: the credentials' token service did not answer`;
    },
  );
}

/** `x-goog-hash: crc32c=…,md5=…`, named as in the JSON API's metadata. */
export function parseGoogHash(value = ''): { crc32c?: string; md5Hash?: string } {
  const hash = (name: string) =>
    new RegExp(`(?:^|,)\\s*${name}=([^,]*)`).exec(value)?.[1]?.trim() || undefined;
  return { crc32c: hash('crc32c'), md5Hash: hash('md5') };
}

/** The checksum GCS reports for an object: CRC32C (every object has one), else MD5. */
export function checksumOf(meta: { crc32c?: string; md5Hash?: string }): Checksum | undefined {
  if (meta.crc32c) return { algorithm: 'crc32c', value: meta.crc32c };
  return meta.md5Hash ? { algorithm: 'md5', value: meta.md5Hash } : undefined;
}
