import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  asksForNegotiate,
  discardBody,
  encodePath,
  type HttpAnswer,
  headerString,
  isConnectionError,
  isTemporaryError,
  readBodyText,
  Spnego,
  StoreHttp,
  StoreHttpError,
  type StoreRequest,
} from '@artifacts/core';
import { isStandby, webhdfsErrorDetail, webhdfsFailure } from './errors.js';
import type { HdfsSettings } from './settings.js';

// A variable keeps bundlers and tsc from resolving the optional dependency at build time.
const KERBEROS_PACKAGE = 'kerberos';
const loadKerberos = () => import(KERBEROS_PACKAGE);

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
 * A small WebHDFS client over core's `StoreHttp` (keep-alive sockets, at most `maxConnections` per
 * origin, NameNode and DataNodes alike; node:http skips the unsolicited `100 Continue` a DataNode
 * sends before its `201`; error bodies read by `webhdfsErrorDetail`): redirects to DataNodes
 * followed by hand so that request bodies stream exactly once, and failover between HA NameNodes.
 * It never retries: its errors say whether another attempt may succeed (`temporary`), and core's
 * retry layer repeats them.
 */
export class WebHdfsClient {
  readonly #settings: HdfsSettings;
  readonly #http: StoreHttp;
  /** Index of the NameNode that last answered as active. */
  #active = 0;
  /** A NameNode has answered this client: a refused connect is then a restart, temporary. */
  #reached = false;
  #closed = false;
  /**
   * Kerberos (core's SPNEGO): a token, then the signed `hadoop.auth` cookie each NameNode answered
   * it with, as Hadoop's own AuthenticatedURL does, until the NameNode refuses it (expired: 10 h by default).
   */
  readonly #spnego: Spnego | undefined;

  constructor(settings: HdfsSettings) {
    this.#settings = settings;
    this.#spnego =
      settings.kerberos &&
      new Spnego(settings.kerberos, {
        load: loadKerberos,
        owner: '@artifacts/hdfs',
        principalSetting: 'MLFLOW_KERBEROS_USER',
        server: 'the NameNode',
        cookie: 'hadoop.auth',
      });
    this.#http = new StoreHttp({
      endpoint: settings.endpoints[0]!,
      store: 'WebHDFS',
      connections: settings.maxConnections,
      ...(settings.ca ? { tls: { ca: settings.ca } } : {}),
      errorDetail: webhdfsErrorDetail,
    });
  }

  /** What a 401 from the NameNode means for this repository's settings. */
  #hint401(error: unknown): string | undefined {
    if (!(error instanceof StoreHttpError) || error.status !== 401) return undefined;
    if (this.#spnego) return this.#spnego.hint401();
    return asksForNegotiate(error.headers)
      ? 'the NameNode requires Kerberos (SPNEGO): kinit, then set MLFLOW_KERBEROS_TICKET_CACHE to the ticket cache (or hadoop.security.authentication=kerberos in core-site.xml to use the default cache)'
      : undefined;
  }

  /**
   * One NameNode call. Answers 2xx (and with `redirect`, a redirect) are returned with their body
   * unread; errors are thrown as ArtifactsErrors. A StandbyException or a broken connection moves on
   * to the next NameNode (HA failover), each tried once per call.
   */
  async call(
    method: string,
    path: string,
    op: string,
    params: Params,
    options: CallOptions & { redirect?: boolean },
  ): Promise<HttpAnswer> {
    if (this.#closed)
      throw new ArtifactsError('failed_precondition', `${options.what}: the repository is closed`);
    const { endpoints, user } = this.#settings;
    const query: [string, string | undefined][] = [['op', op]];
    for (const [k, v] of Object.entries(params)) query.push([k, v === undefined ? v : String(v)]);
    query.push(['user.name', user]);
    let error: unknown;
    for (let tried = 0, refreshed = false; tried < endpoints.length; tried++) {
      const endpoint = endpoints[this.#active] ?? endpoints[0]!;
      const sentCookie = this.#spnego?.cookie(endpoint);
      try {
        const answer = await this.#http.send({
          method,
          origin: endpoint,
          path: `/webhdfs/v1${encodePath(path)}`,
          query,
          headers: this.#spnego ? await this.#spnego.headers(endpoint) : {},
          signal: options.signal,
          redirect: options.redirect === true,
        });
        this.#reached = true;
        this.#spnego?.answered(endpoint, answer.headers);
        return answer;
      } catch (thrown) {
        options.signal?.throwIfAborted();
        if (ArtifactsError.is(thrown)) throw thrown;
        const answered = thrown instanceof StoreHttpError;
        if (answered) {
          this.#reached = true;
          this.#spnego?.answered(endpoint, thrown.headers);
          // a refused cookie: once more with a fresh token
          if (thrown.status === 401 && !refreshed && this.#spnego?.refused(endpoint, sentCookie)) {
            refreshed = true;
            tried--;
            continue;
          }
        }
        // Refused by (or no such) NameNode when none ever answered: a wrong address or a server that
        // is not running, which waiting will not fix (unless another NameNode of the list answers).
        error = webhdfsFailure(thrown, {
          what: answered ? options.what : `${options.what} (${endpoint})`,
          endpoint,
          reached: this.#reached,
          hint: this.#hint401(thrown),
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
    // A redirect here is an error answer (only `redirect` takes one).
    const response = await this.call(method, path, op, params, options);
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
    const response = await this.call(method, path, op, params, { ...options, redirect: true });
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
  async upload(location: string, body: Readable, options: CallOptions): Promise<void> {
    const headers = { 'content-type': 'application/octet-stream' };
    const { answer, what } = await this.#dataNode({ method: 'PUT', url: location, headers, body }, options);
    await discardBody(answer.body);
    if (answer.statusCode !== 201)
      throw new ArtifactsError('internal', `${what}: the DataNode answered ${answer.statusCode}, not 201`);
  }

  /**
   * The DataNode half of OPEN: the body of the redirect's URL, and its length (the DataNode's
   * `Content-Length`: the bytes asked for, or fewer where the file ends) when the answer says.
   */
  async download(
    location: string,
    options: CallOptions,
  ): Promise<{ stream: Readable; length: number | undefined }> {
    const { answer } = await this.#dataNode({ method: 'GET', url: location }, options);
    const length = Number(headerString(answer.headers['content-length']) ?? Number.NaN);
    return { stream: answer.body, length: Number.isSafeInteger(length) ? length : undefined };
  }

  /** One request to a DataNode; an answer other than 2xx is thrown with the DataNode's reason. */
  async #dataNode(
    request: StoreRequest & { url: string },
    { signal, what: doing }: CallOptions,
  ): Promise<{ answer: HttpAnswer; what: string }> {
    const what = `${doing} (DataNode ${new URL(request.url).host})`;
    try {
      return { answer: await this.#http.send({ ...request, signal }), what };
    } catch (error) {
      signal?.throwIfAborted();
      throw webhdfsFailure(error, { what, endpoint: request.url, reached: true });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // destroy, not close: an unread download must not keep the repository (and the process) open.
    this.#http.destroy();
  }
}
