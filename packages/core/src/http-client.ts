import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { Agent, Dispatcher } from 'undici';
import { RELEASE_CHUNK } from './driver.js';
import { ArtifactsError } from './errors.js';
import { ownsBuffer, release } from './internal/release.js';
import { CHUNK_SINK, type ChunkSink } from './internal/streams.js';

/**
 * The one lean HTTP request of the HTTP-speaking drivers (the MLflow proxy client, S3's data path,
 * Azure, GCS, WebHDFS): undici's keep-alive pools sized to the transfer's concurrency, one exchange
 * per call with a stall bound and a back-pressured body, and whether an origin ever answered.
 * Status mapping, signing and messages stay with each driver.
 *
 * undici (the Node project's HTTP/1.1 client) instead of node:http: its parser hands each body chunk
 * as a view of the socket's read (node:http's copies it), and a dispatch handler gets the chunks
 * without a stream per answer; core's download engine takes them straight from the handler
 * (`CHUNK_SINK`). Measured in docs/benchmarks.md ("The HTTP transport").
 */

/** TLS settings of the https connections. */
export interface HttpTlsOptions {
  rejectUnauthorized?: boolean;
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

export interface HttpPoolOptions {
  /** Connections kept per origin: the transfer's concurrency. */
  connections: number;
  tls?: HttpTlsOptions;
  /**
   * Bounds each new connection (TCP connect, and the TLS handshake for https): one not made in time
   * fails the exchange as a temporary `timeout` naming the limit and host:port. 0 / unset = none.
   */
  connectMs?: number;
  /** The setting that sets `connectMs`, named in its error (e.g. `connectTimeoutMs`). */
  connectSetting?: string;
}

export interface HttpExchange {
  method: string;
  url: string | URL;
  headers?: Record<string, string>;
  /** Bytes, or a stream (read without being destroyed when the request fails). */
  body?: Buffer | Uint8Array | string | Readable | undefined;
  signal?: AbortSignal | undefined;
  /** Bounds the wait for the answer and each pause of its body (and of the request's); 0 = none. */
  stallMs?: number;
  /** Names a stall, which fails the exchange (and its body) as a temporary `timeout`. */
  stallMessage?: (seconds: number) => string;
  /** Counts a stream body's bytes as they are handed to the connection (bytes can be sent again). */
  sent?: { bytes: number };
}

/** An answer of any status: its body is the caller's to read, or to `discardBody`. */
export interface HttpAnswer {
  statusCode: number;
  /** Lower-case names; a header sent more than once is joined with ', ' (`set-cookie`: a list). */
  headers: IncomingHttpHeaders;
  body: Readable;
}

/**
 * node:http(s) as their CommonJS objects, on first use: an ES import builds the whole namespace,
 * whose lazy getters load Node's bundled undici (about 0.15 s of CPU and 9 MB in every process).
 */
export function nodeHttp(https: boolean): typeof import('node:http') {
  return process.getBuiltinModule(https ? 'node:https' : 'node:http') as typeof import('node:http');
}

// tsup.config.ts defines it per output format; unset (vitest runs the source as ESM) means ESM.
declare const __ARTIFACTS_CORE_FORMAT__: string | undefined;
const BUILD_FORMAT = typeof __ARTIFACTS_CORE_FORMAT__ === 'string' ? __ARTIFACTS_CORE_FORMAT__ : 'esm';

let agentClass: typeof Agent | undefined;

/**
 * undici's `Agent` alone, on first use: its index loads fetch, WebSocket, caches and the rest
 * (0.17 s of CPU and 26 MB); the agent and its pool cost 0.06 s and 10 MB.
 */
function loadAgent(): typeof Agent {
  const load = BUILD_FORMAT === 'cjs' ? require : createRequire(import.meta.url);
  agentClass ??= load('undici/lib/dispatcher/agent.js') as typeof Agent;
  return agentClass;
}

function originOf(url: string | URL): string {
  try {
    return new URL(url).origin;
  } catch {
    return String(url);
  }
}

/** A keep-alive connection pool per origin and the exchanges sent over it. */
export class HttpPool {
  readonly #connections: number;
  readonly #tls: HttpTlsOptions;
  readonly #connectMs: number;
  readonly #connectSetting: string | undefined;
  #agent: Agent | undefined;
  /** Origins that have answered at least once: only their refusals are worth retrying. */
  readonly #answered = new Set<string>();

  constructor(options: HttpPoolOptions) {
    this.#connections = Math.max(1, options.connections);
    this.#tls = options.tls ?? {};
    this.#connectMs = options.connectMs ?? 0;
    this.#connectSetting = options.connectSetting;
  }

  #dispatcher(): Agent {
    if (this.#agent) return this.#agent;
    const AgentClass = loadAgent();
    this.#agent = new AgentClass({
      connections: this.#connections,
      // Pipelining would put a request behind another one's body on the same connection.
      pipelining: 1,
      // Our own stall bound (`stallMs`) watches the exchange; undici's would fail it with its own.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: { timeout: this.#connectMs, ...this.#tls },
    });
    return this.#agent;
  }

  /** Sends one request; resolves with the answer whatever its status, rejects on a network failure. */
  async request(exchange: HttpExchange): Promise<HttpAnswer> {
    exchange.signal?.throwIfAborted();
    const answer = await this.#exchange(exchange, this.#dispatcher());
    this.#answered.add(originOf(exchange.url));
    return answer;
  }

  /**
   * Whether `url`'s origin has answered this pool before: a refusal from it then means a restart
   * (worth retrying), not a wrong address (see core's `connectFailure`).
   */
  reached(url: string | URL): boolean {
    return this.#answered.has(originOf(url));
  }

  #exchange(exchange: HttpExchange, agent: Agent): Promise<HttpAnswer> {
    const target = typeof exchange.url === 'string' ? new URL(exchange.url) : exchange.url;
    const { signal, stallMs, sent } = exchange;
    return new Promise<HttpAnswer>((resolve, reject) => {
      let controller: Dispatcher.DispatchController | undefined;
      let body: AnswerBody | undefined;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const fail = (error: unknown) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (body) body.fail(error);
        else reject(this.#explain(error, target));
      };
      const stop = (error: Error) => {
        if (controller && !controller.aborted) controller.abort(error);
        // Not started yet (queued behind the pool's connections): it never will be.
        else if (!controller) fail(error);
      };
      const onAbort = () => stop(abortError(signal?.reason));
      if (stallMs && stallMs > 0) {
        timer = setTimeout(() => {
          const seconds = stallMs / 1000;
          const message = exchange.stallMessage?.(seconds) ?? `nothing received for ${seconds} s`;
          stop(new ArtifactsError('timeout', message, { temporary: true }));
        }, stallMs);
      }
      // Re-arms the stall bound: bytes moved.
      const touch = timer ? () => timer?.refresh() : undefined;
      signal?.addEventListener('abort', onAbort, { once: true });
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(started) {
          controller = started;
          if (done) started.abort(abortError(signal?.reason));
        },
        onResponseStart(_controller, statusCode, headers) {
          // 1xx: an interim answer; the real one follows.
          if (statusCode < 200 || done) return;
          touch?.();
          body = new AnswerBody(controller!, touch);
          resolve({ statusCode, headers: joinHeaders(headers), body });
        },
        onResponseData(_controller, chunk) {
          touch?.();
          body?.data(chunk);
        },
        onResponseEnd() {
          done = true;
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          body?.end();
        },
        onResponseError(_controller, error) {
          fail(error);
        },
      };
      agent.dispatch(
        {
          origin: target.origin,
          path: `${target.pathname}${target.search}`,
          method: exchange.method as Dispatcher.HttpMethod,
          headers: exchange.headers ?? {},
          // undici closes a connection after a HEAD (against servers that send a body with it);
          // the stores answer HEADs by the book, and a stat per file must not cost a connection.
          ...(exchange.method === 'HEAD' ? { reset: false } : {}),
          // undici sends an async iterable as it does a stream (its types say only Readable).
          body: requestBody(exchange.body, sent, touch) as Dispatcher.DispatchOptions['body'],
        },
        handler,
      );
    });
  }

  /** undici's failures in the words of core's callers: a connect timeout names the setting. */
  #explain(error: unknown, target: URL): unknown {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'UND_ERR_CONNECT_TIMEOUT') {
      const seconds = this.#connectMs / 1000;
      const where = `${target.hostname}:${target.port || (target.protocol === 'https:' ? 443 : 80)}`;
      const setting = this.#connectSetting ? ` (${this.#connectSetting})` : '';
      return new ArtifactsError('timeout', `no connection to ${where} within ${seconds} s${setting}`, {
        temporary: true,
        cause: error,
      });
    }
    return withUnreadBytes(error);
  }

  destroy(): void {
    void this.#agent?.destroy().catch(() => undefined);
  }
}

/** The error an aborted exchange fails with (Node's `AbortError`), the signal's reason as its cause. */
function abortError(reason: unknown): Error {
  return Object.assign(new Error('The operation was aborted', { cause: reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/** A stream body is read without being destroyed (a failed part is sent again from its source). */
function requestBody(
  body: HttpExchange['body'],
  sent: { bytes: number } | undefined,
  touch: (() => void) | undefined,
): Buffer | Uint8Array | string | AsyncIterable<Buffer> | undefined {
  if (!(body instanceof Readable)) return body;
  return (async function* () {
    for await (const chunk of body.iterator({ destroyOnReturn: false })) {
      if (sent) sent.bytes += (chunk as Buffer).length;
      touch?.();
      yield chunk as Buffer;
    }
  })();
}

/** node:http's shape: a header given twice is one string joined with ', ', except `set-cookie`. */
function joinHeaders(headers: Record<string, string | string[] | undefined>): IncomingHttpHeaders {
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value) && name !== 'set-cookie') headers[name] = value.join(', ');
  }
  return headers as IncomingHttpHeaders;
}

/**
 * An answer's body: a Readable fed by the dispatch handler (paused while the reader is behind), or —
 * for core's download engine — a `CHUNK_SINK` that gets each chunk as the parser hands it, with no
 * stream in between. Until a reader comes the chunks wait here (usually the one that came with the
 * headers). Each chunk that is a whole socket read (most of a large body) carries core's
 * `RELEASE_CHUNK`: its last consumer frees it once written, instead of leaving it to the garbage
 * collector.
 */
class AnswerBody extends Readable implements ChunkSinkSource {
  readonly #controller: Dispatcher.DispatchController;
  readonly #touch: (() => void) | undefined;
  /** Chunks received before a reader came. */
  #waiting: Buffer[] | undefined = [];
  #waitingBytes = 0;
  #ended = false;
  /** The whole body came. */
  #complete = false;
  #error: unknown;
  #sink: ChunkSink | undefined;

  constructor(controller: Dispatcher.DispatchController, touch: (() => void) | undefined) {
    super();
    this.#controller = controller;
    this.#touch = touch;
  }

  data(chunk: Buffer): void {
    if (ownsBuffer(chunk)) {
      (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => release(chunk);
    }
    if (this.#sink) {
      if (!this.#sink.data(chunk)) this.#controller.pause();
    } else if (this.#waiting) {
      this.#waiting.push(chunk);
      this.#waitingBytes += chunk.length;
      if (this.#waitingBytes >= this.readableHighWaterMark) this.#controller.pause();
    } else if (!this.push(chunk)) {
      this.#controller.pause();
    }
  }

  end(): void {
    this.#ended = true;
    this.#complete = true;
    if (this.#sink) {
      this.#sink.end();
      this.destroy();
    } else if (!this.#waiting) this.push(null);
  }

  fail(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    // Through `destroy`, so that a driver that maps its body's errors there (Azure) maps these too.
    if (this.#sink || !this.#waiting) this.destroy(error as Error);
  }

  /** Read as a stream from here on. */
  #stream(): void {
    const waiting = this.#waiting;
    if (!waiting) return;
    this.#waiting = undefined;
    for (const chunk of waiting) this.push(chunk);
    if (this.#error !== undefined) this.destroy(this.#error as Error);
    else if (this.#ended) this.push(null);
  }

  override _read(): void {
    if (this.#waiting) this.#stream();
    else this.#controller.resume();
  }

  [CHUNK_SINK](sink: ChunkSink): (() => void) | undefined {
    const waiting = this.#waiting;
    if (!waiting || this.#sink) return undefined;
    this.#waiting = undefined;
    this.#sink = sink;
    // A failure reaches the sink as the stream's error (after any mapping of it); a body destroyed
    // before its end without one, as an abort.
    this.on('error', (error) => sink.error(error));
    this.once('close', () => {
      if (!this.#complete) sink.error(this.errored ?? abortError(undefined));
    });
    let more = true;
    for (const chunk of waiting) more = sink.data(chunk) && more;
    if (this.#error !== undefined) this.destroy(this.#error as Error);
    else if (this.#complete) {
      sink.end();
      this.destroy();
    } else if (more) this.#controller.resume();
    return () => {
      this.#touch?.();
      this.#controller.resume();
    };
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Left before its end: the connection cannot be reused for another exchange.
    if (!this.#ended) {
      this.#ended = true;
      if (!this.#controller.aborted) this.#controller.abort(error ?? abortError(undefined));
    }
    // As node:http's answers do: an error nobody listens for is not thrown.
    callback(this.listenerCount('error') > 0 ? error : null);
  }
}

interface ChunkSinkSource {
  [CHUNK_SINK](sink: ChunkSink): (() => void) | undefined;
}

export function headerString(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a (small) body as text, at most `limit` characters; a body cut short keeps what came. */
export async function readBodyText(body: Readable, limit = Number.POSITIVE_INFINITY): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length > limit) break;
    }
  } catch (error) {
    if (limit === Number.POSITIVE_INFINITY) throw error;
  }
  if (length > limit) body.destroy();
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads and drops a body nobody needs, so its connection goes back to the pool. */
export async function discardBody(body: Readable): Promise<void> {
  await finished(body.resume());
}

/**
 * An answer the HTTP parser could not read (`HPE_*`, e.g. "Expected HTTP/"): its message gains
 * what the parser met — the first bytes from where it stopped (escaped, at most 16: a status line's
 * worth, never a credential) and how many were left — which tells a cut or garbled answer from bytes
 * that are no answer at all (another protocol's greeting, the request itself coming back, zeroed
 * memory).
 */
function withUnreadBytes(error: unknown): unknown {
  const e = error as { name?: unknown; code?: unknown; data?: unknown; message?: unknown };
  if (e?.name === 'HTTPParserError' && e.code === undefined && typeof e.message === 'string') {
    // undici 7 looks its llhttp code up by number in a table keyed by name, so it is always
    // undefined: the reason is in the message. "Expected HTTP/" is llhttp's INVALID_CONSTANT.
    e.code = /Expected HTTP\//.test(e.message) ? 'HPE_INVALID_CONSTANT' : 'HPE_INVALID_RESPONSE';
  }
  if (typeof e?.code !== 'string' || !e.code.startsWith('HPE_') || typeof e.message !== 'string')
    return error;
  // undici keeps the bytes from where its parser stopped, as text.
  const rest = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : undefined;
  const met = rest?.length
    ? `the parser stopped where ${rest.length} bytes were left, beginning with ${JSON.stringify(rest.subarray(0, 16).toString('latin1'))}`
    : 'the bytes it failed on are gone';
  (e as { message: string }).message = `${e.message} (${met})`;
  return error;
}
