import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ArtifactsError, type Checksum, HttpPool } from '@artifacts/core';
import type { Storage, StorageOptions } from '@google-cloud/storage';
import type { GcsCredentials } from '../options.js';
import { LeanGcs } from './lean.js';
import type { GcsConfig } from './settings.js';

export interface GcsClient {
  /**
   * The client library (`@google-cloud/storage`), loaded and built on first use: resumable uploads,
   * copies, signing, and every call when `libraryRetries` asks for its retries. Built at open when
   * there are credentials (its auth client gives the token of every request).
   */
  storage(): Promise<Storage>;
  /** Our own requests for the hot operations; undefined when `libraryRetries` routes all through the library. */
  lean: LeanGcs | undefined;
  /** True when requests carry no credentials (then nothing can be signed). */
  anonymous: boolean;
  secrets: string[];
  /** The library's client when it was built at open (with credentials: it signs URLs). */
  loaded: Storage | undefined;
  /** Closes the keep-alive sockets of our own requests. */
  close(): void;
}

const SCOPES = [
  'https://www.googleapis.com/auth/devstorage.full_control',
  'https://www.googleapis.com/auth/cloud-platform',
];

/** Google's endpoint of the JSON and XML APIs. */
export const GOOGLE_ENDPOINT = 'https://storage.googleapis.com';

type Library = typeof import('@google-cloud/storage') & {
  auth: typeof import('google-auth-library');
};
let library: Promise<Library> | undefined;

/**
 * The client library and its auth library, imported on first use: loading them costs about as much
 * CPU as a few hundred small requests, and no request of the hot path needs them without credentials.
 */
export function loadLibrary(): Promise<Library> {
  library ??= Promise.all([import('@google-cloud/storage'), import('google-auth-library')]).then(
    ([storage, auth]) => ({ ...storage, auth }),
  );
  return library;
}

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
    // An AuthClient that adds no credentials: anonymous requests, for the JSON API, resumable uploads
    // and the XML API alike.
    ...(anonymous ? { authClient: new lib.auth.PassThroughClient() } : explicitAuth(lib, config)),
    // Core's timeout, resolved once: the library's bound on each request (a rewrite call of a copy).
    ...(config.timeoutMs === undefined ? {} : { timeout: config.timeoutMs }),
    // Core's retry layer is the one place that retries (backoff, Retry-After, a budget, a silent store
    // ends as a timeout); the library's own retries stack on it only when asked (`libraryRetries`).
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
async function loadKeyFile(config: GcsConfig): Promise<GcsConfig> {
  if (config.credentials || !config.keyFilename || !/\.json$/i.test(config.keyFilename)) return config;
  let text: string;
  try {
    text = await readFile(config.keyFilename, 'utf8');
  } catch (error) {
    throw new ArtifactsError(
      'invalid_argument',
      `cannot read the Google key file ${JSON.stringify(config.keyFilename)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      { cause: error },
    );
  }
  try {
    return { ...config, credentials: JSON.parse(text) as GcsCredentials };
  } catch {
    // Never echo the file: it holds a private key.
    throw ArtifactsError.invalidArgument(
      `the Google key file ${JSON.stringify(config.keyFilename)} is not valid JSON`,
    );
  }
}

function isNoCredentials(error: unknown): boolean {
  return /Could not load the default credentials/i.test(
    error instanceof Error ? error.message : String(error),
  );
}

/**
 * The client for `config`, falling back to anonymous access when ADC finds nothing ('fallback').
 * `connections`: keep-alive sockets of our own requests (files × ranges in flight).
 */
export async function createGcsClient(input: GcsConfig, connections = 64): Promise<GcsClient> {
  const config = await loadKeyFile(input);
  const secrets = config.credentials?.private_key ? [String(config.credentials.private_key)] : [];
  const explicit = config.credentials !== undefined || config.keyFilename !== undefined;
  const make = (anonymous: boolean, loaded: Storage | undefined): GcsClient => {
    let built: Promise<Storage> | undefined = loaded ? Promise.resolve(loaded) : undefined;
    const pool = new HttpPool({ connections });
    const lean =
      config.libraryRetries > 0
        ? undefined
        : new LeanGcs(pool, {
            endpoint: config.endpoint ?? GOOGLE_ENDPOINT,
            ...(config.timeoutMs === undefined ? {} : { stallMs: config.timeoutMs }),
            // The library's auth client caches the token and refreshes it before it expires.
            ...(anonymous || !loaded ? {} : { auth: () => authHeaders(loaded) }),
          });
    return {
      storage: () => {
        built ??= buildStorage(config, anonymous);
        return built;
      },
      lean,
      anonymous,
      secrets,
      loaded,
      close: () => pool.destroy(),
    };
  };
  if (config.anonymous === true) return make(true, undefined);
  const storage = await buildStorage(config, false);
  // Without explicit credentials, ask ADC now: none found is anonymous access ('fallback') or an error.
  if (!explicit) {
    try {
      await storage.authClient.getClient();
    } catch (error) {
      if (!isNoCredentials(error)) throw error;
      if (config.anonymous === 'fallback') return make(true, undefined);
      throw new ArtifactsError(
        'unauthenticated',
        'no Google credentials found (Application Default Credentials) and anonymous access is off: set GOOGLE_APPLICATION_CREDENTIALS or pass keyFilename or credentials',
        { cause: error },
      );
    }
  }
  return make(false, storage);
}

/** The headers that authenticate a request (`authorization`, a quota project), as a plain record. */
async function authHeaders(storage: Storage): Promise<Record<string, string>> {
  const headers = await storage.authClient.getRequestHeaders();
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

type HeaderBag = Record<string, string | string[] | undefined> | { get(name: string): string | null };

/** A header of a gaxios answer (a Headers object or a plain record). */
export function header(headers: HeaderBag | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** Parses `x-goog-hash: crc32c=…,md5=…`. */
export function parseGoogHash(value: string | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  for (const part of (value ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    const digest = part.slice(eq + 1).trim();
    if (name === 'crc32c') out.crc32c = digest;
    else if (name === 'md5') out.md5 = digest;
  }
  return out;
}

/** The checksum GCS reports for an object: CRC32C (every object has one), else MD5. */
export function checksumOf(meta: { crc32c?: string; md5Hash?: string; md5?: string }): Checksum | undefined {
  if (meta.crc32c) return { algorithm: 'crc32c', value: meta.crc32c };
  const md5 = meta.md5Hash ?? meta.md5;
  return md5 ? { algorithm: 'md5', value: md5 } : undefined;
}

/** The HTTP status of an error of the client library, gaxios or google-auth-library. */
export function statusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: unknown } } | null;
  for (const value of [e?.response?.status, e?.status, e?.code]) if (typeof value === 'number') return value;
  return undefined;
}

/**
 * Opens a ranged GET of an object's media and resolves once the response headers are in; core's
 * ranged-read engine bounds the wait and each stall of the body. Our own request when there is one,
 * else through the library's auth client (gaxios, with its retries). The library's own read stream
 * is not used: on Node 24 every read through it warns of leaked listeners, and it hides the headers
 * this needs (Content-Range, x-goog-hash, x-goog-generation).
 */
export async function openRange(
  client: GcsClient,
  config: GcsConfig,
  name: string,
  range: { start: number; end?: number | undefined; signal?: AbortSignal; generation?: string | undefined },
): Promise<{ stream: Readable; headers: HeaderBag | undefined }> {
  const { start, end, signal, generation } = range;
  const headers: Record<string, string> =
    start === 0 && end === undefined ? {} : { range: `bytes=${start}-${end ?? ''}` };
  if (client.lean) {
    const answer = await client.lean.send({
      method: 'GET',
      path: LeanGcs.objectPath(config.bucket, name),
      query: { alt: 'media', generation },
      headers,
      signal,
      // The engine bounds the wait and each stall; a part it has not read yet may rest longer.
      stallMs: 0,
    });
    return { stream: answer.body, headers: answer.headers };
  }
  const storage = await client.storage();
  const query = new URLSearchParams({ alt: 'media', ...(generation ? { generation } : {}) });
  const url = `${storage.baseUrl}/b/${encodeURIComponent(config.bucket)}/o/${encodeURIComponent(name)}?${query}`;
  const response = await storage.authClient.request<Readable>({
    url,
    method: 'GET',
    responseType: 'stream',
    headers,
    ...(signal ? { signal } : {}),
    retryConfig: { retry: config.libraryRetries, httpMethodsToRetry: ['GET'] },
  });
  return { stream: response.data, headers: response.headers as HeaderBag };
}
