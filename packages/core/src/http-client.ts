import type { Agent, ClientRequest, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { ConnectionLife, ConnectionPool, type Lease } from './connection-pool.js';
import { RELEASE_CHUNK } from './driver.js';
import { ArtifactsError } from './errors.js';
import { ownsBuffer, release } from './internal/release.js';

/**
 * The one lean HTTP request of the HTTP-speaking drivers (the MLflow proxy client, the object stores,
 * WebHDFS): keep-alive sockets sized to the transfer's concurrency — core's own HTTP/1.1 client on
 * plain HTTP (`LeanSockets`), node:https's agent on TLS — one exchange per call with a stall bound
 * and a back-pressured stream body, and whether an origin ever answered.
 * Status mapping, signing and messages stay with each driver.
 */

/** TLS settings of the https agent. */
export interface HttpTlsOptions {
  rejectUnauthorized?: boolean;
  ca?: Buffer | string;
  cert?: Buffer | string;
  key?: Buffer | string;
}

export interface HttpPoolOptions {
  /** Sockets kept per protocol: the transfer's concurrency. */
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
  /** Bounds the wait for the answer and each pause of its body (the socket's idle timeout); 0 = none. */
  stallMs?: number;
  /** Names a stall, which fails the exchange (and its body) as a temporary `timeout`. */
  stallMessage?: (seconds: number) => string;
  /** Counts a stream body's bytes as they are handed to the socket (bytes can be sent again). */
  sent?: { bytes: number };
  /**
   * Sends a bodiless, idempotent plain-HTTP exchange through core's own HTTP/1.1 client
   * (`LeanSockets`) instead of node:http's: `StoreHttp` asks it for ranged GETs (a large download's
   * parts). TLS always goes through node:https; an answer the lean client does not read (chunked,
   * or an interim 1xx first) is asked for once more through node:http. Not the default: measured on
   * 5,000 small files it saved 10–35 % of the client's CPU but raised its peak RSS by 30–60 MiB
   * (docs/benchmarks/server.md, 2026-12-02 lean).
   */
  lean?: boolean;
}

/** An answer of any status: its body is the caller's to read, or to `discardBody`. */
export interface HttpAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/**
 * node:http(s) as their CommonJS objects, on first use: an ES import builds the whole namespace,
 * whose lazy getters load Node's bundled undici (about 0.15 s of CPU and 9 MB in every process).
 */
export function nodeHttp(https: boolean): typeof import('node:http') {
  return process.getBuiltinModule(https ? 'node:https' : 'node:http') as typeof import('node:http');
}

/** What an exchange needs of its URL. */
interface Target {
  https: boolean;
  /** The host name, an IPv6 address without its brackets. */
  hostname: string;
  port: number;
  /** Path and query, as sent. */
  path: string;
  /** As `URL.origin` gives it. */
  origin: string;
}

/**
 * An http(s) URL that `new URL` would take as it is (a lower-case host name or an IP address, a
 * port without leading zeros, a path and query of characters it keeps unescaped, no dot segment,
 * no fragment): read by one match instead of a URL object and its options copy per request.
 */
const PLAIN_URL =
  /^(https?):\/\/([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::([1-9][0-9]{0,4}))?((?:\/[\w\-.~!$&'()*+,;=:@%]*)*)(\?[\w\-.~!$&()*+,;=:@%/?]*)?$/;
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|\?|$)/i;

function targetOf(url: string | URL): Target {
  const plain = typeof url === 'string' ? PLAIN_URL.exec(url) : null;
  if (plain && Number(plain[3] ?? 0) <= 65_535 && !DOT_SEGMENT.test(plain[4]!)) {
    const [, scheme, host, port, path, query] = plain;
    const https = scheme === 'https';
    const fallback = https ? 443 : 80;
    const number = port === undefined ? fallback : Number(port);
    return {
      https,
      hostname: host!.startsWith('[') ? host!.slice(1, -1) : host!,
      port: number,
      path: `${path || '/'}${query ?? ''}`,
      origin: `${scheme}://${host}${number === fallback ? '' : `:${number}`}`,
    };
  }
  const u = typeof url === 'string' ? new URL(url) : url;
  const https = u.protocol === 'https:';
  return {
    https,
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port === '' ? (https ? 443 : 80) : Number(u.port),
    path: `${u.pathname}${u.search}`,
    origin: u.origin,
  };
}

function originOf(url: string | URL): string {
  try {
    return targetOf(url).origin;
  } catch {
    return String(url);
  }
}

/** Methods node:http sends a body of unknown length chunked for (and a bodiless one with `Content-Length: 0`). */
const BODY_METHODS = /^(?!(?:GET|HEAD|DELETE|OPTIONS|TRACE|CONNECT)$)/i;

/**
 * The exchange's headers as node:http's raw list (`[name, value, …]`), written as they are instead
 * of through `setHeader` (an entry object per header, per request), with what node:http adds by
 * itself to headers given as an object: `Host`, and the `Content-Length` of a body in memory (or
 * 0 for none) for a method that would otherwise be sent chunked. A stream body's length is the
 * caller's to give (else it goes chunked, as before).
 */
function rawHeaders(exchange: HttpExchange, target: Target): string[] {
  const raw: string[] = [];
  let host = false;
  let length = false;
  const headers = exchange.headers;
  if (headers) {
    for (const name in headers) {
      const value = headers[name]!;
      raw.push(name, value);
      if (name.length === 4 && name.toLowerCase() === 'host') host = true;
      else if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
    }
  }
  if (!host) raw.push('Host', target.origin.slice(target.origin.indexOf('//') + 2));
  const { body } = exchange;
  if (!length && !(body instanceof Readable) && BODY_METHODS.test(exchange.method)) {
    raw.push(
      'Content-Length',
      String(body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength),
    );
  }
  return raw;
}

/** How node:http fails a request whose signal aborted (its own `AbortError`). */
function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/** A keep-alive socket pool per protocol and the exchanges sent over it. */
export class HttpPool {
  readonly #connections: number;
  readonly #tls: HttpTlsOptions;
  readonly #connectMs: number;
  readonly #connectSetting: string | undefined;
  readonly #agents: { http?: Agent; https?: Agent } = {};
  /** Origins that have answered at least once: only their refusals are worth retrying. */
  readonly #answered = new Set<string>();
  /** Keep-alive sockets of core's own plain-HTTP client (see `LeanSockets`), made on its first use. */
  #lean: LeanSockets | undefined;

  constructor(options: HttpPoolOptions) {
    this.#connections = Math.max(1, options.connections);
    this.#tls = options.tls ?? {};
    this.#connectMs = options.connectMs ?? 0;
    this.#connectSetting = options.connectSetting;
  }

  agent(https: boolean): Agent {
    const key = https ? 'https' : 'http';
    const { Agent } = nodeHttp(https);
    if (!this.#agents[key]) {
      const agent = new Agent({
        keepAlive: true,
        maxSockets: this.#connections,
        ...(https ? this.#tls : {}),
      });
      if (!https) agent.createConnection = connectReadingInto as unknown as Agent['createConnection'];
      this.#agents[key] = agent;
    }
    return this.#agents[key];
  }

  /**
   * Sends one request; resolves with the answer whatever its status, rejects on a network failure.
   *
   * A keep-alive socket the peer closed while it lay idle in the pool (its keep-alive timeout met
   * our reuse) fails the request on it before any answer, with nothing of the request read: such a
   * request is sent again on another socket, which is not a retry of a store failure (Node's own
   * advice: `req.reusedSocket` and `ECONNRESET`; Go's transport does the same). Only an idempotent
   * request (RFC 9110: not a POST, whose first sending the peer may have acted on) whose body can be
   * sent again (bytes, not a stream), at most once per pooled socket plus one.
   */
  async request(exchange: HttpExchange): Promise<HttpAnswer> {
    exchange.signal?.throwIfAborted();
    const resendable = IDEMPOTENT.has(exchange.method.toUpperCase()) && !(exchange.body instanceof Readable);
    const target = targetOf(exchange.url);
    // Plain HTTP through core's own client when a bodiless exchange asks for it (`lean`: ranged
    // GETs); TLS, bodies and anything else through node:http(s).
    let lean = exchange.lean === true && !target.https && exchange.body === undefined && resendable;
    for (let tries = this.#connections + 1; ; tries -= 1) {
      try {
        const answer = lean
          ? await this.#leanSockets().request(exchange, target)
          : await this.#exchange(exchange, target);
        this.#answered.add(target.origin);
        return answer;
      } catch (error) {
        if (notLean(error) && !exchange.signal?.aborted) {
          // An answer core's client does not read (chunked, 1xx first): asked again through node:http.
          lean = false;
          tries += 1;
          continue;
        }
        if (!(resendable && tries > 1 && staleSocket(error)) || exchange.signal?.aborted) throw error;
      }
    }
  }

  #leanSockets(): LeanSockets {
    this.#lean ??= new LeanSockets(this.#connections, this.#connectMs, this.#connectSetting);
    return this.#lean;
  }

  /**
   * Whether `url`'s origin has answered this pool before: a refusal from it then means a restart
   * (worth retrying), not a wrong address (see core's `connectFailure`).
   */
  reached(url: string | URL): boolean {
    return this.#answered.has(originOf(url));
  }

  #exchange(exchange: HttpExchange, target: Target): Promise<HttpAnswer> {
    const { https } = target;
    const { request } = nodeHttp(https);
    const agent = this.agent(https);
    const { signal, body, stallMs, sent } = exchange;
    return new Promise((resolve, reject) => {
      let response: IncomingMessage | undefined;
      // Options, not a URL (node:http copies every field of its options three times per request).
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          path: target.path,
          method: exchange.method,
          headers: rawHeaders(exchange, target),
          agent,
        },
        (res) => {
          response = res;
          freeSocketReads(res);
          lendBodyChunks(res);
          resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body: res });
        },
      );
      if (signal) {
        // One listener, removed once the exchange is over (node:http's own `signal` option costs a
        // stream-end watcher and its closures per request).
        const abort = () => req.destroy(abortError(signal));
        if (signal.aborted) abort();
        else {
          signal.addEventListener('abort', abort, { once: true });
          req.once('close', () => signal.removeEventListener('abort', abort));
        }
      }
      if (this.#connectMs > 0) req.on('socket', (socket) => this.#boundConnect(req, socket, target));
      if (stallMs && stallMs > 0) {
        req.setTimeout(stallMs, () => {
          const seconds = stallMs / 1000;
          const message = exchange.stallMessage?.(seconds) ?? `nothing received for ${seconds} s`;
          const error = new ArtifactsError('timeout', message, { temporary: true });
          if (response) response.destroy(error);
          req.destroy(error);
        });
      }
      req.on('error', (error) => {
        // A pooled socket that was closed before any answer (see `request`).
        if (
          req.reusedSocket &&
          !response &&
          STALE_SOCKET_CODES.has((error as { code?: string }).code ?? '')
        ) {
          (error as { [STALE]?: boolean })[STALE] = true;
        }
        reject(withUnreadBytes(error));
      });
      if (!(body instanceof Readable)) {
        req.end(body);
        return;
      }
      (async () => {
        for await (const chunk of body.iterator({ destroyOnReturn: false })) {
          if (req.destroyed) return;
          if (sent) sent.bytes += (chunk as Buffer).length;
          // A chunk lent by its reader (core's RELEASE_CHUNK: a local file's 1 MiB reads) is freed
          // once the socket took it: an upload's memory stays flat instead of waiting for the collector.
          const free = (chunk as Uint8Array & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK];
          const written = free ? req.write(chunk, (error) => error || free()) : req.write(chunk);
          if (!written) {
            await new Promise<void>((done) => {
              const settle = () => {
                req.off('drain', settle).off('close', settle);
                done();
              };
              req.on('drain', settle).on('close', settle);
            });
          }
        }
        req.end();
      })().catch((error: unknown) => req.destroy(error as Error));
    });
  }

  /** A new socket must connect (and finish its TLS handshake) within `connectMs`. */
  #boundConnect(req: ClientRequest, socket: Socket, target: Target): void {
    // A socket the agent reuses is connected already; a new one is still connecting here.
    if (!socket.connecting) return;
    const done = target.https ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      const seconds = this.#connectMs / 1000;
      const where = `${target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname}:${target.port}`;
      const setting = this.#connectSetting ? ` (${this.#connectSetting})` : '';
      req.destroy(
        new ArtifactsError('timeout', `no connection to ${where} within ${seconds} s${setting}`, {
          temporary: true,
        }),
      );
    }, this.#connectMs);
    const clear = () => {
      clearTimeout(timer);
      socket.off(done, clear).off('close', clear);
    };
    socket.on(done, clear).on('close', clear);
  }

  destroy(): void {
    for (const agent of Object.values(this.#agents)) agent.destroy();
    this.#lean?.destroy();
  }
}

/**
 * Bytes a plain-TCP socket of the pool reads at once, into one buffer of its own reused for every
 * read. 256 KiB: 1 MiB reads measured worse (more CPU in the kernel: each body chunk is then one
 * write of up to 1 MiB, copied to the page cache cold, as larger writes were; docs/benchmarks/s3.md).
 */
const READ_SIZE = 256 * 1024;
const READ_BUFFER = Symbol('reads into a reused buffer');

/**
 * The http agent's connections: TCP sockets that read into one buffer of their own, reused for every
 * read (`net`'s `onread`), handed to node:http's parser as its `data`. Node's own sockets read at
 * most 64 KiB at a time, each read into a new buffer: a large download ran the parser, the answer's
 * chunk and the engine's JavaScript once per 64 KiB. The parser copies what it keeps (header
 * strings, each body chunk) before the read's callback returns, so the buffer is free again then.
 */
function connectReadingInto(options: import('node:net').NetConnectOpts, connected?: () => void): Socket {
  const net = process.getBuiltinModule('node:net') as typeof import('node:net');
  const buffer = Buffer.allocUnsafeSlow(READ_SIZE);
  const socket: Socket = net.createConnection(
    {
      ...options,
      onread: {
        buffer,
        callback: (bytes: number, read: Uint8Array) => {
          socket.emit('data', Buffer.from(read.buffer, read.byteOffset, bytes));
          return true;
        },
      },
    } as import('node:net').NetConnectOpts,
    connected,
  );
  (socket as { [READ_BUFFER]?: boolean })[READ_BUFFER] = true;
  return socket;
}

/** How a keep-alive socket the peer closed fails the request written on it. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);
const STALE = Symbol('stale pooled socket');
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const staleSocket = (error: unknown) => (error as { [STALE]?: boolean })?.[STALE] === true;

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

/**
 * Reads and drops a body nobody needs, so its connection goes back to the pool: resolves at its
 * end, rejects with its error or when it closes before its end (as `stream.finished`, with three
 * listeners instead of its watcher per request).
 */
export function discardBody(body: Readable): Promise<void> {
  if (body.readableEnded) return Promise.resolve();
  if (body.destroyed) return finished(body);
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: Error) => {
      body.off('end', settle).off('error', settle).off('close', closed);
      if (error) reject(error);
      else resolve();
    };
    const closed = () =>
      settle(
        body.readableEnded
          ? undefined
          : Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }),
      );
    body.on('end', settle).on('error', settle).on('close', closed);
    body.resume();
  });
}

/**
 * Node's HTTP client reads the socket into a new buffer per read, and its parser copies the body out
 * of it (each body chunk a buffer of its own): a read buffer is garbage once the parser has run.
 * While this answer's body is read, each one is freed right after the parser's listener (added when
 * the socket was assigned, so it runs first) instead of piling up until the garbage collector runs
 * (about 40 MiB at a time in a large download). A plain-TCP socket of the pool reads into one buffer
 * of its own instead (`connectReadingInto`), which is reused, never freed: only TLS sockets need this.
 */
function freeSocketReads(res: IncomingMessage): void {
  const socket = res.socket;
  if (!socket || (socket as { [READ_BUFFER]?: boolean })[READ_BUFFER]) return;
  // A read the parser failed on is kept: it is the error's `rawPacket` (see `withUnreadBytes`).
  const free = (read: Buffer) => {
    if (!socket.destroyed) release(read);
  };
  socket.on('data', free);
  res.once('close', () => socket.off('data', free));
}

/**
 * An answer Node's HTTP parser could not read (`HPE_*`, e.g. "Expected HTTP/"): its message gains
 * what the parser met — the first bytes of the socket read it failed on (escaped, at most 16: a
 * status line's worth, never a credential) and where in it it stopped — which tells a cut or
 * garbled answer from bytes that are no answer at all (another protocol's greeting, the request
 * itself coming back, zeroed memory).
 */
function withUnreadBytes(error: unknown): unknown {
  const e = error as { code?: unknown; rawPacket?: unknown; bytesParsed?: unknown; message?: unknown };
  if (typeof e?.code !== 'string' || !e.code.startsWith('HPE_') || typeof e.message !== 'string')
    return error;
  const read = e.rawPacket instanceof Uint8Array ? Buffer.from(e.rawPacket) : undefined;
  const at = typeof e.bytesParsed === 'number' ? `, the parser stopped at byte ${e.bytesParsed}` : '';
  const met = read?.length
    ? `the socket read of ${read.length} bytes began with ${JSON.stringify(read.subarray(0, 16).toString('latin1'))}${at}`
    : 'the bytes it failed on are gone';
  (e as { message: string }).message = `${e.message} (${met})`;
  return error;
}

/**
 * Each body chunk Node's parser hands an answer is a buffer of its own (a copy out of the socket's
 * read, see `freeSocketReads`): it carries core's `RELEASE_CHUNK`, so that its last consumer — a
 * download once the chunk is written at its offset, the proxy server once its socket took it —
 * frees it at once instead of leaving it to the garbage collector. A consumer that keeps chunks
 * never calls it.
 *
 * The answer also offers `TAKE_BODY`: a consumer that takes it gets each later body chunk straight
 * from the parser, past the answer's stream buffer, its events and its per-chunk read-ahead ticks
 * (core's download engine: one call per socket read instead of a push, a `data` event and a
 * scheduled read). The end, errors and `destroy` stay the stream's.
 */
function lendBodyChunks(res: IncomingMessage): void {
  // Shared functions and a state object, never a closure of its own on the answer: a fresh function
  // stored on each IncomingMessage made V8 keep answers past its scavenges (measured: the young
  // generation of 20,000 small requests grew to 128 MiB with it, 32 MiB without; docs/benchmarks/s3.md).
  const lent = res as LentAnswer;
  lent[LENT] = { taker: undefined };
  lent.push = lendingPush;
  lent[TAKE_BODY] = takeBody;
}

const LENT = Symbol('lent body');
type LentAnswer = IncomingMessage & {
  [LENT]: { taker: ((chunk: Buffer) => boolean) | undefined };
  [TAKE_BODY]: TakeBody;
};
const streamPush = Readable.prototype.push;

function lendingPush(this: LentAnswer, chunk: unknown, encoding?: BufferEncoding): boolean {
  if (
    chunk instanceof Uint8Array &&
    (chunk as { [RELEASE_CHUNK]?: unknown })[RELEASE_CHUNK] === undefined &&
    ownsBuffer(chunk)
  ) {
    (chunk as Uint8Array & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => release(chunk);
  }
  // false: the parser stops reading the socket until `resume`.
  const { taker } = this[LENT];
  if (taker && chunk instanceof Uint8Array) return taker(chunk as Buffer);
  return streamPush.call(this, chunk, encoding);
}

function takeBody(this: Readable, onChunk: (chunk: Buffer) => boolean): ReturnType<TakeBody> {
  const res = this as LentAnswer;
  const lent = res[LENT];
  // What arrived before (the first answer's bytes, read while the engine planned) comes first.
  // (One `read()` gives one chunk of a flowing stream, everything joined of a paused one.)
  const buffered: Buffer[] = [];
  while (res.readableLength > 0) {
    const chunk = res.read() as Buffer | null;
    if (chunk === null) break;
    buffered.push(chunk);
  }
  lent.taker = onChunk;
  let more = true;
  for (const chunk of buffered) more = onChunk(chunk) && more;
  // An answer already whole leaves its socket alone: paused, the next request on it would never
  // be answered (a server that ignores Range sends a small body in the headers' packet).
  if (!more && !res.complete) res.socket?.pause();
  // Flowing with nothing buffered: the stream only ends (`end`, once the parser pushes its end).
  res.resume();
  return {
    resume: () => {
      if (lent.taker && !res.complete && !res.destroyed) res.socket?.resume();
    },
    detach: () => {
      lent.taker = undefined;
    },
  };
}

/**
 * Offered by an answer of core's `HttpPool` (a method of its body stream, called on it:
 * `stream[TAKE_BODY](onChunk)`): takes the body's later chunks one call each, past the stream (see
 * `lendBodyChunks`). `onChunk` returning false stops the socket's reads until `resume()`; chunks the
 * parser still had are handed over meanwhile (the consumer queues them). `detach()` gives the chunks
 * back to the stream. The stream still ends, fails and is destroyed as usual, and must be watched for
 * that.
 */
export type TakeBody = (
  this: Readable,
  onChunk: (chunk: Buffer) => boolean,
) => { resume(): void; detach(): void };
export const TAKE_BODY: unique symbol = Symbol.for('@artifacts/take-body');

/** A response head longer than this is refused (node:http's default limit is 16 KiB). */
const HEAD_LIMIT = 64 * 1024;
/** Read buffers a lean socket keeps for reuse; one more is allocated when all are lent. */
const FREE_READS = 8;
/**
 * A body piece shorter than this is copied out of its read, whose buffer is reused at once, instead
 * of lent with it: a small answer (a JSON reply, a small file) must not hold a 256 KiB read buffer
 * until a consumer that may never call RELEASE_CHUNK is done with it.
 */
const LEND_FROM = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');
/** A Transfer-Encoding whose last coding is chunked (RFC 9112 §6.3). */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;
const CRLF = Buffer.from('\r\n');
/** A header name node:http sends (an RFC 9110 token), and what no header value may hold (its checks). */
const HEADER_NAME = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Headers node:http keeps the first of when repeated (it joins the others with ', '). */
const SINGLE_HEADERS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/** A plain-TCP keep-alive socket of the lean client and the exchange on it now. */
interface LeanSocket {
  socket: Socket;
  /** Ends when the socket closes or fails: the origin's `ConnectionPool` drops it then. */
  life: ConnectionLife;
  /** Buffers for the next reads: each large body chunk is a view into one, lent until its RELEASE_CHUNK. */
  free: Buffer[];
  /** What the socket's bytes go to; undefined while it is idle. */
  onBytes: ((read: Buffer, buffer: Buffer) => void) | undefined;
  /** Called once when the socket closes or fails. */
  onEnd: ((error: Error | undefined) => void) | undefined;
  /** Requests it has carried (a reused socket's early close is a stale socket, see `HttpPool.request`). */
  used: number;
  /** The peer closes it after this answer (`Connection: close`, HTTP/1.0, a body read to the close). */
  closing: boolean;
}

/** An answer's body read by the lean client: node:http's answer in what core's consumers use of it. */
class LeanBody extends Readable {
  statusCode = 0;
  headers: IncomingHttpHeaders = {};
  /** The whole body was received (node:http's `IncomingMessage.complete`). */
  complete = false;
  /** Its socket while the answer is read; null once the exchange is over (as node:http's answer). */
  socket: Socket | null;
  constructor(
    socket: Socket,
    /** The exchange's, until it is over (then dropped: a body kept longer keeps no exchange alive). */
    public onDestroy: (error: Error | null) => void,
  ) {
    super({ highWaterMark: READ_SIZE });
    this.socket = socket;
  }
  override _read(): void {
    if (!this.complete && !this.destroyed) this.socket?.resume();
  }
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onDestroy(error);
    callback(error);
  }
}

/** Marks an answer core's own client leaves to node:http (`HttpPool.request` asks again there). */
const NOT_LEAN = Symbol('an answer for node:http');
const notLean = (error: unknown) => (error as { [NOT_LEAN]?: boolean })?.[NOT_LEAN] === true;

/**
 * Core's own HTTP/1.1 client for plain HTTP (`HttpPool.request` sends an exchange here when it says
 * `lean`, has no body and may be sent again: `StoreHttp`'s ranged GETs; TLS stays with node:https):
 * the request written as one string, the answer read by a minimal parser (status line, headers as
 * node:http gives them; a body of known length or read to the close; a chunked answer, or an interim
 * 1xx one, is left to node:http: `HttpPool.request` asks again there), no `ClientRequest`,
 * `IncomingMessage` or parser run per socket read, and large body chunks handed on as views into the
 * read's buffer (lent until the consumer calls the chunk's RELEASE_CHUNK). Each socket reads into
 * 256 KiB buffers of a small free list (`net`'s `onread` with a buffer function).
 *
 * Its sockets are pooled by core's one `ConnectionPool`, one per origin (at most `connections` each,
 * as node:http's agent keeps `maxSockets` per origin; others wait in order; idle sockets unref'd; a
 * socket that closes or fails leaves the pool at once through its `ConnectionLife`).
 *
 * Keeps what the node:http path gives: the stall bound (the socket's idle timeout, through the
 * answer's body too), the abort signal, the connect bound, the stale-socket
 * mark of a reused socket closed before any answer, a premature close of the body as node:http words
 * it (`aborted`, `ECONNRESET`), node:http's refusal of a header with a line break. A socket is reused
 * only when its answer was read whole.
 */
class LeanSockets {
  readonly #pools = new Map<string, ConnectionPool<LeanSocket>>();
  #destroyed = false;

  constructor(
    readonly connections: number,
    readonly connectMs: number,
    readonly connectSetting: string | undefined,
  ) {}

  destroy(): void {
    this.#destroyed = true;
    // Closes every socket, those carrying an answer too; requests waiting for one fail.
    for (const pool of this.#pools.values()) void pool.close();
  }

  #pool(target: Target): ConnectionPool<LeanSocket> {
    const key = `${target.hostname}:${target.port}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      const { hostname, port } = target;
      pool = new ConnectionPool<LeanSocket>(
        {
          create: (signal) => this.#connect(hostname, port, signal),
          destroy: (lean) => {
            lean.socket.destroy();
          },
          life: (lean) => lean.life,
          isConnectionError: () => true,
          socket: (lean) => lean.socket,
        },
        {
          maxConnections: this.connections,
          operationsPerConnection: 1,
          idleTimeoutMs: 0,
          label: target.origin,
        },
      );
      this.#pools.set(key, pool);
    }
    return pool;
  }

  async request(exchange: HttpExchange, target: Target): Promise<HttpAnswer> {
    if (this.#destroyed) throw new ArtifactsError('failed_precondition', 'the HTTP pool is closed');
    let lease: Lease<LeanSocket>;
    try {
      lease = await this.#pool(target).acquire(exchange.signal);
    } catch (error) {
      // As node:http words an aborted request, whatever the signal's reason.
      if (exchange.signal?.aborted) throw abortError(exchange.signal);
      throw error;
    }
    return this.#exchange(lease, exchange, target);
  }

  #exchange(lease: Lease<LeanSocket>, exchange: HttpExchange, target: Target): Promise<HttpAnswer> {
    const lean = lease.connection;
    // As node:http sends it.
    const method = exchange.method.toUpperCase();
    return new Promise<HttpAnswer>((resolve, reject) => {
      const { socket } = lean;
      const reused = lean.used > 0;
      lean.used++;
      lean.closing = false;
      let body: LeanBody | undefined;
      let settled = false;
      let head: Buffer | undefined;
      /** Whether the peer sent anything for this request (else a reused socket's close is stale). */
      let answered = false;
      /** The answer's body length: Infinity for one read to the close. */
      let length = 0;
      let received = 0;
      /** The body ends when the socket closes (no length). */
      let toClose = false;
      /** Ends the exchange: the socket back to the pool when the answer was read whole, else closed. */
      const finish = (error: Error | undefined, reusable: boolean) => {
        if (settled) return;
        settled = true;
        lean.onBytes = undefined;
        lean.onEnd = undefined;
        if (stall) socket.setTimeout(0, stall);
        if (signal) signal.removeEventListener('abort', abort);
        // The socket is no longer this answer's to pause or resume (it may carry the next request),
        // and the body no longer holds the exchange.
        if (body) {
          body.socket = null;
          body.onDestroy = ignore;
        }
        head = undefined;
        if (error && !body) {
          if (reused && !answered && STALE_SOCKET_CODES.has((error as { code?: string }).code ?? '')) {
            (error as { [STALE]?: boolean })[STALE] = true;
          }
          reject(error);
        } else if (error) body?.destroy(error);
        if (reusable && !error && !lean.closing && !lean.life.dead) {
          socket.resume();
          lease.release();
        } else lease.release(true);
      };
      /** A read's buffer back to the free list (its bytes were copied or parsed). */
      const giveBack = (buffer: Buffer) => {
        if (lean.free.length < FREE_READS && !lean.free.includes(buffer)) lean.free.push(buffer);
      };
      const { signal, stallMs } = exchange;
      const abort = () => finish(abortError(signal!), false);
      const stall =
        stallMs && stallMs > 0
          ? () => {
              const seconds = stallMs / 1000;
              const message = exchange.stallMessage?.(seconds) ?? `nothing received for ${seconds} s`;
              finish(new ArtifactsError('timeout', message, { temporary: true }), false);
            }
          : undefined;
      if (stall) socket.setTimeout(stallMs!, stall);
      if (signal) {
        if (signal.aborted) return abort();
        signal.addEventListener('abort', abort, { once: true });
      }
      lean.onEnd = (error) => {
        if (error) return finish(error, false);
        if (body && toClose) {
          // An answer read to the close ends with it.
          body.complete = true;
          finish(undefined, false);
          body.push(null);
          return;
        }
        const e = body
          ? Object.assign(new Error('aborted'), { code: 'ECONNRESET' })
          : Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        finish(e, false);
      };
      /** Hands body bytes on; ends the exchange once `length` came. */
      const deliver = (chunk: Buffer, buffer: Buffer | undefined) => {
        const b = body!;
        if (received + chunk.length > length) {
          // More than the answer's length: no HTTP/1.1 peer sends that here; the socket is not reused.
          return finish(
            new ArtifactsError(
              'unavailable',
              `${target.origin} sent more than the ${length} bytes of its answer`,
              {
                temporary: true,
              },
            ),
            false,
          );
        }
        received += chunk.length;
        let piece = chunk;
        if (buffer && chunk.length < LEND_FROM) {
          piece = Buffer.from(chunk);
          giveBack(buffer);
        } else if (buffer) {
          // The read's buffer is lent with its chunk: reused for a later read once the chunk is written.
          // Beyond the free list's room it is freed at once (as node:http's body chunks are).
          (chunk as Buffer & { [RELEASE_CHUNK]?: () => void })[RELEASE_CHUNK] = () => {
            if (lean.free.includes(buffer)) return;
            if (lean.free.length < FREE_READS && !lean.life.dead) lean.free.push(buffer);
            else release(buffer);
          };
        }
        const last = received === length;
        if (last) b.complete = true;
        const more = b.push(piece);
        if (last) {
          finish(undefined, true);
          b.push(null);
        } else if (!more) socket.pause();
      };
      lean.onBytes = (read, buffer) => {
        if (settled) return;
        answered = true;
        if (body) return deliver(read, buffer);
        // The head, perhaps over several reads (copied: it is small).
        const bytes = head ? Buffer.concat([head, read]) : read;
        head = undefined;
        // Bytes that cannot begin an answer fail at once (another protocol's greeting has no blank line).
        const start = bytes.toString('latin1', 0, Math.min(5, bytes.length));
        if (!'HTTP/'.startsWith(start)) return finish(notAnAnswer(bytes.toString('latin1', 0, 16)), false);
        const end = bytes.indexOf(HEAD_END);
        if (end === -1) {
          if (bytes.length > HEAD_LIMIT) {
            return finish(
              new ArtifactsError(
                'unavailable',
                `${target.origin} sent a response head over ${HEAD_LIMIT} bytes`,
              ),
              false,
            );
          }
          head = Buffer.from(bytes);
          giveBack(buffer);
          return;
        }
        const parsed = parseHead(bytes, end);
        if (parsed instanceof Error) return finish(parsed, false);
        const { statusCode, headers, version } = parsed;
        const declared = headerString(headers['content-length']);
        const coding = headerString(headers['transfer-encoding']);
        const none = statusCode === 204 || statusCode === 304 || method === 'HEAD';
        // An interim answer first (100 Continue, 103 Early Hints) or a chunked body: node:http's to
        // read (`HttpPool.request` sends the exchange again there); this socket is closed.
        if (
          statusCode < 200 ||
          (!none && declared === undefined && coding !== undefined && CHUNKED_LAST.test(coding))
        ) {
          const error = new Error(`${target.origin} answered ${statusCode < 200 ? statusCode : 'chunked'}`);
          return finish(Object.assign(error, { [NOT_LEAN]: true }), false);
        }
        if (!none && coding !== undefined) {
          if (declared !== undefined) {
            // Both framings (a request-smuggling shape): node:http's parser refuses it too.
            return finish(
              Object.assign(
                new Error("Parse Error: Content-Length can't be present with Transfer-Encoding"),
                {
                  code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
                },
              ),
              false,
            );
          }
          // Not chunked last (that went to node:http above): the body runs to the close (RFC 9112 §6.3).
          toClose = true;
        } else if (!none && declared === undefined) toClose = true;
        else if (!none && !/^\d{1,15}$/.test(declared!)) {
          return finish(
            Object.assign(new Error('Parse Error: Invalid character in Content-Length'), {
              code: 'HPE_INVALID_CONTENT_LENGTH',
            }),
            false,
          );
        }
        length = none ? 0 : toClose ? Number.POSITIVE_INFINITY : Number(declared);
        const connection = headerString(headers.connection) ?? '';
        lean.closing =
          toClose ||
          /\bclose\b/i.test(connection) ||
          (version === '1.0' && !/\bkeep-alive\b/i.test(connection));
        body = new LeanBody(socket, (error) => {
          // Destroyed by its consumer before its end: the rest of the answer is not read.
          if (!settled) finish(error ?? undefined, false);
        });
        body.statusCode = statusCode;
        body.headers = headers;
        lendBodyChunks(body as unknown as IncomingMessage);
        resolve({ statusCode, headers, body: body as unknown as IncomingMessage });
        const rest = bytes.subarray(end + 4);
        if (length === 0) {
          body.complete = true;
          giveBack(buffer);
          // Bytes after an empty answer: the socket is not reused.
          finish(undefined, rest.length === 0);
          body.push(null);
          return;
        }
        // The read's buffer is lent only with a body chunk that is a view into it.
        if (rest.length > 0 && rest.buffer === buffer.buffer) deliver(rest, buffer);
        else {
          giveBack(buffer);
          if (rest.length > 0) deliver(rest, undefined);
        }
      };
      // The request: its head as one string.
      if (!HEADER_NAME.test(method)) {
        return finish(
          Object.assign(new TypeError(`Method must be a valid HTTP token ["${exchange.method}"]`), {
            code: 'ERR_INVALID_HTTP_TOKEN',
          }),
          true,
        );
      }
      let text = `${method} ${target.path} HTTP/1.1\r\n`;
      const raw = rawHeaders(exchange, target);
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        const value = raw[i + 1]!;
        // What node:http refuses to send (a line break in a value would end the header early).
        if (!HEADER_NAME.test(name) || BAD_VALUE.test(value)) {
          const error = Object.assign(new TypeError(`Invalid header name or value: "${name}"`), {
            code: 'ERR_INVALID_CHAR',
          });
          return finish(error, true);
        }
        text += `${name}: ${value}\r\n`;
      }
      text += 'Connection: keep-alive\r\n\r\n';
      socket.write(text, 'latin1');
    });
  }

  #connect(host: string, port: number, signal: AbortSignal | undefined): Promise<LeanSocket> {
    const net = process.getBuiltinModule('node:net') as typeof import('node:net');
    const lean: LeanSocket = {
      socket: undefined as unknown as Socket,
      life: new ConnectionLife(),
      free: [],
      onBytes: undefined,
      onEnd: undefined,
      used: 0,
      closing: false,
    };
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        buffer: () => lean.free.pop() ?? Buffer.allocUnsafeSlow(READ_SIZE),
        callback: (bytes: number, buffer: Uint8Array) => {
          const read = buffer as Buffer;
          if (lean.onBytes) lean.onBytes(read.subarray(0, bytes), read);
          // Bytes on an idle socket: the peer is not speaking HTTP/1.1 keep-alive as we are.
          else socket.destroy();
          return true;
        },
      },
    } as import('node:net').NetConnectOpts);
    lean.socket = socket;
    const ended = (error?: Error) => {
      // Its pool drops it (the life's watcher; a pool closing it has already), then the exchange
      // on it, if any, ends (once: `finish` clears `onEnd`).
      lean.life.die();
      lean.onEnd?.(error);
    };
    socket.on('error', ended).on('close', () => ended());
    return new Promise<LeanSocket>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const settle = (error?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        socket.off('connect', connected).off('error', settle);
        if (!error) return resolve(lean);
        socket.destroy();
        reject(error);
      };
      const connected = () => settle();
      const stop = () => settle(abortError(signal!));
      if (this.connectMs > 0) {
        timer = setTimeout(() => {
          const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
          const setting = this.connectSetting ? ` (${this.connectSetting})` : '';
          settle(
            new ArtifactsError(
              'timeout',
              `no connection to ${where} within ${this.connectMs / 1000} s${setting}`,
              {
                temporary: true,
              },
            ),
          );
        }, this.connectMs);
      }
      if (signal?.aborted) return stop();
      signal?.addEventListener('abort', stop, { once: true });
      socket.once('connect', connected).once('error', settle);
    });
  }
}

const ignore = () => {};

/** Bytes that are no HTTP/1.x answer, as node:http's parser names them. */
function notAnAnswer(first: string): Error {
  return Object.assign(
    new Error(`Parse Error: Expected HTTP/ (the answer began with ${JSON.stringify(first)})`),
    {
      code: 'HPE_INVALID_CONSTANT',
    },
  );
}

/** A response head (status line and header lines) as node:http gives it, or the error it is. */
function parseHead(
  bytes: Buffer,
  end: number,
): { statusCode: number; headers: IncomingHttpHeaders; version: string } | Error {
  // Each value is decoded from the bytes on its own: a slice of one string of the whole head would
  // keep that string alive as long as any value a consumer keeps (an ETag per file of a transfer).
  let lineEnd = bytes.indexOf(CRLF, 0);
  if (lineEnd === -1 || lineEnd > end) lineEnd = end;
  const status = /^HTTP\/(1\.[01]) (\d{3})(?: |$)/.exec(bytes.toString('latin1', 0, lineEnd));
  if (!status) return notAnAnswer(bytes.toString('latin1', 0, Math.min(16, end)));
  const headers: IncomingHttpHeaders = {};
  for (let at = lineEnd + 2; at < end; at = lineEnd + 2) {
    lineEnd = bytes.indexOf(CRLF, at);
    if (lineEnd === -1 || lineEnd > end) lineEnd = end;
    const colon = bytes.indexOf(0x3a, at);
    if (colon === -1 || colon >= lineEnd || colon === at) {
      const line = bytes.toString('latin1', at, Math.min(lineEnd, at + 40));
      return Object.assign(new Error(`Parse Error: Invalid header line ${JSON.stringify(line)}`), {
        code: 'HPE_INVALID_HEADER_TOKEN',
      });
    }
    const name = bytes.toString('latin1', at, colon).trim().toLowerCase();
    let from = colon + 1;
    let to = lineEnd;
    while (from < to && (bytes[from] === 0x20 || bytes[from] === 0x09)) from++;
    while (to > from && (bytes[to - 1] === 0x20 || bytes[to - 1] === 0x09)) to--;
    const value = bytes.toString('latin1', from, to);
    const known = headers[name];
    if (name === 'content-length' && known !== undefined && known !== value) {
      return Object.assign(new Error('Parse Error: Duplicate Content-Length'), {
        code: 'HPE_UNEXPECTED_CONTENT_LENGTH',
      });
    }
    if (name === 'set-cookie') headers[name] = [...(headers[name] ?? []), value];
    else if (known === undefined) headers[name] = value;
    else if (!SINGLE_HEADERS.has(name)) headers[name] = `${known}, ${value}`;
  }
  return { statusCode: Number(status[2]), headers, version: status[1]! };
}
