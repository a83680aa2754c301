import { ArtifactsError } from './errors.js';

/** How the pool opens, checks and closes one kind of connection. */
export interface ConnectionFactory<C> {
  /** Opens and authenticates a connection. Rejects when `signal` aborts. */
  create(signal?: AbortSignal): Promise<C>;
  /** Closes a connection; never throws. */
  destroy(connection: C): Promise<void> | void;
  /**
   * Calls `onDeath` once if the connection dies on its own (server restart, idle kill, network
   * reset), so that the pool never hands out a connection it already knows to be dead.
   */
  watch(connection: C, onDeath: () => void): void;
  /** True when `error` means the connection itself is unusable (not just this one request). */
  isConnectionError(error: unknown): boolean;
  /**
   * Lets an idle connection stop keeping the process alive (and makes a busy one keep it alive
   * again), so a script that forgets `repo.close()` still exits.
   */
  setActive?(connection: C, active: boolean): void;
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
}

interface Waiter<C> {
  resolve: (entry: Entry<C>) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
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
  readonly #options: PoolOptions;
  readonly #entries: Entry<C>[] = [];
  readonly #waiters: Waiter<C>[] = [];
  #opening = 0;
  #closed = false;
  /** Aborts the connections still being opened when the pool closes. */
  readonly #closing = new AbortController();
  /** Highest number of connections open at once (for tests and diagnostics). */
  peakConnections = 0;
  /** Connections opened over the pool's life. */
  openedConnections = 0;

  constructor(factory: ConnectionFactory<C>, options: PoolOptions) {
    this.#factory = factory;
    this.#options = options;
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
    while (this.#waiters.length > 0 && !this.#closed) {
      const idle = this.#entries.find((entry) => !entry.dead && entry.active === 0);
      if (idle) {
        this.#grant(this.#waiters.shift()!, idle);
        continue;
      }
      if (this.#entries.length + this.#opening < this.#options.maxConnections) {
        this.#open(this.#waiters.shift()!);
        continue;
      }
      let shared: Entry<C> | undefined;
      for (const entry of this.#entries) {
        if (entry.dead || entry.active >= this.#options.operationsPerConnection) continue;
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
    if (entry.active === 0) this.#factory.setActive?.(entry.connection, true);
    entry.active++;
    waiter.resolve(entry);
  }

  #open(waiter: Waiter<C>): void {
    this.#opening++;
    const closing = this.#closing.signal;
    this.#factory.create(waiter.signal ? AbortSignal.any([waiter.signal, closing]) : closing).then(
      (connection) => {
        this.#opening--;
        const entry: Entry<C> = { connection, active: 0, dead: false };
        if (this.#closed) {
          void this.#destroy(entry);
          return;
        }
        this.#entries.push(entry);
        this.openedConnections++;
        this.peakConnections = Math.max(this.peakConnections, this.#entries.length);
        this.#factory.watch(connection, () => this.#kill(entry));
        if (waiter.signal?.aborted) {
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
        this.#unlisten(waiter);
        waiter.reject(error);
        this.#drain();
      },
    );
  }

  #idle(entry: Entry<C>): void {
    this.#factory.setActive?.(entry.connection, false);
    if (this.#options.idleTimeoutMs > 0) {
      entry.idleTimer = setTimeout(() => {
        if (entry.active === 0) this.#kill(entry);
      }, this.#options.idleTimeoutMs);
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

  async #destroy(entry: Entry<C>): Promise<void> {
    entry.dead = true;
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    try {
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
      `the connection pool for ${this.#options.label} is closed`,
    );
  }
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
