import type { Readable } from 'node:stream';
import { ArtifactsError, type HttpAnswer, type HttpPool, headerString, readBodyText } from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';
import { XMLParser } from 'fast-xml-parser';
import { SharedKey } from './shared-key.js';

/** The REST API version this package speaks (the one `@azure/storage-blob` 12.34 sends). */
export const API_VERSION = '2026-10-06';
const TOKEN_SCOPE = 'https://storage.azure.com/.default';
/** A token is fetched again this long before it expires. */
const TOKEN_MARGIN_MS = 2 * 60 * 1000;

/** How our own requests are authorized. */
export type LeanAuth =
  | { kind: 'shared-key'; account: string; key: string }
  | { kind: 'sas'; sas: string }
  | { kind: 'token'; credential: TokenCredential };

/** One Blob service request sent by us rather than the SDK. */
export interface BlobRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'DELETE';
  container: string;
  /** The blob's name; undefined for a container request (a listing). */
  blob?: string | undefined;
  /** Decoded query parameters. */
  query?: ReadonlyArray<readonly [string, string]>;
  /** Lower-case names. */
  headers?: Record<string, string>;
  body?: Buffer | Readable | undefined;
  signal?: AbortSignal | undefined;
}

/** A blob name's path as sent: each segment percent-encoded, the slashes kept. */
export function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/**
 * The Blob service's hot requests (Get Blob, Get Blob Properties, Put Blob, Put Block, Put Block
 * List, List Blobs, Delete Blob) sent over core's keep-alive pool: Shared Key signed with a key
 * decoded once, a SAS appended, or a bearer token fetched once and reused until shortly before it
 * expires. No pipeline, no policies, one header object per request. A failure is thrown shaped like
 * the SDK's `RestError` (`statusCode`, `details.errorCode`, `request.url` without its query), so
 * the driver's one error mapping names it; retries, timeouts and transfers stay core's.
 */
export class LeanAzure {
  readonly #pool: HttpPool;
  readonly #origin: string;
  /** The service URL's path ('' or `/<account>` on an emulator), without a trailing slash. */
  readonly #base: string;
  readonly #auth: LeanAuth;
  readonly #sharedKey: SharedKey | undefined;
  #token: { value: string; refreshAt: number } | undefined;
  #fetching: Promise<string> | undefined;

  constructor(pool: HttpPool, serviceUrl: string, auth: LeanAuth) {
    const url = new URL(serviceUrl);
    this.#pool = pool;
    this.#origin = url.origin;
    this.#base = url.pathname.replace(/\/+$/, '');
    this.#auth = auth;
    this.#sharedKey = auth.kind === 'shared-key' ? new SharedKey(auth.account, auth.key) : undefined;
  }

  /** The service's URL (no query, no trailing slash). */
  get url(): string {
    return `${this.#origin}${this.#base}`;
  }

  /** A blob's URL, without any SAS. */
  blobUrl(container: string, name: string): string {
    return `${this.url}/${encodeURIComponent(container)}/${encodeName(name)}`;
  }

  /** Whether the service has answered one of our requests (a refusal is then a restart). */
  reached(): boolean {
    return this.#pool.reached(this.#origin);
  }

  /** Sends one request; resolves with an answer below 300, throws the RestError-shaped failure otherwise. */
  async send(request: BlobRequest): Promise<HttpAnswer> {
    const container = `${this.#base}/${encodeURIComponent(request.container)}`;
    const path = request.blob === undefined ? container : `${container}/${encodeName(request.blob)}`;
    const query = request.query ?? [];
    let search = query
      .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
      .join('&');
    const headers: Record<string, string> = {
      'x-ms-version': API_VERSION,
      'x-ms-date': new Date().toUTCString(),
      ...request.headers,
    };
    const auth = this.#auth;
    if (this.#sharedKey) headers.authorization = this.#sharedKey.sign(request.method, path, query, headers);
    else if (auth.kind === 'sas') search = search ? `${search}&${auth.sas}` : auth.sas;
    else if (auth.kind === 'token') {
      if (!this.#origin.startsWith('https:')) {
        throw new ArtifactsError(
          'failed_precondition',
          `a Microsoft Entra ID token is sent only over https, and the blob endpoint is ${this.#origin}`,
        );
      }
      headers.authorization = `Bearer ${await this.#bearer(auth.credential)}`;
    }
    const where = `${this.#origin}${path}`;
    let answer: HttpAnswer;
    try {
      answer = await this.#pool.request({
        method: request.method,
        url: search ? `${where}?${search}` : where,
        headers,
        body: request.body,
        signal: request.signal,
      });
    } catch (error) {
      // Where it went (never the query: a SAS), for the connect-failure wording.
      if (typeof error === 'object' && error !== null && !ArtifactsError.is(error))
        (error as { request?: { url: string } }).request ??= { url: where };
      throw error;
    }
    if (answer.statusCode < 300) return answer;
    throw await restFailure(answer, request.method, where);
  }

  /**
   * The bearer token, fetched once and shared by concurrent requests until shortly before it
   * expires (with no request's signal: one caller's abort must not fail the others' fetch).
   */
  #bearer(credential: TokenCredential): string | Promise<string> {
    if (this.#token && Date.now() < this.#token.refreshAt) return this.#token.value;
    this.#fetching ??= (async () => {
      try {
        const token = await credential.getToken(TOKEN_SCOPE);
        if (!token) throw new ArtifactsError('unauthenticated', 'the token credential returned no token');
        const refreshAt = token.refreshAfterTimestamp ?? token.expiresOnTimestamp - TOKEN_MARGIN_MS;
        this.#token = { value: token.token, refreshAt };
        return token.token;
      } finally {
        this.#fetching = undefined;
      }
    })();
    return this.#fetching;
  }
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (text: string) =>
  text.replace(/&(amp|lt|gt|quot|apos);/g, (_, name: string) => ENTITIES[name]!);

/**
 * An error answer as the SDK throws it: the service's code (the `x-ms-error-code` header, else the
 * body's `<Code>`), its `<Message>`, the status, and the URL without its query.
 */
export async function restFailure(answer: HttpAnswer, method: string, url: string): Promise<Error> {
  const text = method === 'HEAD' ? '' : await readBodyText(answer.body, 65_536);
  answer.body.destroy();
  const code = headerString(answer.headers['x-ms-error-code']) ?? /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([\s\S]*?)<\/Message>/.exec(text)?.[1];
  const status = answer.statusCode;
  return Object.assign(new Error(message ? unescapeXml(message) : (code ?? `HTTP ${status}`)), {
    name: 'RestError',
    statusCode: status,
    ...(code ? { code, details: { errorCode: code } } : {}),
    request: { url },
  });
}

const xml = new XMLParser({
  parseTagValue: false,
  trimValues: false,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  htmlEntities: true,
  isArray: (name) => name === 'Blob' || name === 'BlobPrefix',
});

type XmlText = string | { '#text'?: string; Encoded?: string } | undefined;

/** A `<Name>`: text, or percent-encoded text with `Encoded="true"` (names with characters XML cannot hold). */
function nameOf(node: XmlText): string {
  if (typeof node === 'string') return node;
  const text = node?.['#text'] ?? '';
  return node?.Encoded === 'true' ? decodeURIComponent(text) : text;
}

export interface ListedBlob {
  name: string;
  size: number;
  metadata: Record<string, string>;
}

/** One List Blobs page: the blobs, the prefixes (with a delimiter) and the next marker. */
export function parseBlobList(text: string): {
  blobs: ListedBlob[];
  prefixes: string[];
  next: string | undefined;
} {
  const root = (xml.parse(text) as { EnumerationResults?: Record<string, unknown> }).EnumerationResults;
  if (!root)
    throw new ArtifactsError('internal', 'the blob service answered a listing without EnumerationResults');
  const list = (root.Blobs || {}) as {
    Blob?: Array<{
      Name?: XmlText;
      Properties?: Record<string, string>;
      Metadata?: Record<string, string> | '';
    }>;
    BlobPrefix?: Array<{ Name?: XmlText }>;
  };
  const blobs = (list.Blob ?? []).map((blob) => ({
    name: nameOf(blob.Name),
    size: Number(blob.Properties?.['Content-Length'] ?? 0),
    metadata: typeof blob.Metadata === 'object' ? blob.Metadata : {},
  }));
  const prefixes = (list.BlobPrefix ?? []).map((prefix) => nameOf(prefix.Name));
  const next = typeof root.NextMarker === 'string' && root.NextMarker !== '' ? root.NextMarker : undefined;
  return { blobs, prefixes, next };
}
