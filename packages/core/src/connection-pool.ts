import { ArtifactsError, type ArtifactsErrorCode } from './errors.js';

/**
 * Whether one pooled connection is still usable, and who must hear when it is not. A protocol's
 * connection holds one: its factory calls `die` from the client's close and error events (a driver
 * too, when it drops a connection itself), the pool watches it and drops the connection at once, and
 * the protocol's requests in flight can watch it as well, to fail instead of hanging.
 */
export class ConnectionLife {
  #dead = false;
  readonly #watchers = new Set<() => void>();

  /** Set once the connection closed, failed or was dropped. */
  get dead(): boolean {
    return this.#dead;
  }

  /** Marks the connection dead and calls each watcher once, in order; true only for the first call. */
  readonly die = (): boolean => {
    if (this.#dead) return false;
    this.#dead = true;
    const watchers = [...this.#watchers];
    this.#watchers.clear();
    for (const watcher of watchers) watcher();
    return true;
  };

  /** Calls `onDeath` once when the connection dies: at once if it already has. */
  watch(onDeath: () => void): void {
    if (this.#dead) onDeath();
    else this.#watchers.add(onDeath);
  }

  /**
   * One request of the connection, as a promise that never outlives it: it fails with `lost()` at
   * once when the connection is dead already or dies before the answer (a client library may drop
   * a request written to a closed channel without ever calling back). `send` gets the callback.
   */
  request<T>(send: (done: (error: unknown, value?: T) => void) => void, lost: () => Error): Promise<T> {
    if (this.#dead) return Promise.reject(lost());
    return new Promise<T>((resolve, reject) => {
      const fail = () => reject(lost());
      this.#watchers.add(fail);
      const done = (error: unknown, value?: T) => {
        this.#watchers.delete(fail);
        if (error) reject(error);
        else resolve(value as T);
      };
      try {
        send(done);
      } catch (error) {
        done(error);
      }
    });
  }
}

/** How the pool opens, checks and closes one kind of connection. */
export interface ConnectionFactory<C> {
  /** Opens and authenticates a connection. Rejects when `signal` aborts. */
  create(signal?: AbortSignal): Promise<C>;
  /** Closes a connection (its life is already marked dead); never throws. */
  destroy(connection: C): Promise<void> | void;
  /**
   * The connection's life, which the factory ends when the connection dies on its own (server
   * restart, idle kill, network reset), so that the pool never hands out a connection it already
   * knows to be dead.
   */
  life(connection: C): ConnectionLife;
  /** True when `error` means the connection itself is unusable (not just this one request). */
  readonly isConnectionError: (error: unknown) => boolean;
  /**
   * The connection's socket, if it still has one: the pool unrefs it while the connection is idle
   * (and refs it again when it is busy), so a script that forgets `repo.close()` still exits.
   */
  socket?(connection: C): PooledSocket | undefined;
  /**
   * The server never speaks unasked (FTP's control connection): bytes that arrive while the
   * connection is idle are a late or stray reply, which the next command would take for its own
   * answer, so the pool closes that connection instead of reusing it. Not for SSH, whose keepalive
   * answers arrive on idle connections.
   */
  readonly quietWhenIdle?: boolean;
  /**
   * True when a failed `create` says the server takes no more connections now (FTP's `421 … users
   * (the maximum) are already logged in`; a connect that the server left unanswered until the
   * timeout). While the pool holds other connections to it, such a failure lowers the pool's own
   * limit to the connections it has and the operation waits for one of them instead of failing; with
   * none, the failure is the operation's.
   */
  readonly refusedMore?: (error: unknown) => boolean;
}

/** What the pool does with a connection's socket (a `net.Socket` fits). */
export interface PooledSocket {
  ref(): unknown;
  unref(): unknown;
  once?(event: 'data', listener: () => void): unknown;
  off?(event: 'data', listener: () => void): unknown;
}

export interface PoolOptions {
  /** Connections open at most (firewalls and servers limit connections per client). */
  maxConnections: number;
  /** Operations one connection carries at once (FTP: 1; SFTP multiplexes requests on a channel). */
  operationsPerConnection: number;
  /** An idle connection is closed after this long (ms); 0 keeps it until `close()`. */
  idleTimeoutMs: number;
  /** Names the store in errors ("sftp://user@host:22"). */
  label: string;
}

interface Entry<C> {
  connection: C;
  active: number;
  dead: boolean;
  idleTimer?: NodeJS.Timeout;
  /** While idle, a `quietWhenIdle` connection's socket and the listener that closes it on any byte. */
  idleData?: { socket: PooledSocket; listener: () => void };
}

interface Waiter<C> {
  resolve: (entry: Entry<C>) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  /** Given a connection that came free while its own was still being opened. */
  served?: boolean;
}

/** A borrowed connection; `release` exactly once. */
export interface Lease<C> {
  readonly connection: C;
  /** Gives the connection back; `broken` closes it instead of reusing it. */
  release(broken?: boolean): void;
}

export interface UseOptions {
  signal?: AbortSignal;
  /**
   * Whether a connection-level failure may be retried once on a fresh connection. Default true;
   * uploads pass a function that says no once bytes of the body were consumed.
   */
  retry?: (error: unknown) => boolean;
}

/**
 * A small, lazily grown pool of connections to one server. Connections open only when an operation
 * needs one and none is free, never more than `maxConnections`; operations beyond the pool's
 * capacity wait in order. Dead connections (server restarted, network reset) leave the pool as soon
 * as they are noticed, and an operation that fails because its connection broke is retried once on
 * a fresh one.
 */
export class ConnectionPool<C> {
  readonly #factory: ConnectionFactory<C>;
  /** Only the pool's own options, copied: a backend may pass its whole settings, secrets and all. */
  readonly options: Readonly<PoolOptions>;
  readonly #entries: Entry<C>[] = [];
  readonly #waiters: Waiter<C>[] = [];
  /** Waiters whose own connection is being opened: first in line for one that comes free meanwhile. */
  readonly #connecting: Waiter<C>[] = [];
  #opening = 0;
  #closed = false;
  /** Aborts the connections still being opened when the pool closes. */
  readonly #closing = new AbortController();
  /** Highest number of connections open at once (for tests and diagnostics). */
  peakConnections = 0;
  /** Connections opened over the pool's life. */
  openedConnections = 0;
  /**
   * The connections the pool opens at most: `maxConnections`, lowered to the connections it had when
   * the server refused one more (`ConnectionFactory.refusedMore`).
   */
  get limit(): number {
    return this.#limit;
  }
  #limit: number;

  constructor(factory: ConnectionFactory<C>, options: PoolOptions) {
    this.#factory = factory;
    const { maxConnections, operationsPerConnection, idleTimeoutMs, label } = options;
    this.options = Object.freeze({ maxConnections, operationsPerConnection, idleTimeoutMs, label });
    this.#limit = maxConnections;
  }

  /** Connections currently open (or being opened). */
  get size(): number {
    return this.#entries.length + this.#opening;
  }

  /** Borrows a connection, opening one if none is free and the pool may grow, else waiting. */
  acquire(signal?: AbortSignal): Promise<Lease<C>> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise<Entry<C>>((resolve, reject) => {
      const waiter: Waiter<C> = { resolve, reject };
      if (signal) {
        waiter.signal = signal;
        waiter.onAbort = () => {
          const index = this.#waiters.indexOf(waiter);
          if (index !== -1) this.#waiters.splice(index, 1);
          reject(abortReason(signal));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
      this.#drain();
    }).then((entry) => this.#lease(entry));
  }

  /**
   * Runs `fn` with a borrowed connection. A connection-level failure closes that connection (and
   * the idle ones, which are likely just as dead after a server restart) and, unless `retry` says
   * no, runs `fn` once more on a freshly opened connection.
   */
  use<T>(fn: (connection: C) => Promise<T>, options: UseOptions = {}): Promise<T> {
    return this.lease(async (lease) => {
      const result = await fn(lease.connection);
      lease.release();
      return result;
    }, options);
  }

  /**
   * Like `use`, but when `fn` succeeds the lease stays borrowed and `fn`'s result owns it (a read
   * stream releases it when it closes). When `fn` fails the lease is released here.
   */
  async lease<T>(fn: (lease: Lease<C>) => Promise<T>, options: UseOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.acquire(options.signal);
      try {
        return await fn(lease);
      } catch (error) {
        const broken = !options.signal?.aborted && this.#factory.isConnectionError(error);
        lease.release(broken);
        if (!broken) throw error;
        this.#discardIdle();
        if (attempt > 0 || this.#closed || !(options.retry?.(error) ?? true)) throw error;
      }
    }
  }

  /** Closes every connection; waiting and later acquisitions fail. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // A connection still in its handshake would otherwise hold the process until its timeout.
    this.#closing.abort(this.#closedError());
    for (const waiter of this.#waiters.splice(0)) {
      this.#unlisten(waiter);
      waiter.reject(this.#closedError());
    }
    const entries = this.#entries.splice(0);
    await Promise.all(entries.map((entry) => this.#destroy(entry)));
  }

  #lease(entry: Entry<C>): Lease<C> {
    let released = false;
    return {
      connection: entry.connection,
      release: (broken = false) => {
        if (released) return;
        released = true;
        entry.active--;
        if (broken) this.#kill(entry);
        else if (entry.active === 0 && !entry.dead) this.#idle(entry);
        this.#drain();
      },
    };
  }

  /** Hands free capacity to waiters in arrival order: idle connection, then a new one, then sharing. */
  #drain(): void {
    while ((this.#waiters.length > 0 || this.#connecting.length > 0) && !this.#closed) {
      const idle = this.#entries.find((entry) => !entry.dead && entry.active === 0);
      if (idle) {
        // A connect may take long (a server at its limit may leave it unanswered until the timeout).
        const early = this.#connecting.shift();
        if (early?.signal?.aborted) continue;
        if (early) early.served = true;
        this.#grant(early ?? this.#waiters.shift()!, idle);
        continue;
      }
      if (this.#waiters.length === 0) return;
      if (this.#entries.length + this.#opening < this.#limit) {
        this.#open(this.#waiters.shift()!);
        continue;
      }
      let shared: Entry<C> | undefined;
      for (const entry of this.#entries) {
        if (entry.dead || entry.active >= this.options.operationsPerConnection) continue;
        if (!shared || entry.active < shared.active) shared = entry;
      }
      if (!shared) return;
      this.#grant(this.#waiters.shift()!, shared);
    }
  }

  #grant(waiter: Waiter<C>, entry: Entry<C>): void {
    this.#unlisten(waiter);
    if (entry.idleTimer) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = undefined;
    }
    this.#stopIdleData(entry);
    if (entry.active === 0) this.#factory.socket?.(entry.connection)?.ref();
    entry.active++;
    waiter.resolve(entry);
  }

  #open(waiter: Waiter<C>): void {
    this.#opening++;
    this.#connecting.push(waiter);
    const closing = this.#closing.signal;
    this.#factory.create(waiter.signal ? AbortSignal.any([waiter.signal, closing]) : closing).then(
      (connection) => {
        this.#opening--;
        this.#notConnecting(waiter);
        const entry: Entry<C> = { connection, active: 0, dead: false };
        if (this.#closed) {
          void this.#destroy(entry);
          return;
        }
        this.#entries.push(entry);
        this.openedConnections++;
        this.peakConnections = Math.max(this.peakConnections, this.#entries.length);
        this.#factory.life(connection).watch(() => this.#kill(entry));
        if (waiter.served || waiter.signal?.aborted) {
          this.#idle(entry);
        } else {
          entry.active++;
          this.#unlisten(waiter);
          waiter.resolve(entry);
        }
        this.#drain();
      },
      (error: unknown) => {
        this.#opening--;
        this.#notConnecting(waiter);
        const others = this.#entries.length + this.#opening;
        const full = others > 0 && !this.#closed && this.#factory.refusedMore?.(error) === true;
        // The server serves as many connections as it will: go on with those (first in line).
        if (full) this.#limit = Math.min(this.#limit, others);
        if (waiter.served) {
          // It went on with a connection that came free meanwhile.
        } else if (full && !waiter.signal?.aborted) {
          this.#waiters.unshift(waiter);
        } else {
          this.#unlisten(waiter);
          waiter.reject(error);
        }
        this.#drain();
      },
    );
  }

  #notConnecting(waiter: Waiter<C>): void {
    const index = this.#connecting.indexOf(waiter);
    if (index !== -1) this.#connecting.splice(index, 1);
  }

  #idle(entry: Entry<C>): void {
    const socket = this.#factory.socket?.(entry.connection);
    socket?.unref();
    if (this.#factory.quietWhenIdle && socket?.once) {
      const listener = () => this.#kill(entry);
      entry.idleData = { socket, listener };
      socket.once('data', listener);
    }
    if (this.options.idleTimeoutMs > 0) {
      entry.idleTimer = setTimeout(() => {
        if (entry.active === 0) this.#kill(entry);
      }, this.options.idleTimeoutMs);
      entry.idleTimer.unref();
    }
  }

  /** Removes a connection from the pool and closes it. */
  #kill(entry: Entry<C>): void {
    if (entry.dead) return;
    entry.dead = true;
    const index = this.#entries.indexOf(entry);
    if (index !== -1) this.#entries.splice(index, 1);
    void this.#destroy(entry);
    this.#drain();
  }

  #discardIdle(): void {
    for (const entry of [...this.#entries]) if (entry.active === 0) this.#kill(entry);
  }

  #stopIdleData(entry: Entry<C>): void {
    entry.idleData?.socket.off?.('data', entry.idleData.listener);
    entry.idleData = undefined;
  }

  async #destroy(entry: Entry<C>): Promise<void> {
    entry.dead = true;
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    this.#stopIdleData(entry);
    try {
      this.#factory.life(entry.connection).die();
      // An idle connection's socket is unref'd; while it closes it must hold the process, or `await
      // repo.close()` at the top level finds an empty event loop before the server's goodbye and
      // node exits 13 with the close unsettled.
      this.#factory.socket?.(entry.connection)?.ref();
      await this.#factory.destroy(entry.connection);
    } catch {
      // Closing a connection that is already gone is not worth reporting.
    }
  }

  #unlisten(waiter: Waiter<C>): void {
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
  }

  #closedError(): ArtifactsError {
    return new ArtifactsError(
      'failed_precondition',
      `the connection pool for ${this.options.label} is closed`,
    );
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** The server a pool connects to, as `connectError` names it (a backend's settings fit). */
export interface ConnectTarget {
  /** Names the server in messages (`sftp://user@host:2222`); never holds a password. */
  label: string;
  host: string;
  port: number;
  username?: string | undefined;
  /** The connect timeout, named when connecting timed out. */
  timeoutMs?: number | undefined;
  /** Where to give the CA of a server whose TLS certificate is not trusted (option, variable). */
  caHint?: string | undefined;
  /** Where the address comes from, named when nothing was ever reached there (`check the URI`). */
  addressHint?: string | undefined;
}

/** What only the protocol can tell about a failed connect: the server answered, and refused. */
export interface ConnectRefusal {
  code: ArtifactsErrorCode;
  /** What it refused: `the login`, `authentication (tried: password)`, `the sftp subsystem`. */
  refused: string;
  /** A machine-readable reason for `context.reason`. */
  reason?: string;
}

/**
 * Node's verify codes for a peer certificate that is not trusted (self-signed, unknown CA, expired,
 * wrong host name). `ERR_SSL_WRONG_VERSION_NUMBER` is not one of them: it says the server does not
 * speak TLS at all (an `https://` URI for a plain HTTP port), which `connectFailure` words apart.
 */
const UNTRUSTED_CERTIFICATE =
  /^(?:DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|CERT_REJECTED|ERR_TLS_CERT_ALTNAME_INVALID|CERT_SIGNATURE_FAILURE|INVALID_CA)$/;

/** Codes of a connect that reached no server, found in an error or its causes (SDKs wrap them). */
const NOT_REACHED = /^(?:ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ERR_SSL_WRONG_VERSION_NUMBER)$/;
/** The same, where a client kept only the message ("request to … failed, reason: connect ECONNREFUSED …"). */
const NOT_REACHED_MESSAGE = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED)\b/;

function failureCode(error: unknown, test: RegExp): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && test.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The TLS library's code when `error` (or one of its causes) says the peer's certificate is not
 * trusted (Node's verify codes).
 */
export function untrustedCertificateCode(error: unknown): string | undefined {
  return failureCode(error, UNTRUSTED_CERTIFICATE);
}

/** A `ConnectTarget` for an HTTP(S) endpoint: its origin (no credentials, path or query) names it. */
export function httpTarget(
  url: string | URL,
  extra: Pick<ConnectTarget, 'caHint' | 'addressHint' | 'timeoutMs'> = {},
): ConnectTarget {
  const u = new URL(url);
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { label: `${u.protocol}//${u.host}`, host, port, ...extra };
}

/**
 * A failure that reached no server, in the one wording of every backend (the protocols' pooled
 * connects and the HTTP stores' requests alike); undefined for anything else, which the caller maps
 * its own way. An untrusted TLS certificate is `unauthenticated` (the server could not prove who it
 * is, as an unknown SSH host key) with `target.caHint`, reason `untrusted_certificate`; a server
 * that does not speak TLS is `unavailable`, reason `not_tls`; a name that does not resolve is
 * `unavailable`, `unknown_host`; a port nobody listens on is `unavailable`, `connection_refused`,
 * naming host and port. A refusal or unresolved name is `temporary` only when the server was
 * `reached` before (it is restarting): a wrong address or a server that is down is not worth any
 * backoff. `context` names host, port and user, never a password.
 */
export function connectFailure(
  target: ConnectTarget,
  error: unknown,
  options: {
    /** The server answered this client before. */
    reached?: boolean | undefined;
    /** Prefixes the message (`listing "run/1"`). */
    what?: string | undefined;
    /** More non-secret context (the bucket…). */
    context?: Record<string, unknown> | undefined;
  } = {},
): ArtifactsError | undefined {
  const reached = options.reached === true;
  const prefix = options.what === undefined ? '' : `${options.what}: `;
  const certificate = untrustedCertificateCode(error);
  let code = certificate ?? failureCode(error, NOT_REACHED);
  if (code === undefined && !ArtifactsError.is(error)) {
    code = NOT_REACHED_MESSAGE.exec(error instanceof Error ? error.message : String(error))?.[1];
  }
  if (code === undefined) return undefined;
  const detail = error instanceof Error ? error.message : String(error);
  const context: Record<string, unknown> = { ...options.context, host: target.host, port: target.port };
  if (target.username !== undefined) context.user = target.username;
  const fail = (kind: ArtifactsErrorCode, message: string, reason: string, temporary = false) =>
    new ArtifactsError(kind, prefix + message, { cause: error, context: { ...context, reason }, temporary });
  if (certificate) {
    return fail(
      'unauthenticated',
      `the TLS certificate of ${target.label} is not trusted (${certificate}: ${detail})${target.caHint ? `; ${target.caHint}` : ''}`,
      'untrusted_certificate',
    );
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
    return fail(
      'unavailable',
      `cannot connect to ${target.label}: the server on ${target.host} port ${target.port} does not speak TLS; is the scheme (http/https) right? (${detail})`,
      'not_tls',
    );
  }
  const address = !reached && target.addressHint ? `; ${target.addressHint}` : '';
  if (code === 'ECONNREFUSED') {
    return fail(
      'unavailable',
      `cannot connect to ${target.label}: nothing accepts connections on ${target.host} port ${target.port} (${detail})${address}`,
      'connection_refused',
      reached,
    );
  }
  return fail(
    'unavailable',
    `cannot connect to ${target.label}: the host name ${target.host} does not resolve (${detail})${address}`,
    'unknown_host',
    reached,
  );
}

/**
 * The URL a failed HTTP request went to, where an SDK kept it: `request.url` (Azure's RestError),
 * `config.url` (gaxios), or only the message of the fetch under it ("request to <url> failed, …").
 */
export function failedRequestUrl(error: unknown): string | undefined {
  const e = error as { request?: { url?: unknown }; config?: { url?: unknown }; message?: unknown } | null;
  const url = e?.request?.url ?? e?.config?.url;
  const text =
    url instanceof URL
      ? url.href
      : typeof url === 'string'
        ? url
        : /request to (\S+) failed/.exec(String(e?.message))?.[1];
  return text && URL.canParse(text) ? text : undefined;
}

/** `connectFailure` for an SDK's failed HTTP request, its endpoint taken from the error (`failedRequestUrl`). */
export function requestFailure(
  error: unknown,
  hints: Pick<ConnectTarget, 'caHint' | 'addressHint'>,
  options: Parameters<typeof connectFailure>[2] = {},
): ArtifactsError | undefined {
  const url = failedRequestUrl(error);
  return url === undefined ? undefined : connectFailure(httpTarget(url, hints), error, options);
}

/**
 * A failure to open a pooled connection as an ArtifactsError, one wording for every protocol:
 * `refusal` when the server answered and said no (wrong login: `unauthenticated`); else
 * `connectFailure`'s wording when no server was reached (none temporary: the pool's next operation
 * tries a new connection anyway), a connect that timed out is `timeout`, anything else
 * `unavailable`. An ArtifactsError (a host-key verdict) passes through.
 */
export function connectError(
  target: ConnectTarget,
  error: unknown,
  refusal?: ConnectRefusal,
): ArtifactsError {
  if (ArtifactsError.is(error)) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const context: Record<string, unknown> = { host: target.host, port: target.port };
  if (target.username !== undefined) context.user = target.username;
  const fail = (code: ArtifactsErrorCode, message: string, reason?: string) =>
    new ArtifactsError(code, message, { cause: error, context: reason ? { ...context, reason } : context });
  if (refusal)
    return fail(refusal.code, `${target.label} refused ${refusal.refused}: ${detail}`, refusal.reason);
  const unreached = connectFailure(target, error);
  if (unreached) return unreached;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ETIMEDOUT' || /timed? ?out/i.test(detail)) {
    const after = target.timeoutMs === undefined ? '' : ` after ${target.timeoutMs} ms`;
    return fail('timeout', `connecting to ${target.label} timed out${after} (${detail})`);
  }
  return fail('unavailable', `cannot connect to ${target.label}: ${detail}`);
}
