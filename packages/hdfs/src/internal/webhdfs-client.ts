import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  discardBody,
  encodePath,
  type HttpAnswer,
  HttpPool,
  headerString,
  isConnectionError,
  isTemporaryError,
  readBodyText,
} from '@artifacts/core';
import { isStandby, webhdfsError, webhdfsFailure } from './errors.js';
import { spnegoToken } from './kerberos.js';
import type { HdfsSettings } from './settings.js';

/** One FileStatus of GETFILESTATUS / LISTSTATUS. */
export interface FileStatus {
  pathSuffix: string;
  type: 'FILE' | 'DIRECTORY' | 'SYMLINK';
  length: number;
  modificationTime?: number;
  /** The inode id (Hadoop ≥ 2.4). */
  fileId?: number;
}

export type Params = Record<string, string | number | boolean | undefined>;

export interface CallOptions {
  signal?: AbortSignal | undefined;
  /** What is being done, for messages ("reading /a/b"). */
  what: string;
}

/**
 * A small WebHDFS client over core's `HttpPool` (keep-alive sockets, at most `maxConnections` per
 * origin, NameNode and DataNodes alike; node:http skips the unsolicited `100 Continue` a DataNode
 * sends before its `201`): redirects to DataNodes followed by hand so that request bodies stream
 * exactly once, and failover between HA NameNodes. It never retries: its errors say whether another
 * attempt may succeed (`temporary`), and core's retry layer repeats them.
 */
export class WebHdfsClient {
  readonly #settings: HdfsSettings;
  readonly #http: HttpPool;
  /** Index of the NameNode that last answered as active. */
  #active = 0;
  #closed = false;
  /**
   * Kerberos: the signed `hadoop.auth` cookie each NameNode answered a SPNEGO request with. Later
   * calls send it instead of a new token, as Hadoop's own AuthenticatedURL does, until the NameNode
   * refuses it (expired: 10 h by default). A credential: kept in memory only, never in a message.
   */
  readonly #authCookies = new Map<string, string>();

  constructor(settings: HdfsSettings) {
    this.#settings = settings;
    this.#http = new HttpPool({
      connections: settings.maxConnections,
      ...(settings.ca ? { tls: { ca: settings.ca } } : {}),
    });
  }

  #url(endpoint: string, path: string, op: string, params: Params): string {
    const search = new URLSearchParams({ op });
    for (const [k, v] of Object.entries(params)) if (v !== undefined) search.set(k, String(v));
    if (this.#settings.user !== undefined) search.set('user.name', this.#settings.user);
    return `${endpoint}/webhdfs/v1${encodePath(path)}?${search}`;
  }

  async #headers(endpoint: string): Promise<Record<string, string>> {
    if (!this.#settings.kerberos) return {};
    const cookie = this.#authCookies.get(endpoint);
    if (cookie !== undefined) return { cookie };
    const token = await spnegoToken(this.#settings.kerberos, new URL(endpoint).hostname);
    return { authorization: `Negotiate ${token}` };
  }

  #keepAuthCookie(endpoint: string, response: HttpAnswer): void {
    const header = response.headers['set-cookie'];
    for (const line of Array.isArray(header) ? header : header ? [header] : []) {
      const m = /^hadoop\.auth=("?)([^";]*)\1/.exec(line);
      if (!m) continue;
      if (m[2]) this.#authCookies.set(endpoint, `hadoop.auth=${m[1]}${m[2]}${m[1]}`);
      else this.#authCookies.delete(endpoint);
    }
  }

  /** What a 401 from the NameNode means for this repository's settings. */
  #hint401(response: HttpAnswer): string | undefined {
    if (response.statusCode !== 401) return undefined;
    const kerberos = this.#settings.kerberos;
    if (!kerberos) {
      const negotiate = String(response.headers['www-authenticate'] ?? '').startsWith('Negotiate');
      return negotiate
        ? 'the NameNode requires Kerberos (SPNEGO): kinit, then set MLFLOW_KERBEROS_TICKET_CACHE to the ticket cache (or hadoop.security.authentication=kerberos in core-site.xml to use the default cache)'
        : undefined;
    }
    return `the NameNode refused the Kerberos token of ${kerberos.principal ?? 'the default principal'} from ${kerberos.ticketCache ?? 'the default ticket cache'}`;
  }

  /**
   * One NameNode call. Answers 2xx and 307 are returned with their body unread; errors are thrown as
   * ArtifactsErrors. A StandbyException or a broken connection moves on to the next NameNode (HA
   * failover), each tried once per call.
   */
  async call(
    method: string,
    path: string,
    op: string,
    params: Params,
    options: CallOptions,
  ): Promise<HttpAnswer> {
    if (this.#closed)
      throw new ArtifactsError('failed_precondition', `${options.what}: the repository is closed`);
    const { endpoints } = this.#settings;
    let error: unknown;
    for (let tried = 0, refreshed = false; tried < endpoints.length; tried++) {
      const endpoint = endpoints[this.#active] ?? endpoints[0]!;
      try {
        const response = await this.#http.request({
          method,
          url: this.#url(endpoint, path, op, params),
          headers: await this.#headers(endpoint),
          signal: options.signal,
        });
        if (this.#settings.kerberos) {
          const sentCookie = this.#authCookies.get(endpoint);
          this.#keepAuthCookie(endpoint, response);
          // a refused cookie (expired, or the NameNode restarted with a new secret): once more with
          // a fresh token; the call was not carried out, so this is safe for any call
          if (response.statusCode === 401 && sentCookie !== undefined && !refreshed) {
            this.#authCookies.delete(endpoint);
            await discardBody(response.body);
            refreshed = true;
            tried--;
            continue;
          }
        }
        if (response.statusCode < 300 || response.statusCode === 307) return response;
        error = webhdfsError(response.statusCode, await readBodyText(response.body), {
          what: options.what,
          hint: this.#hint401(response),
        });
      } catch (thrown) {
        options.signal?.throwIfAborted();
        if (ArtifactsError.is(thrown)) throw thrown;
        // Refused by (or no such) NameNode when none ever answered: a wrong address or a server that
        // is not running, which waiting will not fix (unless another NameNode of the list answers).
        error = webhdfsFailure(thrown, {
          what: `${options.what} (${endpoint})`,
          endpoint,
          reached: endpoints.some((e) => this.#http.reached(e)),
        });
        if (!ArtifactsError.is(error)) throw thrown;
      }
      const failover = isStandby(error) || isTemporaryError(error) || isConnectionError(error);
      if (!failover && !(ArtifactsError.is(error) && error.context.reason === 'unknown_host')) throw error;
      this.#active = (this.#active + 1) % endpoints.length;
    }
    throw error;
  }

  /** A call answered with JSON (GETFILESTATUS, LISTSTATUS, MKDIRS, DELETE, RENAME). */
  async json<T>(method: string, path: string, op: string, params: Params, options: CallOptions): Promise<T> {
    const response = await this.call(method, path, op, params, options);
    if (response.statusCode === 307) {
      await discardBody(response.body);
      throw new ArtifactsError('internal', `${options.what}: unexpected redirect from WebHDFS ${op}`);
    }
    // rename2 (RENAME with renameoptions) answers 200 with an empty body.
    const text = await readBodyText(response.body);
    return (text.trim() === '' ? {} : JSON.parse(text)) as T;
  }

  /** A call the NameNode answers with a redirect to a DataNode (CREATE, OPEN): the DataNode's URL. */
  async redirect(
    method: string,
    path: string,
    op: string,
    params: Params,
    options: CallOptions,
  ): Promise<string> {
    const response = await this.call(method, path, op, params, options);
    const location = headerString(response.headers.location);
    await discardBody(response.body);
    if (response.statusCode !== 307 || typeof location !== 'string') {
      throw new ArtifactsError(
        'internal',
        `${options.what}: WebHDFS ${op} answered HTTP ${response.statusCode} without a redirect to a DataNode`,
      );
    }
    return location;
  }

  /** The DataNode half of CREATE: streams `body` to the redirect's URL. */
  async upload(
    location: string,
    body: Readable,
    options: { signal?: AbortSignal | undefined; what: string },
  ): Promise<void> {
    const what = `${options.what} (DataNode ${new URL(location).host})`;
    const response = await this.#dataNode('PUT', location, body, options.signal, what);
    await discardBody(response.body);
    if (response.statusCode !== 201) throw webhdfsError(response.statusCode, '', { what });
  }

  /**
   * The DataNode half of OPEN: the body of the redirect's URL, and its length (the DataNode's
   * `Content-Length`: the bytes asked for, or fewer where the file ends) when the answer says.
   */
  async download(
    location: string,
    options: { signal?: AbortSignal | undefined; what: string },
  ): Promise<{ stream: Readable; length: number | undefined }> {
    const what = `${options.what} (DataNode ${new URL(location).host})`;
    const response = await this.#dataNode('GET', location, undefined, options.signal, what);
    const length = Number(headerString(response.headers['content-length']) ?? Number.NaN);
    return { stream: response.body, length: Number.isSafeInteger(length) ? length : undefined };
  }

  /** One request to a DataNode; an answer other than 2xx is thrown with the DataNode's reason. */
  async #dataNode(
    method: string,
    url: string,
    body: Readable | undefined,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<HttpAnswer> {
    let response: HttpAnswer;
    try {
      const headers: Record<string, string> = body ? { 'content-type': 'application/octet-stream' } : {};
      response = await this.#http.request({ method, url, headers, body, signal });
    } catch (error) {
      signal?.throwIfAborted();
      throw webhdfsFailure(error, { what, endpoint: url, reached: true });
    }
    if (response.statusCode >= 300) {
      // The DataNode may answer (an error) before the whole body was sent.
      const text = await readBodyText(response.body, 64 * 1024);
      throw webhdfsError(response.statusCode, text, { what });
    }
    return response;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // destroy, not close: an unread download must not keep the repository (and the process) open.
    this.#http.destroy();
  }
}
