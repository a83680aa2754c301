import type { Readable } from 'node:stream';
import { ArtifactsError, type HttpAnswer, type HttpPool, headerString, readBodyText } from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';
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
  return Object.assign(new Error(message ? xmlText(message) : (code ?? `HTTP ${status}`)), {
    name: 'RestError',
    statusCode: status,
    ...(code ? { code, details: { errorCode: code } } : {}),
    request: { url },
  });
}

/** The text of the first `<tag>` element in `text[from, to)`, and its attributes; undefined when none. */
function element(
  text: string,
  tag: string,
  from: number,
  to: number,
): { value: string; attrs: string } | undefined {
  let at = text.indexOf(`<${tag}`, from);
  while (at !== -1 && at < to) {
    const next = text[at + tag.length + 1];
    if (next === '>' || next === ' ' || next === '/') break;
    at = text.indexOf(`<${tag}`, at + 1);
  }
  if (at === -1 || at >= to) return undefined;
  const open = text.indexOf('>', at);
  const attrs = text.slice(at + tag.length + 1, text[open - 1] === '/' ? open - 1 : open);
  if (text[open - 1] === '/') return { value: '', attrs };
  const close = text.indexOf(`</${tag}>`, open);
  if (close === -1 || close > to)
    throw new ArtifactsError('internal', `the blob service sent a listing with an unclosed <${tag}>`);
  return { value: text.slice(open + 1, close), attrs };
}

/** The start of each `<tag>` element (exactly that tag, not a longer name) in `text[from, to)`. */
function* elements(
  text: string,
  tag: string,
  from: number,
  to: number,
): Generator<{ start: number; end: number }> {
  let at = text.indexOf(`<${tag}>`, from);
  while (at !== -1 && at < to) {
    const end = text.indexOf(`</${tag}>`, at);
    if (end === -1 || end > to)
      throw new ArtifactsError('internal', `the blob service sent a listing with an unclosed <${tag}>`);
    yield { start: at + tag.length + 2, end };
    at = text.indexOf(`<${tag}>`, end);
  }
}

const XML_ENTITY = /&(?:#(\d+)|#x([0-9a-fA-F]+)|(amp|lt|gt|quot|apos));/g;
function xmlText(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(
    XML_ENTITY,
    (_, dec: string | undefined, hex: string | undefined, name: string | undefined) =>
      dec
        ? String.fromCodePoint(Number(dec))
        : hex
          ? String.fromCodePoint(Number.parseInt(hex, 16))
          : ENTITIES[name!]!,
  );
}

/** A `<Name>`: text, or percent-encoded text with `Encoded="true"` (names with characters XML cannot hold). */
function nameOf(name: { value: string; attrs: string } | undefined): string {
  if (!name) throw new ArtifactsError('internal', 'the blob service sent a listing entry without a <Name>');
  const text = xmlText(name.value);
  return /\bEncoded="true"/.test(name.attrs) ? decodeURIComponent(text) : text;
}

export interface ListedBlob {
  name: string;
  size: number;
  metadata: Record<string, string>;
}

/**
 * One List Blobs page: the blobs, the prefixes (with a delimiter) and the next marker. The answer is
 * the service's own fixed schema, so it is scanned for the few elements needed rather than built
 * into a document (a 5,000-blob page is megabytes of XML; a general parser cost more CPU than the
 * downloads it listed).
 */
export function parseBlobList(text: string): {
  blobs: ListedBlob[];
  prefixes: string[];
  next: string | undefined;
} {
  const root = text.indexOf('<EnumerationResults');
  if (root === -1)
    throw new ArtifactsError('internal', 'the blob service answered a listing without EnumerationResults');
  // The <Blobs> element's content: [from, to) (empty when it is missing or self-closed).
  const open = text.indexOf('<Blobs', root);
  const from = open === -1 ? root : text.indexOf('>', open) + 1;
  let to = from;
  if (open !== -1 && text[from - 2] !== '/') {
    to = text.indexOf('</Blobs>', from);
    if (to === -1)
      throw new ArtifactsError('internal', 'the blob service sent a listing with an unclosed <Blobs>');
  }
  const blobs: ListedBlob[] = [];
  const prefixes: string[] = [];
  for (const blob of elements(text, 'Blob', from, to)) {
    const metadata: Record<string, string> = {};
    const meta = element(text, 'Metadata', blob.start, blob.end);
    if (meta) {
      for (const entry of meta.value.matchAll(/<([A-Za-z_][\w.-]*)>([^<]*)<\/\1>/g))
        metadata[entry[1]!] = xmlText(entry[2]!);
    }
    blobs.push({
      name: nameOf(element(text, 'Name', blob.start, blob.end)),
      size: Number(element(text, 'Content-Length', blob.start, blob.end)?.value ?? 0),
      metadata,
    });
  }
  for (const prefix of elements(text, 'BlobPrefix', from, to)) {
    prefixes.push(nameOf(element(text, 'Name', prefix.start, prefix.end)));
  }
  const marker = element(text, 'NextMarker', to, text.length)?.value;
  return { blobs, prefixes, next: marker ? xmlText(marker) : undefined };
}
