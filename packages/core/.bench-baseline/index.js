import { createHash, randomBytes } from 'crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync, unlinkSync } from 'fs';
import { PassThrough, Readable, Transform } from 'stream';
import * as zlib from 'zlib';
import 'module';
import { lstat, mkdir, mkdtemp, opendir, rename, rm, stat } from 'fs/promises';
import { request as request$1 } from 'http';
import { request } from 'https';
import mime from 'mime-types';
import { hostname, tmpdir } from 'os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'path';
import { pipeline } from 'stream/promises';
import { setTimeout as setTimeout$1 } from 'timers/promises';
import { fileURLToPath, pathToFileURL } from 'url';

// src/errors.ts
var BRAND = Symbol.for('@artifacts/core/ArtifactsError');
var ArtifactsError = class _ArtifactsError extends Error {
  name = 'ArtifactsError';
  code;
  context;
  failures;
  /** Repeating the same call may succeed (see `ArtifactsErrorOptions.temporary`). */
  temporary;
  constructor(code, message, options = {}) {
    super(message, options.cause === void 0 ? void 0 : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.failures = options.failures ?? [];
    this.temporary = options.temporary ?? false;
    Object.defineProperty(this, BRAND, { value: true });
  }
  /** Works across copies of core (ESM + CJS, or two versions), unlike `instanceof`. */
  static is(value, code) {
    return (
      typeof value === 'object' &&
      value !== null &&
      value[BRAND] === true &&
      (code === void 0 || value.code === code)
    );
  }
  static invalidArgument(message, options) {
    return new _ArtifactsError('invalid_argument', message, options);
  }
  static notFound(what, options) {
    return new _ArtifactsError('not_found', `${what} does not exist`, options);
  }
  static unsupported(message, options) {
    return new _ArtifactsError('unsupported', message, options);
  }
};
var ERRNO_CODES = {
  ENOENT: 'not_found',
  EACCES: 'permission_denied',
  EPERM: 'permission_denied',
  EROFS: 'permission_denied',
  EEXIST: 'already_exists',
  ENOTEMPTY: 'already_exists',
  EISDIR: 'failed_precondition',
  ENOTDIR: 'failed_precondition',
  ENAMETOOLONG: 'invalid_argument',
  EINVAL: 'invalid_argument',
  ENOTFOUND: 'unavailable',
  ETIMEDOUT: 'timeout',
  ESOCKETTIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  ENOSPC: 'unavailable',
  EDQUOT: 'unavailable',
};
var CONNECTION_CODES = /* @__PURE__ */ new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTCONN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
]);
var CONNECTION_MESSAGES = /socket hang up|ECONNRESET|other side closed|premature close/i;
function isConnectionError(error) {
  let current = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    if (!ArtifactsError.is(current)) {
      const code = errorCodeOf(current);
      if (code !== void 0 && CONNECTION_CODES.has(code)) return true;
      const message = current.message;
      if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    }
    current = current.cause;
  }
  return false;
}
function codeForHttpStatus(status) {
  if (status < 400) return void 0;
  switch (status) {
    case 401:
      return 'unauthenticated';
    case 403:
      return 'permission_denied';
    case 404:
    case 410:
      return 'not_found';
    case 405:
    case 501:
    case 505:
      return 'unsupported';
    case 408:
      return 'timeout';
    case 409:
    case 412:
    case 428:
      return 'failed_precondition';
    case 429:
      return 'unavailable';
    default:
      return status >= 500 ? 'unavailable' : 'invalid_argument';
  }
}
function isTemporaryHttpStatus(status) {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}
function isTemporaryError(error) {
  if (ArtifactsError.is(error)) return error.temporary;
  return isConnectionError(error);
}
function errorCodeOf(error) {
  if (typeof error !== 'object' || error === null) return void 0;
  const code = error.code;
  return typeof code === 'string' ? code : void 0;
}
function isAbortError(error) {
  if (ArtifactsError.is(error)) return error.code === 'aborted';
  const name = error?.name;
  return name === 'AbortError' || errorCodeOf(error) === 'ABORT_ERR';
}
function isTimeoutError(error) {
  const name = error?.name;
  return name === 'TimeoutError';
}
function toArtifactsError(error, what, options = {}) {
  if (ArtifactsError.is(error)) return scrubError(error, options.secrets);
  const raw2 = error instanceof Error ? error.message : String(error);
  const connection = isConnectionError(error);
  let code =
    options.code ?? ERRNO_CODES[errorCodeOf(error) ?? ''] ?? (connection ? 'unavailable' : 'internal');
  if (isTimeoutError(error)) code = 'timeout';
  else if (isAbortError(error)) code = 'aborted';
  const message = scrub(`${describe(code, what)}: ${raw2}`, options.secrets);
  return new ArtifactsError(code, message, {
    cause: error,
    temporary: connection && code !== 'aborted' && options.code === void 0,
  });
}
function describe(code, what) {
  switch (code) {
    case 'not_found':
      return `${what} does not exist`;
    case 'permission_denied':
      return `permission denied for ${what}`;
    case 'timeout':
      return `${what} timed out`;
    case 'aborted':
      return `${what} was aborted`;
    case 'unavailable':
      return `storage unavailable for ${what}`;
    default:
      return `${what} failed`;
  }
}
function scrub(message, secrets = []) {
  let out = message;
  for (const secret of secrets) {
    if (!secret || secret.length < 3) continue;
    for (const form of /* @__PURE__ */ new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}
function scrubError(error, secrets = []) {
  if (secrets.length === 0) return error;
  const message = scrub(error.message, secrets);
  if (message === error.message) return error;
  return new ArtifactsError(error.code, message, {
    cause: error.cause,
    context: error.context,
    failures: error.failures,
    temporary: error.temporary,
  });
}

// src/config.ts
var DEFAULT_MAX_CONCURRENCY = 16;
function raw(name) {
  const value = process.env[name];
  return value === void 0 || value.trim() === '' ? void 0 : value.trim();
}
function envBoolean(name) {
  const value = raw(name)?.toLowerCase();
  if (value === void 0) return void 0;
  if (['true', '1', 'yes', 'on'].includes(value)) return true;
  if (['false', '0', 'no', 'off'].includes(value)) return false;
  throw ArtifactsError.invalidArgument(
    `environment variable ${name}=${JSON.stringify(process.env[name])} is not a boolean (true/false)`,
  );
}
function envNumber(name, { integer = false, min } = {}) {
  const value = raw(name);
  if (value === void 0) return void 0;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || (min !== void 0 && n < min)) {
    const kind = integer ? 'an integer' : 'a number';
    throw ArtifactsError.invalidArgument(
      `environment variable ${name}=${JSON.stringify(value)} is not ${kind}${min === void 0 ? '' : ` >= ${min}`}`,
    );
  }
  return n;
}
function envString(name) {
  return raw(name);
}
function envTransferTimeoutMs(name = 'MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT') {
  const seconds = envNumber(name);
  if (seconds === void 0 || seconds <= 0) {
    if (seconds !== void 0 && seconds < 0 && seconds !== -1) {
      throw ArtifactsError.invalidArgument(
        `environment variable ${name}=${seconds} must be a positive number of seconds or -1 for no limit`,
      );
    }
    return void 0;
  }
  return seconds * 1e3;
}
function resolveTimeoutMs(option, backendDefaultMs) {
  if (option !== void 0) {
    if (option === -1 || option === 0) return void 0;
    if (typeof option !== 'number' || !(option > 0) || !Number.isFinite(option)) {
      throw ArtifactsError.invalidArgument(
        `timeoutMs must be a positive number of milliseconds or -1 for no limit, got ${String(option)}`,
      );
    }
    return option;
  }
  if (envNumber('MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT') !== void 0) return envTransferTimeoutMs();
  return backendDefaultMs;
}
function envMaxRetries() {
  return envNumber('ARTIFACTS_MAX_RETRIES', { integer: true, min: 0 }) ?? 3;
}
function envMaxConcurrency() {
  return envNumber('ARTIFACTS_MAX_CONCURRENCY', { integer: true, min: 1 }) ?? DEFAULT_MAX_CONCURRENCY;
}

// src/connection-pool.ts
var ConnectionPool = class {
  #factory;
  #options;
  #entries = [];
  #waiters = [];
  #opening = 0;
  #closed = false;
  /** Highest number of connections open at once (for tests and diagnostics). */
  peakConnections = 0;
  /** Connections opened over the pool's life. */
  openedConnections = 0;
  constructor(factory, options) {
    this.#factory = factory;
    this.#options = options;
  }
  /** Connections currently open (or being opened). */
  get size() {
    return this.#entries.length + this.#opening;
  }
  /** Borrows a connection, opening one if none is free and the pool may grow, else waiting. */
  acquire(signal) {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve3, reject) => {
      const waiter = { resolve: resolve3, reject };
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
  use(fn, options = {}) {
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
  async lease(fn, options = {}) {
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
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of this.#waiters.splice(0)) {
      this.#unlisten(waiter);
      waiter.reject(this.#closedError());
    }
    const entries = this.#entries.splice(0);
    await Promise.all(entries.map((entry) => this.#destroy(entry)));
  }
  #lease(entry) {
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
  #drain() {
    while (this.#waiters.length > 0 && !this.#closed) {
      const idle = this.#entries.find((entry) => !entry.dead && entry.active === 0);
      if (idle) {
        this.#grant(this.#waiters.shift(), idle);
        continue;
      }
      if (this.#entries.length + this.#opening < this.#options.maxConnections) {
        this.#open(this.#waiters.shift());
        continue;
      }
      let shared;
      for (const entry of this.#entries) {
        if (entry.dead || entry.active >= this.#options.operationsPerConnection) continue;
        if (!shared || entry.active < shared.active) shared = entry;
      }
      if (!shared) return;
      this.#grant(this.#waiters.shift(), shared);
    }
  }
  #grant(waiter, entry) {
    this.#unlisten(waiter);
    if (entry.idleTimer) {
      clearTimeout(entry.idleTimer);
      entry.idleTimer = void 0;
    }
    if (entry.active === 0) this.#factory.setActive?.(entry.connection, true);
    entry.active++;
    waiter.resolve(entry);
  }
  #open(waiter) {
    this.#opening++;
    this.#factory.create(waiter.signal).then(
      (connection) => {
        this.#opening--;
        const entry = { connection, active: 0, dead: false };
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
      (error) => {
        this.#opening--;
        this.#unlisten(waiter);
        waiter.reject(error);
        this.#drain();
      },
    );
  }
  #idle(entry) {
    this.#factory.setActive?.(entry.connection, false);
    if (this.#options.idleTimeoutMs > 0) {
      entry.idleTimer = setTimeout(() => {
        if (entry.active === 0) this.#kill(entry);
      }, this.#options.idleTimeoutMs);
      entry.idleTimer.unref();
    }
  }
  /** Removes a connection from the pool and closes it. */
  #kill(entry) {
    if (entry.dead) return;
    entry.dead = true;
    const index = this.#entries.indexOf(entry);
    if (index !== -1) this.#entries.splice(index, 1);
    void this.#destroy(entry);
    this.#drain();
  }
  #discardIdle() {
    for (const entry of [...this.#entries]) if (entry.active === 0) this.#kill(entry);
  }
  async #destroy(entry) {
    entry.dead = true;
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    try {
      await this.#factory.destroy(entry.connection);
    } catch {}
  }
  #unlisten(waiter) {
    if (waiter.signal && waiter.onAbort) waiter.signal.removeEventListener('abort', waiter.onAbort);
  }
  #closedError() {
    return new ArtifactsError(
      'failed_precondition',
      `the connection pool for ${this.#options.label} is closed`,
    );
  }
};
function abortReason(signal) {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
function crc32cTable() {
  const table = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 2197175160 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n];
    for (let k = 1; k < 8; k++) {
      c = table[c & 255] ^ (c >>> 8);
      table[k * 256 + n] = c >>> 0;
    }
  }
  return table;
}
var CRC32C;
function crc32c(chunk, previous = 0) {
  CRC32C ??= crc32cTable();
  const t = CRC32C;
  let crc = ~previous >>> 0;
  let i = 0;
  const n = chunk.length;
  while (n - i >= 8) {
    crc ^= chunk[i] | (chunk[i + 1] << 8) | (chunk[i + 2] << 16) | (chunk[i + 3] << 24);
    crc =
      t[7 * 256 + (crc & 255)] ^
      t[6 * 256 + ((crc >>> 8) & 255)] ^
      t[5 * 256 + ((crc >>> 16) & 255)] ^
      t[4 * 256 + (crc >>> 24)] ^
      t[3 * 256 + chunk[i + 4]] ^
      t[2 * 256 + chunk[i + 5]] ^
      t[256 + chunk[i + 6]] ^
      t[chunk[i + 7]];
    i += 8;
  }
  while (i < n) crc = t[(crc ^ chunk[i++]) & 255] ^ (crc >>> 8);
  return ~crc >>> 0;
}
function crcHasher(step) {
  let value = 0;
  return {
    update(chunk) {
      value = step(chunk, value);
    },
    digest() {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(value >>> 0);
      return out.toString('base64');
    },
  };
}
function createHasher(algorithm) {
  switch (algorithm) {
    case 'crc32c':
      return crcHasher(crc32c);
    case 'crc32':
      return crcHasher((chunk, previous) => zlib.crc32(chunk, previous));
    default: {
      const hash = createHash(algorithm);
      return {
        update: (chunk) => hash.update(chunk),
        digest: () => hash.digest('base64'),
      };
    }
  }
}

// src/internal/pool.ts
var Limiter = class {
  constructor(limit) {
    this.limit = limit;
  }
  active = 0;
  waiting = [];
  async run(task) {
    if (this.active >= this.limit) await new Promise((resolve3) => this.waiting.push(resolve3));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
};

// src/layers/wrap.ts
function wrapDriver(driver, overrides) {
  const out = {
    capabilities: driver.capabilities,
    ...(driver.secrets ? { secrets: driver.secrets } : {}),
    write: overrides.write ?? ((key, body, options) => driver.write(key, body, options)),
    read: overrides.read ?? ((key, options) => driver.read(key, options)),
    stat: overrides.stat ?? ((key, options) => driver.stat(key, options)),
    list: overrides.list ?? ((prefix, options) => driver.list(prefix, options)),
    delete: overrides.delete ?? ((key, options) => driver.delete(key, options)),
    close: overrides.close ?? (() => driver.close()),
  };
  const optional = ['writeFromFile', 'readToFile', 'mkdir', 'copy', 'multipart', 'presign'];
  for (const name of optional) {
    if (driver[name] === void 0) continue;
    const member = name in overrides ? overrides[name] : bindMember(driver, name);
    if (member !== void 0) Object.assign(out, { [name]: member });
  }
  return out;
}
function bindMember(driver, name) {
  const member = driver[name];
  return typeof member === 'function' ? member.bind(driver) : member;
}

// src/layers/limit.ts
function withLimit(driver, limit) {
  const limiter = new Limiter(limit);
  return wrapDriver(driver, {
    stat: (key, o) => limiter.run(() => driver.stat(key, o)),
    read: (key, o) => limiter.run(() => driver.read(key, o)),
    delete: (key, o) => limiter.run(() => driver.delete(key, o)),
    write: (key, body, o) => limiter.run(() => driver.write(key, body, o)),
    // A listing is one logical call over many pages: limiting each page could starve it behind
    // transfers it is feeding.
    list: (prefix, o) => driver.list(prefix, o),
    mkdir: driver.mkdir && ((key, o) => limiter.run(() => driver.mkdir(key, o))),
    copy: driver.copy && ((from, to, o) => limiter.run(() => driver.copy(from, to, o))),
    writeFromFile:
      driver.writeFromFile && ((key, path, o) => limiter.run(() => driver.writeFromFile(key, path, o))),
    readToFile: driver.readToFile && ((key, path, o) => limiter.run(() => driver.readToFile(key, path, o))),
  });
}
var PullStream = class extends Readable {
  /** Bytes handed to the consumer. */
  pulled = 0;
  #wanting = false;
  #ended = false;
  #source;
  #options;
  #onReadable = () => {
    if (this.#wanting) this.#drain();
  };
  #onEnd = () => {
    this.#ended = true;
    this.#options.onData?.();
    this.push(null);
  };
  #onError = (error) => this.destroy(error);
  constructor(source, options) {
    super({ highWaterMark: 64 * 1024 });
    this.#source = source;
    this.#options = options;
    source.on('readable', this.#onReadable);
    source.once('end', this.#onEnd);
    source.once('error', this.#onError);
    if (source.readableEnded) this.#onEnd();
  }
  _read() {
    this.#wanting = true;
    this.#drain();
  }
  #drain() {
    if (this.#ended || this.destroyed) return;
    for (;;) {
      const chunk = this.#source.read();
      if (chunk === null) break;
      this.#options.onData?.();
      this.pulled += chunk.length;
      this.#options.onChunk?.(chunk.length);
      if (!this.push(chunk)) {
        this.#wanting = false;
        return;
      }
    }
    if (!this.#ended && !this.#source.readableEnded) this.#options.onWait?.();
  }
  /** Stops listening to the source without touching it. */
  detach() {
    this.#source.off('readable', this.#onReadable);
    this.#source.off('end', this.#onEnd);
    this.#source.off('error', this.#onError);
  }
  _destroy(error, callback) {
    this.detach();
    if (this.#options.ownSource && !this.#source.destroyed) this.#source.destroy();
    callback(error);
  }
};

// src/layers/retry.ts
function retryAfterOf(error) {
  if (!ArtifactsError.is(error)) return void 0;
  const value = error.context.retryAfterMs;
  return typeof value === 'number' && value >= 0 ? value : void 0;
}
function parseRetryAfter(value, now = Date.now()) {
  if (value === null || value === void 0 || value.trim() === '') return void 0;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1e3;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? void 0 : Math.max(0, date - now);
}
function sleep(ms, signal) {
  return new Promise((resolve3, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort2);
      resolve3();
    }, ms);
    const onAbort2 = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort2, { once: true });
  });
}
function withRetry(driver, options = {}) {
  const maxAttempts = options.maxAttempts ?? 4;
  const base = options.baseDelayMs ?? 200;
  const cap = options.maxDelayMs ?? 2e4;
  const random = options.random ?? Math.random;
  let budget = options.budget ?? 100;
  const full = budget;
  async function again(operation, key, attempt, error, signal) {
    if (attempt >= maxAttempts || budget < 1 || signal?.aborted || !isTemporaryError(error)) return false;
    budget -= 1;
    const backoff = random() * Math.min(cap, base * 2 ** (attempt - 1));
    const delayMs = Math.round(Math.min(cap, Math.max(backoff, retryAfterOf(error) ?? 0)));
    options.onRetry?.({ operation, key, attempt, delayMs, error });
    await sleep(delayMs, signal);
    return true;
  }
  function succeeded() {
    budget = Math.min(full, budget + 0.1);
  }
  async function retried(operation, key, opts, call) {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await call();
        succeeded();
        return result;
      } catch (error) {
        if (!(await again(operation, key, attempt, error, opts?.signal))) throw error;
      }
    }
  }
  return wrapDriver(driver, {
    stat: (key, o) => retried('stat', key, o, () => driver.stat(key, o)),
    read: (key, o) => retried('read', key, o, () => driver.read(key, o)),
    delete: (key, o) => retried('delete', key, o, () => driver.delete(key, o)),
    async write(key, body, o) {
      for (let attempt = 1; ; attempt++) {
        const view = new PullStream(body, { ownSource: false });
        view.on('error', () => void 0);
        try {
          const result = await driver.write(key, view, o);
          succeeded();
          return result;
        } catch (error) {
          view.detach();
          const unread = view.pulled === 0 && !body.destroyed && !body.readableEnded;
          if (!unread || !(await again('write', key, attempt, error, o.signal))) {
            if (!body.destroyed) body.destroy();
            throw error;
          }
        }
      }
    },
    list(prefix, o) {
      return {
        async *[Symbol.asyncIterator]() {
          for (let attempt = 1; ; attempt++) {
            let yielded = false;
            try {
              for await (const entry of driver.list(prefix, o)) {
                yielded = true;
                yield entry;
              }
              succeeded();
              return;
            } catch (error) {
              if (yielded || !(await again('list', prefix, attempt, error, o.signal))) throw error;
            }
          }
        },
      };
    },
    mkdir: driver.mkdir && ((key, o) => retried('mkdir', key, o, () => driver.mkdir(key, o))),
    copy: driver.copy && ((from, to, o) => retried('copy', from, o, () => driver.copy(from, to, o))),
    multipart: driver.multipart && {
      // Creating twice would leave an orphan upload, completing twice may fail after a success:
      // only the abort is repeated.
      create: (key, o) => driver.multipart.create(key, o),
      complete: (key, id, parts, o) => driver.multipart.complete(key, id, parts, o),
      abort: (key, id, o) => retried('abort', key, o, () => driver.multipart.abort(key, id, o)),
    },
    presign: driver.presign && {
      getUrl: (key, o) => retried('presign', key, o, () => driver.presign.getUrl(key, o)),
      putUrl: (key, o) => retried('presign', key, o, () => driver.presign.putUrl(key, o)),
    },
  });
}

// src/layers/timeout.ts
var Watchdog = class {
  constructor(ms, what, user) {
    this.ms = ms;
    this.what = what;
    this.signal = user ? AbortSignal.any([user, this.#controller.signal]) : this.#controller.signal;
  }
  #controller = new AbortController();
  signal;
  #timer;
  fired = false;
  arm() {
    this.disarm();
    this.#timer = setTimeout(() => {
      this.fired = true;
      this.#controller.abort(this.error());
    }, this.ms);
  }
  /** Arms unless already counting: a wait that goes on does not restart the clock. */
  wait() {
    if (this.#timer === void 0) this.arm();
  }
  disarm() {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = void 0;
  }
  error(cause) {
    return new ArtifactsError('timeout', `${this.what}: no progress for ${this.ms} ms`, {
      ...(cause === void 0 ? {} : { cause }),
      context: { timeoutMs: this.ms },
    });
  }
  /** The error to throw for `error`: ours when the watchdog fired, the driver's otherwise. */
  translate(error) {
    return this.fired ? this.error(error) : error;
  }
};
function limitOf(options, fallback) {
  const ms = options?.timeoutMs ?? fallback;
  return ms !== void 0 && ms > 0 ? ms : void 0;
}
function withTimeout(driver, defaultMs) {
  async function bounded(what, options, call) {
    const ms = limitOf(options, defaultMs);
    if (ms === void 0) return call(options ?? {});
    const dog = new Watchdog(ms, what, options?.signal);
    dog.arm();
    try {
      return await call({ ...options, signal: dog.signal });
    } catch (error) {
      throw dog.translate(error);
    } finally {
      dog.disarm();
    }
  }
  function watchRead(result, dog) {
    const stream = new PullStream(result.stream, {
      ownSource: true,
      onWait: () => dog.wait(),
      onData: () => dog.disarm(),
    });
    dog.signal.addEventListener(
      'abort',
      () => {
        if (dog.fired) stream.destroy(dog.error());
      },
      { once: true },
    );
    stream.once('close', () => dog.disarm());
    return { ...result, stream };
  }
  return wrapDriver(driver, {
    stat: (key, options) => bounded(`reading ${JSON.stringify(key)}`, options, (o) => driver.stat(key, o)),
    async read(key, options) {
      const ms = limitOf(options, defaultMs);
      if (ms === void 0) return driver.read(key, options);
      const dog = new Watchdog(ms, `reading ${JSON.stringify(key)}`, options.signal);
      dog.arm();
      let result;
      try {
        result = await driver.read(key, { ...options, signal: dog.signal });
      } catch (error) {
        dog.disarm();
        throw dog.translate(error);
      }
      dog.disarm();
      return watchRead(result, dog);
    },
    async write(key, body, options) {
      const ms = limitOf(options, defaultMs);
      if (ms === void 0) return driver.write(key, body, options);
      const dog = new Watchdog(ms, `writing ${JSON.stringify(key)}`, options.signal);
      const watched = new PullStream(body, { ownSource: true, onChunk: () => dog.arm() });
      watched.once('end', () => dog.disarm());
      watched.on('error', () => void 0);
      dog.signal.addEventListener('abort', () => dog.fired && watched.destroy(dog.error()), { once: true });
      dog.arm();
      try {
        return await driver.write(key, watched, { ...options, signal: dog.signal });
      } catch (error) {
        throw dog.translate(error);
      } finally {
        dog.disarm();
      }
    },
    list(prefix, options) {
      const ms = limitOf(options, defaultMs);
      if (ms === void 0) return driver.list(prefix, options);
      return {
        async *[Symbol.asyncIterator]() {
          const dog = new Watchdog(ms, `listing ${JSON.stringify(prefix)}`, options.signal);
          const iterator = driver.list(prefix, { ...options, signal: dog.signal })[Symbol.asyncIterator]();
          try {
            for (;;) {
              dog.arm();
              let next;
              try {
                next = await iterator.next();
              } catch (error) {
                throw dog.translate(error);
              }
              dog.disarm();
              if (next.done) return;
              yield next.value;
            }
          } finally {
            dog.disarm();
            await iterator.return?.();
          }
        },
      };
    },
    mkdir: driver.mkdir
      ? (key, options) => bounded(`creating ${JSON.stringify(key)}`, options, (o) => driver.mkdir(key, o))
      : void 0,
    copy: driver.copy
      ? (from, to, options) =>
          bounded(`copying ${JSON.stringify(from)}`, options, (o) => driver.copy(from, to, o))
      : void 0,
    multipart: driver.multipart && {
      create: (key, options) =>
        bounded(`starting an upload of ${JSON.stringify(key)}`, options, (o) =>
          driver.multipart.create(key, { ...options, ...o }),
        ),
      complete: (key, uploadId, parts, options) =>
        bounded(`completing an upload of ${JSON.stringify(key)}`, options, (o) =>
          driver.multipart.complete(key, uploadId, parts, o),
        ),
      abort: (key, uploadId, options) =>
        bounded(`aborting an upload of ${JSON.stringify(key)}`, options, (o) =>
          driver.multipart.abort(key, uploadId, o),
        ),
    },
    presign: driver.presign && {
      getUrl: (key, options) =>
        bounded(`presigning ${JSON.stringify(key)}`, options, (o) =>
          driver.presign.getUrl(key, { ...options, ...o }),
        ),
      putUrl: (key, options) =>
        bounded(`presigning ${JSON.stringify(key)}`, options, (o) =>
          driver.presign.putUrl(key, { ...options, ...o }),
        ),
    },
  });
}
var FIRST_PARTY_BACKENDS = {
  file: '@artifacts/local',
  s3: '@artifacts/s3',
  s3a: '@artifacts/s3',
  s3n: '@artifacts/s3',
  gs: '@artifacts/gcs',
  wasbs: '@artifacts/azure',
  wasb: '@artifacts/azure',
  sftp: '@artifacts/sftp',
  ftp: '@artifacts/ftp',
  ftps: '@artifacts/ftp',
  hdfs: '@artifacts/hdfs',
  viewfs: '@artifacts/hdfs',
  webhdfs: '@artifacts/hdfs',
  swebhdfs: '@artifacts/hdfs',
  'mlflow-artifacts': '@artifacts/http',
  http: '@artifacts/http',
  https: '@artifacts/http',
};
var KEY = Symbol.for('@artifacts/core/registry');
function registry() {
  const holder = globalThis;
  let current = holder[KEY];
  if (!current) {
    current = { plugins: /* @__PURE__ */ new Map(), pluginsLoaded: void 0 };
    holder[KEY] = current;
  }
  return current;
}
function registerBackend(plugin) {
  if (
    !plugin ||
    typeof plugin.open !== 'function' ||
    !Array.isArray(plugin.schemes) ||
    plugin.schemes.length === 0
  ) {
    throw ArtifactsError.invalidArgument(
      'a backend plugin needs a name, a non-empty schemes array and an open() function',
    );
  }
  for (const scheme of plugin.schemes) {
    if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
      throw ArtifactsError.invalidArgument(
        `backend ${plugin.name}: scheme ${JSON.stringify(scheme)} must be lower-case letters, digits, '+', '.' or '-'`,
      );
    }
    registry().plugins.set(scheme, plugin);
  }
}
function registeredSchemes() {
  return [...registry().plugins.keys()].sort();
}
var RESOLVE_FROM_CWD_ENV = 'ARTIFACTS_RESOLVE_FROM_CWD';
async function loadBesideCore(specifier) {
  return import(specifier);
}
async function loadFromCwd(name) {
  join(process.cwd(), 'noop.js');
  const entry = esmEntry(name, process.cwd());
  if (!entry) throw moduleNotFound(name, process.cwd());
  return import(pathToFileURL(entry).href);
}
function moduleNotFound(name, from) {
  return Object.assign(new Error(`Cannot find package '${name}' from ${from}`), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
}
var ESM_CONDITIONS = ['node', 'import', 'default'];
function pickExport(target) {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const item of target) {
      const found = pickExport(item);
      if (found) return found;
    }
    return void 0;
  }
  if (target && typeof target === 'object') {
    for (const [condition, value] of Object.entries(target)) {
      if (!ESM_CONDITIONS.includes(condition)) continue;
      const found = pickExport(value);
      if (found) return found;
    }
  }
  return void 0;
}
function exportsRoot(exportsField) {
  if (!exportsField || typeof exportsField !== 'object' || Array.isArray(exportsField)) return exportsField;
  const map = exportsField;
  return Object.keys(map).some((key) => key.startsWith('.')) ? map['.'] : map;
}
function esmEntry(name, from) {
  let dir = resolve(from);
  for (;;) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifestPath = join(pkgDir, 'package.json');
    if (existsSync(manifestPath)) {
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
      const target =
        manifest.exports === void 0
          ? (manifest.main ?? 'index.js')
          : pickExport(exportsRoot(manifest.exports));
      return target === void 0 ? void 0 : join(pkgDir, target);
    }
    const parent = dirname(dir);
    if (parent === dir) return void 0;
    dir = parent;
  }
}
function resolveFromCwd() {
  return process.env[RESOLVE_FROM_CWD_ENV] === '1';
}
async function importPackage(name) {
  if (isAbsolute(name) || name.startsWith('./') || name.startsWith('../')) {
    await import(pathToFileURL(resolve(name)).href);
    return;
  }
  try {
    await loadBesideCore(name);
    return;
  } catch (error) {
    if (!isModuleNotFound(error, name) || !resolveFromCwd()) throw error;
  }
  await loadFromCwd(name);
}
function isModuleNotFound(error, name) {
  const code = error?.code;
  const message = error instanceof Error ? error.message : '';
  return (
    (code === 'MODULE_NOT_FOUND' ||
      code === 'ERR_MODULE_NOT_FOUND' ||
      code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') &&
    message.includes(name)
  );
}
function loadEnvPlugins() {
  const reg = registry();
  reg.pluginsLoaded ??= (async () => {
    const names = (process.env.ARTIFACTS_PLUGINS ?? '').split(/[\s,]+/).filter(Boolean);
    for (const name of names) {
      try {
        await importPackage(name);
      } catch (error) {
        reg.pluginsLoaded = void 0;
        throw new ArtifactsError(
          'invalid_argument',
          `ARTIFACTS_PLUGINS lists ${JSON.stringify(name)}, which could not be imported: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    }
  })();
  return reg.pluginsLoaded;
}
async function resolveBackend(scheme) {
  await loadEnvPlugins();
  const found = registry().plugins.get(scheme);
  if (found) return found;
  const pkg = FIRST_PARTY_BACKENDS[scheme];
  if (pkg) {
    try {
      await importPackage(pkg);
    } catch (error) {
      if (isModuleNotFound(error, pkg)) {
        throw ArtifactsError.unsupported(missingBackendMessage(scheme, pkg), { cause: error });
      }
      throw new ArtifactsError(
        'internal',
        `loading ${pkg} for ${scheme}: URIs failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const loaded = registry().plugins.get(scheme);
    if (loaded) return loaded;
    throw ArtifactsError.unsupported(`${pkg} was imported but registered no backend for ${scheme}: URIs`);
  }
  const known = registeredSchemes();
  throw ArtifactsError.unsupported(
    `no backend for URI scheme ${JSON.stringify(scheme)}; registered schemes: ${known.length ? known.join(', ') : '(none)'}; first-party schemes: ${Object.keys(FIRST_PARTY_BACKENDS).join(', ')}. A third-party backend registers itself with registerBackend() or through ARTIFACTS_PLUGINS.`,
  );
}
function missingBackendMessage(scheme, pkg) {
  const cwd = resolveFromCwd()
    ? ''
    : ` (a copy in the working directory's node_modules is used only with ${RESOLVE_FROM_CWD_ENV}=1)`;
  return `no backend is installed for ${scheme}: URIs. In an application: npm install ${pkg}, then import '${pkg}' once before opening the URI. For the artifacts command: install it beside the command, npm install --global ${pkg}${cwd}.`;
}
function toReadable(body) {
  if (typeof body === 'string') {
    const bytes = Buffer.from(body, 'utf8');
    return { stream: Readable.from([bytes], { objectMode: false }), size: bytes.length };
  }
  if (body instanceof Uint8Array) {
    return {
      stream: Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)], {
        objectMode: false,
      }),
      size: body.byteLength,
    };
  }
  if (body instanceof Readable) return { stream: body };
  if (body && typeof body.getReader === 'function') {
    return { stream: Readable.fromWeb(body) };
  }
  throw ArtifactsError.invalidArgument(
    'write body must be a Readable, a web ReadableStream, a Uint8Array or a string',
  );
}
var Meter = class extends Transform {
  constructor(algorithm, onBytes, expected, what = 'artifact') {
    super();
    this.algorithm = algorithm;
    this.onBytes = onBytes;
    this.expected = expected;
    this.what = what;
    this.hasher = algorithm ? createHasher(algorithm) : void 0;
  }
  bytes = 0;
  hasher;
  digestValue;
  _transform(chunk, _encoding, callback) {
    this.bytes += chunk.length;
    this.hasher?.update(chunk);
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }
  _flush(callback) {
    if (this.expected && this.hasher && this.expected.algorithm === this.algorithm) {
      const actual = this.digest();
      if (actual !== this.expected.value) {
        callback(
          new ArtifactsError(
            'integrity',
            `${this.what}: ${this.algorithm} checksum mismatch (store says ${this.expected.value}, received bytes hash to ${actual})`,
          ),
        );
        return;
      }
    }
    callback();
  }
  digest() {
    if (!this.hasher) return void 0;
    this.digestValue ??= this.hasher.digest();
    return this.digestValue;
  }
};
var RangeSlice = class extends Transform {
  constructor(range) {
    super();
    this.range = range;
  }
  position = 0;
  _transform(chunk, _encoding, callback) {
    const start = this.range.start;
    const end = this.range.end ?? Number.POSITIVE_INFINITY;
    const from = Math.max(0, start - this.position);
    const to = Math.min(chunk.length, end + 1 - this.position);
    this.position += chunk.length;
    if (to > from) this.push(chunk.subarray(from, to));
    if (this.position > end) {
      this.push(null);
      callback();
      return;
    }
    callback();
  }
};

// src/path-safety.ts
var MAX_DECODE_ROUNDS = 8;
function validateArtifactPath(path, options = {}) {
  const label = options.label ?? 'artifact path';
  if (path === void 0 || path === null) path = '';
  if (typeof path !== 'string') {
    throw ArtifactsError.invalidArgument(`${label} must be a string, got ${typeof path}`);
  }
  const refuse = (why) => {
    throw ArtifactsError.invalidArgument(`${label} ${JSON.stringify(path)} is refused: ${why}`, {
      context: { path },
    });
  };
  for (const form of decodedForms(path)) checkForm(form, refuse);
  const segments = path.split('/');
  if (segments.at(-1) === '') segments.pop();
  const kept = [];
  for (const segment of segments) {
    if (segment === '.') continue;
    if (segment === '') refuse('it contains an empty segment ("//")');
    kept.push(segment);
  }
  const key = kept.join('/');
  if (key === '' && options.allowRoot === false)
    refuse('it names the repository root, a file path is needed');
  return key;
}
function decodedForms(path) {
  const forms = [path];
  let current = path;
  for (let i = 0; i < MAX_DECODE_ROUNDS && current.includes('%'); i++) {
    const next = lenientDecode(current);
    if (next === current) break;
    forms.push(next);
    current = next;
  }
  return forms;
}
function lenientDecode(value) {
  try {
    return decodeURIComponent(value);
  } catch {
    return value.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run.replace(/%([0-9a-fA-F]{2})/g, (_, hex) => String.fromCharCode(Number.parseInt(hex, 16)));
      }
    });
  }
}
function checkForm(form, refuse) {
  if (/[\u0000-\u001f\u007f]/.test(form)) refuse('it contains a NUL or control character');
  if (form.includes('\\')) refuse('it contains a backslash');
  if (form.includes('#')) refuse("it contains '#'");
  if (form.startsWith('/')) refuse('it is absolute, a relative path is needed');
  if (/^[a-zA-Z]:/.test(form)) refuse('it starts with a drive letter');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(form)) refuse('it is a URI, a relative path is needed');
  if (form.split('/').some((segment) => segment === '..')) refuse("it contains a '..' segment");
}
function joinKey(...parts) {
  return parts.filter((part) => part !== '').join('/');
}
function baseName(key) {
  const trimmed = key.replace(/[\\/]+$/, '');
  const index = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return index === -1 ? trimmed : trimmed.slice(index + 1);
}
function parentKey(key) {
  const index = key.lastIndexOf('/');
  return index === -1 ? '' : key.slice(0, index);
}
var TEMP_SUFFIX = '.artifacts-tmp';
var TEMP_NAME_KEPT_BYTES = 120;
var TEMP_MAX_AGE_MS = 24 * 60 * 60 * 1e3;
var TEMP_PATTERN = /^\.([\s\S]*)\.([0-9a-z]{1,10})-([0-9a-f]{8})-([0-9a-f]{12})\.artifacts-tmp$/;
var hostTag;
function thisHost() {
  hostTag ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  return hostTag;
}
function truncateUtf8(name, bytes) {
  if (Buffer.byteLength(name) <= bytes) return name;
  let kept = '';
  let used = 0;
  for (const char of name) {
    const size = Buffer.byteLength(char);
    if (used + size > bytes) break;
    kept += char;
    used += size;
  }
  return kept;
}
function tempNameFor(name) {
  const kept = truncateUtf8(name, TEMP_NAME_KEPT_BYTES);
  return `.${kept}.${process.pid.toString(36)}-${thisHost()}-${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
}
function tempPathFor(path) {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? tempNameFor(path) : `${path.slice(0, slash + 1)}${tempNameFor(path.slice(slash + 1))}`;
}
function isTempName(name) {
  if (!name.endsWith(TEMP_SUFFIX)) return false;
  return TEMP_PATTERN.test(name.slice(name.lastIndexOf('/') + 1));
}
function tempOwner(name) {
  const match = TEMP_PATTERN.exec(name.slice(name.lastIndexOf('/') + 1));
  if (!match) return void 0;
  return { pid: Number.parseInt(match[2], 36), sameHost: match[3] === thisHost() };
}
function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}
function isAbandonedTemp(name, modified, options = {}) {
  const owner = tempOwner(name);
  if (!owner) return false;
  if (owner.sameHost && owner.pid === process.pid) return false;
  if (owner.sameHost && !processAlive(owner.pid)) return true;
  if (modified === void 0) return false;
  const age = (options.now ?? Date.now()) - (typeof modified === 'number' ? modified : modified.getTime());
  return age > (options.maxAgeMs ?? TEMP_MAX_AGE_MS);
}
var OrphanTemps = class {
  #paths = /* @__PURE__ */ new Set();
  get size() {
    return this.#paths.size;
  }
  add(path) {
    this.#paths.add(path);
  }
  /**
   * Removes every remembered file with `remove`. An error for which `keep(error)` is true (a broken
   * connection) stops the sweep and is thrown, keeping the files not yet removed; any other error
   * (the file is gone, say) forgets that file.
   */
  async sweep(remove, keep) {
    for (const path of [...this.#paths]) {
      try {
        await remove(path);
      } catch (error) {
        if (keep(error)) throw error;
      }
      this.#paths.delete(path);
    }
  }
};
async function replaceAtomically(target, steps, options = {}) {
  const temp = options.temp ?? tempPathFor(target);
  try {
    options.signal?.throwIfAborted();
    await steps.write(temp);
    options.signal?.throwIfAborted();
    await steps.rename(temp, target);
    return temp;
  } catch (error) {
    try {
      await steps.remove(temp);
    } catch {
      options.orphans?.add(temp);
    }
    throw error;
  }
}

// src/temp-files.ts
var KEY2 = Symbol.for('@artifacts/core/temp-files');
function tracked() {
  const holder = globalThis;
  let set = holder[KEY2];
  if (!set) {
    set = /* @__PURE__ */ new Set();
    holder[KEY2] = set;
  }
  return set;
}
function trackTempFile(path) {
  tracked().add(path);
  return () => {
    tracked().delete(path);
  };
}
function removeTempFilesSync() {
  const removed = [];
  for (const path of tracked()) {
    try {
      unlinkSync(path);
      removed.push(path);
    } catch {}
  }
  tracked().clear();
  return removed;
}
var TEMP_NAME = /^\..+\.(?:artifacts-\d+-[0-9a-z]+\.part|[0-9a-f]{16}\.artifacts-tmp)$/;
function isTempFileName(name) {
  return TEMP_NAME.test(name) || isTempName(name);
}

// src/repository.ts
function guessContentType(name) {
  return mime.lookup(name) || 'application/octet-stream';
}
var abortFanouts = /* @__PURE__ */ new WeakMap();
function onAbort(signal, callback) {
  let fanout = abortFanouts.get(signal);
  if (fanout === void 0) {
    const callbacks = /* @__PURE__ */ new Set();
    const fire = () => {
      abortFanouts.delete(signal);
      for (const each of [...callbacks]) each();
      callbacks.clear();
    };
    fanout = { callbacks, fire };
    abortFanouts.set(signal, fanout);
    signal.addEventListener('abort', fire, { once: true });
  }
  const own = fanout;
  const entry = () => callback();
  own.callbacks.add(entry);
  return () => {
    if (!own.callbacks.delete(entry) || own.callbacks.size > 0) return;
    if (abortFanouts.get(signal) === own) abortFanouts.delete(signal);
    signal.removeEventListener('abort', own.fire);
  };
}
var Progress = class {
  constructor(onProgress, bytesTotal, filesTotal) {
    this.onProgress = onProgress;
    this.bytesTotal = bytesTotal;
    this.filesTotal = filesTotal;
  }
  bytesDone = 0;
  filesDone = 0;
  bytes(delta, path) {
    this.bytesDone += delta;
    this.emit(path);
  }
  file(path) {
    this.filesDone++;
    this.emit(path);
  }
  emit(path) {
    this.onProgress?.({
      bytesDone: this.bytesDone,
      filesDone: this.filesDone,
      ...(this.bytesTotal === void 0 ? {} : { bytesTotal: this.bytesTotal }),
      ...(this.filesTotal === void 0 ? {} : { filesTotal: this.filesTotal }),
      path,
    });
  }
};
var ArtifactRepository = class {
  /** The root URI with any password redacted. */
  uri;
  #driver;
  #limiter;
  #secrets;
  #closed = false;
  constructor(init) {
    this.uri = init.uri;
    this.#driver = init.driver;
    this.#limiter = new Limiter(init.maxConcurrency);
    this.#secrets = [...init.secrets, ...(init.driver.secrets ?? [])];
  }
  /** What the backend can do (multipart, presign, ranged reads, directories, checksums). */
  get capabilities() {
    return this.#driver.capabilities;
  }
  /** Stores a local file at `<artifactPath>/<basename>`. */
  async logArtifact(localFile, artifactPath, options = {}) {
    const dir = this.#key(artifactPath);
    const local = await this.#localStat(localFile, 'file');
    const key = joinKey(dir, this.#key(baseName(local.path), { label: 'file name', allowRoot: false }));
    const progress = new Progress(options.onProgress, local.size, 1);
    await this.#upload(local.path, key, local.size, progress, options);
  }
  /** Stores the contents of a local directory, recursively, under `artifactPath`. */
  async logArtifacts(localDir, artifactPath, options = {}) {
    const dir = this.#key(artifactPath);
    const root = await this.#localStat(localDir, 'directory');
    this.#open();
    const files = [];
    const emptyDirs = [];
    const failures = [];
    await walkLocal(root.path, async (absolute, isDir, size, empty) => {
      const rel = relative(root.path, absolute).split(sep).join('/');
      let key;
      try {
        key = joinKey(dir, validateArtifactPath(rel, { label: 'local file name' }));
      } catch (error) {
        failures.push({
          path: absolute,
          error: toArtifactsError(error, `local file ${JSON.stringify(absolute)}`),
        });
        return;
      }
      if (isDir) {
        if (empty && key !== '') emptyDirs.push(key);
      } else {
        files.push({ path: absolute, key, size });
      }
    });
    const progress = new Progress(
      options.onProgress,
      files.reduce((sum, file) => sum + file.size, 0),
      files.length,
    );
    if (this.#driver.capabilities.directories && this.#driver.mkdir) {
      for (const key of emptyDirs) {
        await this.#call(`creating directory ${JSON.stringify(key)}`, options, (o) =>
          this.#driver.mkdir(key, o),
        );
      }
    }
    const results = await Promise.allSettled(
      files.map((file) =>
        this.#limiter.run(() => this.#upload(file.path, file.key, file.size, progress, options, false)),
      ),
    );
    results.forEach((result, i) => {
      if (result.status === 'rejected') failures.push({ path: files[i].path, error: result.reason });
    });
    throwGathered(failures, 'upload', files.length, options.signal);
  }
  /** Direct children of `path`, sorted by path; `[]` for a missing path or a file. */
  async listArtifacts(path, options = {}) {
    const prefix = this.#key(path);
    const entries = await this.#call(`listing ${describePath(prefix)}`, options, async (o) => {
      const out = [];
      for await (const entry of this.#driver.list(prefix, { ...o, recursive: false })) {
        if (!isTempFileName(baseName(entry.key))) out.push(this.#fileInfo(entry, prefix));
      }
      return out;
    });
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  /** Every file (and, where directories exist on their own, every directory) under `path`. */
  async listArtifactsRecursive(path, options = {}) {
    const prefix = this.#key(path);
    const entries = await this.#call(`listing ${describePath(prefix)}`, options, async (o) => {
      const out = [];
      for await (const entry of this.#driver.list(prefix, { ...o, recursive: true }))
        if (!isTempFileName(baseName(entry.key))) out.push(this.#fileInfo(entry, prefix));
      return out;
    });
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  /**
   * Downloads a file or a directory to `<dstPath>/<artifactPath>` and returns that local path.
   * `dstPath` must be an existing directory; without one, a new temporary directory is used.
   */
  async downloadArtifacts(artifactPath, dstPath, options = {}) {
    const key = this.#key(artifactPath);
    this.#open();
    let dst;
    if (dstPath === void 0) {
      dst = await mkdtemp(join(tmpdir(), 'artifacts-'));
    } else {
      const info2 = await stat(dstPath).catch((error) => {
        throw toArtifactsError(error, `download destination ${JSON.stringify(dstPath)}`);
      });
      if (!info2.isDirectory()) {
        throw new ArtifactsError(
          'failed_precondition',
          `download destination ${JSON.stringify(dstPath)} is not a directory`,
        );
      }
      dst = resolve(dstPath);
    }
    const target = key === '' ? dst : join(dst, ...key.split('/'));
    const info =
      key === ''
        ? void 0
        : await this.#call(`reading ${describePath(key)}`, options, (o) => this.#driver.stat(key, o));
    if (key !== '' && info === void 0)
      throw ArtifactsError.notFound(`artifact ${JSON.stringify(key)} in ${this.uri}`, {
        context: { path: key },
      });
    if (info && !info.isDir) {
      const progress2 = new Progress(options.onProgress, info.size, 1);
      await mkdir(dirname(target), { recursive: true });
      await this.#download(key, target, progress2, options);
      return target;
    }
    const entries = await this.listArtifactsRecursive(key, options);
    const files = entries.filter((entry) => !entry.isDir);
    await mkdir(target, { recursive: true });
    for (const entry of entries) {
      if (entry.isDir) await mkdir(join(dst, ...entry.path.split('/')), { recursive: true });
    }
    const progress = new Progress(
      options.onProgress,
      files.reduce((sum, file) => sum + (file.fileSize ?? 0), 0),
      files.length,
    );
    const results = await Promise.allSettled(
      files.map((file) =>
        this.#limiter.run(async () => {
          const local = join(dst, ...file.path.split('/'));
          await mkdir(dirname(local), { recursive: true });
          await this.#download(file.path, local, progress, options);
        }),
      ),
    );
    const failures = [];
    results.forEach((result, i) => {
      if (result.status === 'rejected') failures.push({ path: files[i].path, error: result.reason });
    });
    throwGathered(failures, 'download', files.length, options.signal);
    return target;
  }
  /** Removes `path` and everything under `path/` (never `pathfoo`); the whole root when omitted. Idempotent. */
  async deleteArtifacts(artifactPath, options = {}) {
    const key = this.#key(artifactPath);
    await this.#call(`deleting ${describePath(key)}`, options, (o) => this.#driver.delete(key, o));
  }
  /** Opens a stream of an artifact's bytes, optionally a byte range (`end` inclusive). */
  async openRead(path, options = {}) {
    const key = this.#key(path, { allowRoot: false });
    const range = options.range ? checkRange(options.range) : void 0;
    const native = this.#driver.capabilities.rangeRead;
    const life = this.#scope(options);
    let result;
    try {
      result = await this.#call(`reading ${describePath(key)}`, options, (o) =>
        this.#driver.read(key, {
          ...o,
          signal: life.signal,
          ...(range && native ? { range } : {}),
        }),
      );
    } catch (error) {
      life.done();
      throw error;
    }
    options.onOpen?.({
      ...(result.size !== void 0 && (!range || native) ? { size: result.size } : {}),
      ...(result.totalSize === void 0 ? {} : { totalSize: result.totalSize }),
      ...(result.contentType ? { contentType: result.contentType } : {}),
    });
    const algorithm = result.checksum && !range ? result.checksum.algorithm : void 0;
    const meter = new Meter(algorithm, void 0, result.checksum, `artifact ${JSON.stringify(key)}`);
    const out = new PassThrough();
    const stages = [result.stream];
    if (range && !native) {
      const slice = new RangeSlice(range);
      slice.once('end', () => result.stream.destroy());
      stages.push(slice);
    }
    stages.push(meter, out);
    out.once('close', life.done);
    pipeline(stages).catch((error) => {
      if (error && error.code === 'ERR_STREAM_PREMATURE_CLOSE' && out.writableFinished) return;
      out.destroy(toArtifactsError(error, `reading ${describePath(key)}`, { secrets: this.#secrets }));
    });
    return out;
  }
  /** Writes a body (stream, bytes or string) to `path`; nothing is visible there unless it all arrived. */
  async write(path, body, options = {}) {
    const key = this.#key(path, { allowRoot: false });
    const { stream, size } = toReadable(body);
    const total = options.size ?? size;
    const progress = new Progress(options.onProgress, total, 1);
    await this.#limiter.run(() => this.#put(stream, key, total, progress, options));
  }
  /** Metadata of a file or directory; `not_found` when nothing is there. */
  async stat(path, options = {}) {
    const key = this.#key(path);
    if (key === '') return { path: '', isDir: true };
    const info = await this.#call(`reading ${describePath(key)}`, options, (o) => this.#driver.stat(key, o));
    if (!info)
      throw ArtifactsError.notFound(`artifact ${JSON.stringify(key)} in ${this.uri}`, {
        context: { path: key },
      });
    return {
      path: key,
      isDir: info.isDir,
      ...(info.isDir || info.size === void 0 ? {} : { fileSize: info.size }),
      ...(info.lastModified ? { lastModified: info.lastModified } : {}),
      ...(info.etag ? { etag: info.etag } : {}),
      ...(info.contentType ? { contentType: info.contentType } : {}),
    };
  }
  /** Whether a file or directory exists at `path`. */
  async exists(path, options = {}) {
    try {
      await this.stat(path, options);
      return true;
    } catch (error) {
      if (ArtifactsError.is(error, 'not_found')) return false;
      throw error;
    }
  }
  /** Starts an upload whose parts go straight to storage through presigned URLs. */
  async createMultipartUpload(path, numParts, options = {}) {
    const key = this.#key(path, { allowRoot: false });
    if (!Number.isInteger(numParts) || numParts < 1 || numParts > 1e4) {
      throw ArtifactsError.invalidArgument(
        `num_parts must be an integer between 1 and 10000, got ${numParts}`,
      );
    }
    const multipart = this.#multipart();
    return this.#call(`starting a multipart upload of ${describePath(key)}`, options, (o) =>
      multipart.create(key, {
        ...o,
        numParts,
        ...(options.expiresInSeconds ? { expiresInSeconds: options.expiresInSeconds } : {}),
      }),
    );
  }
  async completeMultipartUpload(path, uploadId, parts, options = {}) {
    const key = this.#key(path, { allowRoot: false });
    if (!Array.isArray(parts) || parts.length === 0)
      throw ArtifactsError.invalidArgument('parts must be a non-empty list');
    for (const part of parts) {
      if (!Number.isInteger(part?.partNumber) || part.partNumber < 1 || typeof part.etag !== 'string') {
        throw ArtifactsError.invalidArgument(
          'each part needs a positive integer part_number and an etag (a string)',
        );
      }
    }
    const multipart = this.#multipart();
    await this.#call(`completing the multipart upload of ${describePath(key)}`, options, (o) =>
      multipart.complete(key, uploadId, parts, o),
    );
  }
  async abortMultipartUpload(path, uploadId, options = {}) {
    const key = this.#key(path, { allowRoot: false });
    const multipart = this.#multipart();
    await this.#call(`aborting the multipart upload of ${describePath(key)}`, options, (o) =>
      multipart.abort(key, uploadId, o),
    );
  }
  /** A presigned URL to GET or PUT one artifact directly in storage. */
  async presignedUrl(path, method, options = {}) {
    const key = this.#key(path, { allowRoot: false });
    const presign = this.#driver.presign;
    if (!this.#driver.capabilities.presign || !presign)
      throw ArtifactsError.unsupported(`${this.uri} cannot presign URLs`);
    return this.#call(`presigning ${describePath(key)}`, options, (o) =>
      method === 'GET'
        ? presign.getUrl(key, { ...o, ...pickExpiry(options) })
        : presign.putUrl(key, { ...o, ...pickExpiry(options) }),
    );
  }
  /** Releases the backend's connections. Later calls fail with `failed_precondition`. Idempotent. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
  }
  // --- internals -------------------------------------------------------------------------------
  #open() {
    if (this.#closed) throw new ArtifactsError('failed_precondition', `repository ${this.uri} is closed`);
  }
  #key(path, options = {}) {
    this.#open();
    return validateArtifactPath(path, options);
  }
  #multipart() {
    const multipart = this.#driver.multipart;
    if (!this.#driver.capabilities.multipartUpload || !multipart) {
      throw ArtifactsError.unsupported(
        'Multipart upload is not supported for the current artifact repository',
      );
    }
    return multipart;
  }
  /** Validates a name the driver (or a server behind it) returned: hostile listings are refused too. */
  #fileInfo(entry, prefix) {
    const key = validateArtifactPath(entry.key, {
      label: 'name returned by the storage listing',
      allowRoot: false,
    });
    if (prefix !== '' && !key.startsWith(`${prefix}/`)) {
      throw new ArtifactsError(
        'integrity',
        `the storage listing of ${JSON.stringify(prefix)} returned ${JSON.stringify(key)}, which is outside it`,
      );
    }
    return entry.isDir
      ? { path: key, isDir: true }
      : { path: key, isDir: false, ...(entry.size === void 0 ? {} : { fileSize: entry.size }) };
  }
  /** Runs one driver call with the timeout and signal applied and errors mapped. */
  async #call(what, options, fn) {
    this.#open();
    const scope = this.#scope(options);
    try {
      return await fn({
        signal: scope.signal,
        ...timeoutOf(options),
      });
    } catch (error) {
      throw this.#error(error, what, scope);
    } finally {
      scope.done();
    }
  }
  /** Links the call to the caller's signal; timeouts are the timeout layer's (see `withTimeout`). */
  #scope(options) {
    if (options.signal?.aborted)
      throw new ArtifactsError('aborted', 'the operation was aborted before it started', {
        cause: options.signal.reason,
      });
    const controller = new AbortController();
    const caller = options.signal;
    const unlink = caller ? onAbort(caller, () => controller.abort(caller.reason)) : void 0;
    return { signal: controller.signal, done: () => unlink?.() };
  }
  #error(error, what, scope) {
    if (scope?.signal.aborted && !ArtifactsError.is(error, 'timeout')) {
      const mapped = toArtifactsError(error, what, { secrets: this.#secrets, code: 'aborted' });
      return mapped.code === 'aborted'
        ? mapped
        : new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
    }
    return toArtifactsError(error, what, { secrets: this.#secrets });
  }
  #checksumAlgorithm() {
    return this.#driver.capabilities.checksums[0];
  }
  async #upload(localPath, key, size, progress, options, limited = true) {
    const run = async () => {
      if (this.#driver.writeFromFile && !this.#checksumAlgorithm()) {
        await this.#putFile(localPath, key, size, progress, options);
        return;
      }
      const source = createReadStream(localPath, {
        highWaterMark: 1024 * 1024,
        ...(size > 0 ? { end: size - 1 } : {}),
      });
      await this.#put(source, key, size, progress, options);
    };
    await (limited ? this.#limiter.run(run) : run());
  }
  async #put(source, key, size, progress, options) {
    const what = `uploading ${describePath(key)}`;
    this.#open();
    const scope = this.#scope(options);
    const meter = new Meter(this.#checksumAlgorithm(), (n) => progress.bytes(n, key));
    source.once('error', (error) => meter.destroy(error));
    meter.on('error', () => void 0);
    const destroySource = () => source.destroy(scope.signal.reason);
    scope.signal.addEventListener('abort', destroySource, { once: true });
    source.pipe(meter);
    try {
      const result = await this.#driver.write(key, meter, {
        signal: scope.signal,
        contentType: options.contentType ?? guessContentType(key),
        ...(size === void 0 ? {} : { size }),
        ...timeoutOf(options),
      });
      if (!meter.writableFinished && !scope.signal.aborted) {
        throw new ArtifactsError('internal', `${what}: the backend returned before consuming the whole body`);
      }
      const reported = result?.checksum;
      if (reported && reported.algorithm === meter.algorithm && reported.value !== meter.digest()) {
        await this.#driver.delete(key, {}).catch(() => void 0);
        throw new ArtifactsError(
          'integrity',
          `${what}: the store's ${reported.algorithm} checksum (${reported.value}) does not match the bytes sent (${meter.digest()}); the object was removed`,
        );
      }
      progress.file(key);
    } catch (error) {
      source.destroy();
      throw this.#error(error, what, scope);
    } finally {
      scope.signal.removeEventListener('abort', destroySource);
      scope.done();
    }
  }
  /** The driver's whole-file fast path (a kernel copy on local disks): no bytes pass through JS. */
  async #putFile(localPath, key, size, progress, options) {
    const what = `uploading ${describePath(key)}`;
    const scope = this.#scope(options);
    try {
      await this.#driver.writeFromFile(key, localPath, {
        signal: scope.signal,
        contentType: guessContentType(key),
        size,
        ...timeoutOf(options),
      });
      scope.signal.throwIfAborted();
      progress.bytes(size, key);
      progress.file(key);
    } catch (error) {
      throw this.#error(error, what, scope);
    } finally {
      scope.done();
    }
  }
  async #download(key, target, progress, options) {
    const what = `downloading ${describePath(key)}`;
    const scope = this.#scope(options);
    const temp = join(dirname(target), tempNameFor(baseName(target)));
    const untrack = trackTempFile(temp);
    try {
      if (this.#driver.readToFile) {
        await this.#driver.readToFile(key, temp, { signal: scope.signal });
        scope.signal.throwIfAborted();
        const { size } = await stat(temp);
        await rename(temp, target);
        progress.bytes(Number(size), key);
        progress.file(key);
        return;
      }
      const result = await this.#driver.read(key, {
        signal: scope.signal,
        ...timeoutOf(options),
      });
      const algorithm = result.checksum?.algorithm;
      const meter = new Meter(
        algorithm,
        (n) => progress.bytes(n, key),
        result.checksum,
        `artifact ${JSON.stringify(key)}`,
      );
      await pipeline(result.stream, meter, createWriteStream(temp, { highWaterMark: 1024 * 1024 }), {
        signal: scope.signal,
      });
      if (result.size !== void 0 && meter.bytes !== result.size) {
        throw new ArtifactsError(
          'integrity',
          `${what}: expected ${result.size} bytes, received ${meter.bytes}`,
        );
      }
      await rename(temp, target);
      progress.file(key);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => void 0);
      throw this.#error(error, what, scope);
    } finally {
      untrack();
      scope.done();
    }
  }
  async #localStat(path, expect) {
    this.#open();
    if (typeof path !== 'string' || path === '')
      throw ArtifactsError.invalidArgument(`local ${expect} path must be a non-empty string`);
    if (path.includes('\0')) throw ArtifactsError.invalidArgument(`local ${expect} path contains a NUL byte`);
    const absolute = resolve(path);
    let info;
    try {
      info = await stat(absolute);
    } catch (error) {
      throw toArtifactsError(error, `local ${expect} ${JSON.stringify(path)}`);
    }
    if (expect === 'file' && info.isDirectory()) {
      throw new ArtifactsError(
        'failed_precondition',
        `local path ${JSON.stringify(path)} is a directory; use logArtifacts to upload a directory`,
      );
    }
    if (expect === 'directory' && !info.isDirectory()) {
      throw new ArtifactsError(
        'failed_precondition',
        `local path ${JSON.stringify(path)} is not a directory; use logArtifact to upload a file`,
      );
    }
    if (expect === 'file' && !info.isFile())
      throw new ArtifactsError(
        'failed_precondition',
        `local path ${JSON.stringify(path)} is not a regular file`,
      );
    return { path: absolute, size: Number(info.size) };
  }
};
function timeoutOf(options) {
  return options.timeoutMs === void 0 ? {} : { timeoutMs: options.timeoutMs };
}
function pickExpiry(options) {
  return options.expiresInSeconds ? { expiresInSeconds: options.expiresInSeconds } : {};
}
function describePath(key) {
  return key === '' ? 'the repository root' : `artifact ${JSON.stringify(key)}`;
}
function checkRange(range) {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0)
    throw ArtifactsError.invalidArgument(`range start must be a non-negative integer, got ${start}`);
  if (end !== void 0 && (!Number.isSafeInteger(end) || end < start)) {
    throw ArtifactsError.invalidArgument(`range end must be an integer >= start (${start}), got ${end}`);
  }
  return end === void 0 ? { start } : { start, end };
}
function throwGathered(failures, verb, total, signal) {
  if (failures.length === 0) return;
  const aborted = failures.find((failure) => failure.error.code === 'aborted');
  if (aborted && signal?.aborted) throw aborted.error;
  const lines = failures.slice(0, 20).map((failure) => `${failure.path}: ${failure.error.message}`);
  const more = failures.length > 20 ? `; and ${failures.length - 20} more` : '';
  throw new ArtifactsError(
    'partial_failure',
    `${failures.length} of ${total} files failed to ${verb}: ${lines.join('; ')}${more}`,
    {
      failures,
      cause: failures[0].error,
    },
  );
}
async function walkLocal(dir, visit) {
  const handle = await opendir(dir);
  let count = 0;
  for await (const entry of handle) {
    count++;
    if (isTempFileName(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await walkLocal(path, visit);
    } else if (entry.isFile()) {
      const info = await lstat(path);
      await visit(path, false, Number(info.size), false);
    } else if (entry.isSymbolicLink()) {
      const info = await stat(path).catch(() => void 0);
      if (info?.isFile()) await visit(path, false, Number(info.size), false);
    }
  }
  if (count === 0) await visit(dir, true, 0, true);
}
var OBJECT_STORE_SCHEMES = /* @__PURE__ */ new Set(['s3', 's3a', 's3n', 'gs', 'wasbs', 'wasb']);
var AUTHORITY_REQUIRED = /* @__PURE__ */ new Set([
  's3',
  's3a',
  's3n',
  'gs',
  'wasbs',
  'wasb',
  'ftp',
  'ftps',
  'sftp',
]);
function invalid(uri, why) {
  return ArtifactsError.invalidArgument(`invalid artifact URI ${JSON.stringify(redactUri(uri))}: ${why}`);
}
function invalidAuthority(uri, why) {
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(uri)?.[0] ?? '';
  return ArtifactsError.invalidArgument(`invalid artifact URI "${scheme}//\u2026": ${why}`);
}
function firstDelimiter(text, from) {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '/' || c === '?' || c === '#') return i;
  }
  return text.length;
}
var HOST_PORT = /^(?:\[[^\]]*\]|[^:@]*)(?::\d*)?$/;
function splitAuthority(rest) {
  const end = firstDelimiter(rest, 0);
  const authority = rest.slice(0, end);
  let at = authority.lastIndexOf('@');
  if (at === -1 && !HOST_PORT.test(authority)) {
    const firstAt = rest.indexOf('@', end);
    if (firstAt !== -1) at = rest.lastIndexOf('@', firstDelimiter(rest, firstAt) - 1);
  }
  if (at === -1) return { hostPort: authority, after: rest.slice(end) };
  const pathStart = firstDelimiter(rest, at);
  return {
    userInfo: rest.slice(0, at),
    hostPort: rest.slice(at + 1, pathStart),
    after: rest.slice(pathStart),
  };
}
function splitUri(uri) {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(uri);
  if (!match) return void 0;
  const scheme = match[1].toLowerCase();
  let rest = match[2];
  let auth = {};
  if (rest.startsWith('//')) {
    const { userInfo, hostPort, after } = splitAuthority(rest.slice(2));
    auth = {
      authority: userInfo === void 0 ? hostPort : `${userInfo}@${hostPort}`,
      hostPort,
      ...(userInfo === void 0 ? {} : { userInfo }),
    };
    rest = after;
  }
  const q = rest.indexOf('?');
  if (q === -1) return { scheme, ...auth, path: rest };
  return { scheme, ...auth, path: rest.slice(0, q), query: rest.slice(q + 1) };
}
function decode(uri, value, what) {
  try {
    return decodeURIComponent(value);
  } catch {
    const why = `its ${what} has a malformed percent-escape`;
    throw what === 'path' ? invalid(uri, why) : invalidAuthority(uri, why);
  }
}
function parseAuthority(uri, parts) {
  const out = {};
  const hostPort = parts.hostPort ?? '';
  if (parts.userInfo !== void 0) {
    const userInfo = parts.userInfo;
    const colon = userInfo.indexOf(':');
    const user = colon === -1 ? userInfo : userInfo.slice(0, colon);
    if (user) out.username = decode(uri, user, 'user name');
    if (colon !== -1) out.password = decode(uri, userInfo.slice(colon + 1), 'password');
  }
  let host = hostPort;
  let port;
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end === -1) throw invalidAuthority(uri, 'its IPv6 host has no closing bracket');
    host = hostPort.slice(0, end + 1);
    const after = hostPort.slice(end + 1);
    if (after) {
      if (!after.startsWith(':')) throw invalidAuthority(uri, 'unexpected characters after the IPv6 host');
      port = after.slice(1);
    }
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon !== -1) {
      host = hostPort.slice(0, colon);
      port = hostPort.slice(colon + 1);
    }
  }
  if (port !== void 0 && port !== '') {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw invalidAuthority(uri, 'its port is not a number between 1 and 65535');
    }
    out.port = Number(port);
  }
  if (host) {
    if (/[\s/\\%]/.test(host)) throw invalidAuthority(uri, 'its host contains characters a host cannot have');
    out.host = host.toLowerCase();
  }
  return out;
}
function normalizeUriPath(uri, path, objectStore) {
  const segments = path.split('/');
  const kept = [];
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw invalid(uri, "its path contains a '..' segment");
    kept.push(segment);
  }
  return objectStore ? kept.join('/') : `/${kept.join('/')}`;
}
function checkCharacters(uri) {
  if (typeof uri !== 'string')
    throw ArtifactsError.invalidArgument(`artifact URI must be a string, got ${typeof uri}`);
  if (uri.trim() === '') throw ArtifactsError.invalidArgument('artifact URI is empty');
  if (/[\u0000-\u001f\u007f]/.test(uri)) throw invalid(uri, 'it contains a NUL or control character');
  if (
    redactUri(uri)
      .replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^@]*:\*\*\*@/, '')
      .includes('#')
  )
    throw invalid(uri, "it contains '#', which would cut the path short; percent-encode it as %23");
}
var S3_BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$/;
var GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
var AZURE_CONTAINER = /^(?:\$root|\$web|[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62})$/;
function parseArtifactUri(uri) {
  checkCharacters(uri);
  if (/^[a-zA-Z]:[\\/]/.test(uri)) {
    if (process.platform === 'win32') return { scheme: 'file', uri, path: resolve(uri) };
    throw invalid(uri, 'it looks like a Windows drive path');
  }
  const parts = splitUri(uri);
  if (!parts) {
    if (uri.includes('\\')) throw invalid(uri, 'a local path must use forward slashes');
    return { scheme: 'file', uri, path: resolve(uri) };
  }
  const { scheme, authority, query } = parts;
  const base = { scheme, uri, path: '', ...(query === void 0 ? {} : { query }) };
  if (AUTHORITY_REQUIRED.has(scheme) && !authority) {
    throw invalid(uri, `a ${scheme}:// URI needs ${describeAuthority(scheme)}`);
  }
  if (uri.includes('\\')) throw invalid(uri, 'it contains a backslash');
  switch (scheme) {
    case 'file': {
      if (authority && authority !== 'localhost') {
        throw invalid(uri, 'file URIs on a remote host are not supported; mount it and use a local path');
      }
      if (decode(uri, parts.path, 'path').split('/').includes('..')) {
        throw invalid(uri, "its path contains a '..' segment");
      }
      let path;
      try {
        path = fileURLToPath(`file://${parts.path || '/'}`);
      } catch (error) {
        throw invalid(uri, error instanceof Error ? error.message : String(error));
      }
      if (path.split('/').includes('..')) throw invalid(uri, "its path contains a '..' segment");
      return { ...base, path: resolve(path) };
    }
    case 's3':
    case 's3a':
    case 's3n':
    case 'gs': {
      const bucket = authority;
      const pattern = scheme === 'gs' ? GCS_BUCKET : S3_BUCKET;
      if (bucket.includes('@') || bucket.includes(':')) {
        throw invalid(uri, 'credentials and ports do not belong in a bucket URI; configure them separately');
      }
      if (!pattern.test(bucket)) throw invalid(uri, `${JSON.stringify(bucket)} is not a valid bucket name`);
      return { ...base, bucket, path: normalizeUriPath(uri, parts.path, true) };
    }
    case 'wasbs':
    case 'wasb': {
      if (parts.userInfo === void 0)
        throw invalid(uri, `expected ${scheme}://<container>@<account>.blob.core.windows.net/<path>`);
      const container = parts.userInfo;
      const host = (parts.hostPort ?? '').toLowerCase();
      const hostMatch = /^([a-z0-9]{3,24})\.blob\.(core\.[a-z0-9.-]+)$/.exec(host);
      if (!hostMatch) {
        throw invalid(
          uri,
          `its host is not <account>.blob.core.windows.net (or another Azure cloud's suffix)`,
        );
      }
      if (!AZURE_CONTAINER.test(container)) throw invalidAuthority(uri, 'its container name is not valid');
      return {
        ...base,
        bucket: container,
        account: hostMatch[1],
        endpointSuffix: hostMatch[2],
        host,
        path: normalizeUriPath(uri, parts.path, true),
      };
    }
    case 'ftp':
    case 'ftps':
    case 'sftp': {
      const auth = parseAuthority(uri, parts);
      if (!auth.host) throw invalid(uri, 'it has no host');
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), false);
      return { ...base, ...auth, path };
    }
    case 'hdfs':
    case 'viewfs':
    case 'webhdfs':
    case 'swebhdfs': {
      const auth = authority ? parseAuthority(uri, parts) : {};
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), false);
      return { ...base, ...auth, path };
    }
    case 'mlflow-artifacts': {
      const auth = authority ? parseAuthority(uri, parts) : {};
      if (auth.password !== void 0 || auth.username !== void 0) {
        throw invalid(
          uri,
          'credentials do not belong in an mlflow-artifacts URI; set MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN',
        );
      }
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), true);
      return { ...base, ...auth, path };
    }
    case 'http':
    case 'https': {
      if (!authority) throw invalid(uri, 'it has no host');
      const auth = parseAuthority(uri, parts);
      if (!auth.host) throw invalid(uri, 'it has no host');
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), false);
      return { ...base, ...auth, path };
    }
    default: {
      const auth = authority ? parseAuthority(uri, parts) : {};
      return { ...base, ...auth, path: decode(uri, parts.path, 'path') };
    }
  }
}
function describeAuthority(scheme) {
  if (scheme === 's3' || scheme === 's3a' || scheme === 's3n' || scheme === 'gs')
    return 'a bucket: s3://<bucket>/<path>'.replace('s3', scheme);
  if (scheme.startsWith('wasb'))
    return 'a container and account: <container>@<account>.blob.core.windows.net';
  return 'a host';
}
function isObjectStoreScheme(scheme) {
  return OBJECT_STORE_SCHEMES.has(scheme);
}
var SECRET_QUERY_KEYS =
  /^(sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|token|access_token|password|secret|key|code|skoid|sktid|sks|skv|skt|ske|saoid|suoid)$/i;
function redactUri(uri) {
  if (typeof uri !== 'string') return String(uri);
  let out = uri;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(uri);
  if (scheme) {
    const { userInfo, hostPort, after } = splitAuthority(uri.slice(scheme[0].length));
    const colon = userInfo?.indexOf(':') ?? -1;
    if (userInfo !== void 0 && colon !== -1) {
      out = `${scheme[0]}${userInfo.slice(0, colon)}:***@${hostPort}${after}`;
    }
  }
  const q = out.indexOf('?');
  if (q !== -1) {
    const query = out
      .slice(q + 1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const key = eq === -1 ? pair : pair.slice(0, eq);
        return eq !== -1 && SECRET_QUERY_KEYS.test(safeDecode(key)) ? `${key}=***` : pair;
      })
      .join('&');
    out = `${out.slice(0, q)}?${query}`;
  }
  return out;
}
function safeDecode(value) {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
function appendToUri(uri, path) {
  const key = validateArtifactPath(path);
  if (key === '') return uri;
  const parts = splitUri(uri);
  const encodeSegments = parts !== void 0 && !isObjectStoreScheme(parts.scheme);
  const suffix = encodeSegments ? key.split('/').map(encodePathSegment).join('/') : key;
  const q = parts ? uri.indexOf('?') : -1;
  const head = q === -1 ? uri : uri.slice(0, q);
  const tail = q === -1 ? '' : uri.slice(q);
  const joined = head.endsWith('/') ? `${head}${suffix}` : `${head}/${suffix}`;
  return `${joined}${tail}`;
}
function encodePathSegment(segment) {
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
var ID = /^[A-Za-z0-9_.-]+$/;
function runArtifactUri(root, experimentId, runId) {
  for (const [name, value] of [
    ['experiment id', experimentId],
    ['run id', runId],
  ]) {
    if (typeof value !== 'string' || !ID.test(value) || value === '.' || value === '..') {
      throw ArtifactsError.invalidArgument(
        `${name} ${JSON.stringify(value)} must be letters, digits, '_', '-' or '.'`,
      );
    }
  }
  return appendToUri(root, `${experimentId}/${runId}/artifacts`);
}

// src/tracking.ts
var TRACKING_OPTION_KEYS = [
  'trackingUri',
  'username',
  'password',
  'token',
  'insecureTls',
  'serverCertPath',
  'clientCertPath',
  'requestTimeoutSeconds',
  'maxRetries',
  'backoffFactor',
];
function codeForStatus(status, errorCode, message) {
  if (errorCode === 'RESOURCE_DOES_NOT_EXIST') return 'not_found';
  if (errorCode === 'INVALID_PARAMETER_VALUE' && /\bnot found\b/i.test(message)) return 'not_found';
  return codeForHttpStatus(status) ?? 'internal';
}
var TrackingClient = class {
  #r;
  /** The tracking URI with any password redacted. */
  uri;
  /** The tracking URI as configured (may hold a password: never print it). */
  rawUri;
  constructor(options = {}) {
    const trackingUri = (options.trackingUri ?? envString('MLFLOW_TRACKING_URI'))?.trim();
    if (!trackingUri) {
      throw ArtifactsError.invalidArgument(
        'runs:/ and models:/ URIs are resolved through an MLflow tracking server; set MLFLOW_TRACKING_URI (e.g. http://localhost:5000)',
      );
    }
    const parsed = (() => {
      try {
        return parseArtifactUri(trackingUri);
      } catch {
        return void 0;
      }
    })();
    if (!parsed || (parsed.scheme !== 'http' && parsed.scheme !== 'https') || !parsed.host) {
      throw ArtifactsError.invalidArgument(
        `runs:/ and models:/ URIs need an http(s) tracking server, but the tracking URI is ${JSON.stringify(redactUri(trackingUri))}; set MLFLOW_TRACKING_URI to the MLflow server (e.g. http://localhost:5000)`,
      );
    }
    const username = options.username ?? envString('MLFLOW_TRACKING_USERNAME') ?? parsed.username;
    const password = options.password ?? envString('MLFLOW_TRACKING_PASSWORD') ?? parsed.password;
    const token = options.token ?? envString('MLFLOW_TRACKING_TOKEN');
    const insecureTls = options.insecureTls ?? envBoolean('MLFLOW_TRACKING_INSECURE_TLS') ?? false;
    const serverCertPath = options.serverCertPath ?? envString('MLFLOW_TRACKING_SERVER_CERT_PATH');
    const clientCertPath = options.clientCertPath ?? envString('MLFLOW_TRACKING_CLIENT_CERT_PATH');
    if (insecureTls && serverCertPath) {
      throw ArtifactsError.invalidArgument(
        'MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH cannot both be set',
      );
    }
    const timeoutSeconds =
      options.requestTimeoutSeconds ?? envNumber('MLFLOW_HTTP_REQUEST_TIMEOUT', { min: 0 }) ?? 120;
    const maxRetries =
      options.maxRetries ?? envNumber('MLFLOW_HTTP_REQUEST_MAX_RETRIES', { integer: true, min: 0 }) ?? 7;
    const backoffFactor =
      options.backoffFactor ?? envNumber('MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', { min: 0 }) ?? 2;
    const secrets = [password, token].filter((s) => typeof s === 'string' && s !== '');
    let authorization;
    if (username && password) {
      authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    } else if (token) {
      authorization = `Bearer ${token}`;
    }
    const readPem = (path, what) => {
      if (!path) return void 0;
      try {
        return readFileSync(path);
      } catch (error) {
        throw ArtifactsError.invalidArgument(
          `${what} ${JSON.stringify(path)} cannot be read: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
      }
    };
    this.rawUri = trackingUri;
    this.uri = redactUri(trackingUri);
    this.#r = {
      origin: `${parsed.scheme}://${parsed.host}${parsed.port === void 0 ? '' : `:${parsed.port}`}`,
      prefix: parsed.path === '/' ? '' : parsed.path.replace(/\/+$/, ''),
      https: parsed.scheme === 'https',
      authorization,
      secrets,
      ca: readPem(serverCertPath, 'MLFLOW_TRACKING_SERVER_CERT_PATH'),
      cert: readPem(clientCertPath, 'MLFLOW_TRACKING_CLIENT_CERT_PATH'),
      insecureTls,
      timeoutMs: timeoutSeconds * 1e3,
      maxRetries,
      backoffFactor,
    };
  }
  /** GET `/api/2.0/mlflow/<endpoint>?<query>`. */
  get(endpoint, query, signal) {
    const qs = new URLSearchParams(query).toString();
    return this.#call('GET', `${endpoint}${qs ? `?${qs}` : ''}`, void 0, signal);
  }
  /** POST `/api/2.0/mlflow/<endpoint>` with a JSON body. */
  post(endpoint, body, signal) {
    return this.#call('POST', endpoint, JSON.stringify(body), signal);
  }
  async getRun(runId, signal) {
    checkId(runId, 'run id');
    const answer = await this.get('runs/get', { run_id: runId }, signal);
    return runInfo(answer.run?.info, `run ${runId}`);
  }
  /** Every run matching, page by page (runs/search with page tokens). */
  async *searchRuns(options) {
    if (options.experimentIds.length === 0) return;
    let pageToken;
    do {
      const answer = await this.post(
        'runs/search',
        {
          experiment_ids: options.experimentIds,
          run_view_type: options.viewType ?? 'ACTIVE_ONLY',
          max_results: options.pageSize ?? 1e3,
          ...(options.filter ? { filter: options.filter } : {}),
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        options.signal,
      );
      for (const run of answer.runs ?? []) yield runInfo(run.info, 'a run in runs/search');
      pageToken = answer.next_page_token || void 0;
    } while (pageToken);
  }
  /** Every experiment, active and deleted (experiments/search, paged). */
  async *searchExperiments(options = {}) {
    let pageToken;
    do {
      const answer = await this.post(
        'experiments/search',
        {
          view_type: options.viewType ?? 'ALL',
          max_results: 1e3,
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        options.signal,
      );
      for (const e of answer.experiments ?? []) {
        yield {
          experimentId: String(e.experiment_id ?? ''),
          name: String(e.name ?? ''),
          artifactLocation: String(e.artifact_location ?? ''),
          lifecycleStage: String(e.lifecycle_stage ?? 'active'),
        };
      }
      pageToken = answer.next_page_token || void 0;
    } while (pageToken);
  }
  /** The artifact URI of a registered model version (model-versions/get-download-uri). */
  async modelVersionDownloadUri(name, version, signal) {
    const answer = await this.get('model-versions/get-download-uri', { name, version }, signal);
    if (!answer.artifact_uri) {
      throw new ArtifactsError(
        'internal',
        `${this.uri} returned no artifact_uri for model ${JSON.stringify(name)} version ${version}`,
      );
    }
    return answer.artifact_uri;
  }
  async #call(method, endpoint, body, signal) {
    const r = this.#r;
    const url = `${r.origin}${r.prefix}/api/2.0/mlflow/${endpoint}`;
    const what = `${method} ${redactUri(`${this.uri.replace(/\/+$/, '')}/api/2.0/mlflow/${endpoint}`)}`;
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      let status;
      let text;
      try {
        ({ status, text } = await this.#send(method, url, body, signal));
      } catch (error) {
        if (isAbortError(error) && signal?.aborted) {
          throw new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
        }
        const timedOut = error?.code === 'TIMEOUT';
        const retryable = timedOut || isConnectionError(error);
        if (retryable && attempt < r.maxRetries) {
          await this.#backoff(attempt, signal);
          continue;
        }
        throw new ArtifactsError(
          timedOut ? 'timeout' : retryable ? 'unavailable' : 'internal',
          scrub(
            `tracking server request ${what} failed: ${error instanceof Error ? error.message : String(error)}`,
            r.secrets,
          ),
          { cause: error, temporary: retryable },
        );
      }
      if (status >= 200 && status < 300) {
        try {
          return text ? JSON.parse(text) : {};
        } catch (error) {
          throw new ArtifactsError('internal', `${what}: the tracking server's answer is not JSON`, {
            cause: error,
          });
        }
      }
      if (isTemporaryHttpStatus(status) && attempt < r.maxRetries) {
        await this.#backoff(attempt, signal);
        continue;
      }
      let errorCode;
      let message = text.slice(0, 500);
      try {
        const parsed = JSON.parse(text);
        errorCode = parsed.error_code;
        if (parsed.message) message = parsed.message;
      } catch {}
      const hint =
        status === 401
          ? ' (set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN)'
          : '';
      throw new ArtifactsError(
        codeForStatus(status, errorCode, message),
        scrub(
          `tracking server answered ${status}${errorCode ? ` ${errorCode}` : ''} to ${what}: ${message}${hint}`,
          r.secrets,
        ),
        {
          context: { status, ...(errorCode ? { errorCode } : {}) },
          temporary: isTemporaryHttpStatus(status),
        },
      );
    }
  }
  async #backoff(attempt, signal) {
    const ms = Math.min(6e4, this.#r.backoffFactor * 1e3 * 2 ** attempt);
    await setTimeout$1(ms, void 0, signal ? { signal } : void 0).catch((error) => {
      throw new ArtifactsError('aborted', 'tracking server request was aborted', { cause: error });
    });
  }
  #send(method, url, body, signal) {
    const r = this.#r;
    const headers = { accept: 'application/json', 'user-agent': '@artifacts/core' };
    if (r.authorization) headers.authorization = r.authorization;
    if (body !== void 0) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const request$2 = r.https ? request : request$1;
    const tls = r.https
      ? {
          rejectUnauthorized: !r.insecureTls,
          ...(r.ca ? { ca: r.ca } : {}),
          ...(r.cert ? { cert: r.cert, key: r.cert } : {}),
        }
      : {};
    return new Promise((resolve3, reject) => {
      const req = request$2(url, { method, headers, ...tls, ...(signal ? { signal } : {}) }, (res) => {
        readText(res).then((text) => resolve3({ status: res.statusCode ?? 0, text }), reject);
      });
      if (r.timeoutMs > 0) {
        req.setTimeout(r.timeoutMs, () => {
          req.destroy(
            Object.assign(
              new Error(`no answer within ${r.timeoutMs / 1e3} s (MLFLOW_HTTP_REQUEST_TIMEOUT)`),
              {
                code: 'TIMEOUT',
              },
            ),
          );
        });
      }
      req.on('error', reject);
      req.end(body);
    });
  }
};
async function readText(res) {
  const chunks = [];
  for await (const chunk of res) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}
function optionalNumber(value) {
  if (value === void 0 || value === null || value === '') return void 0;
  const n = Number(value);
  return Number.isFinite(n) ? n : void 0;
}
function runInfo(raw2, what) {
  const runId = raw2?.run_id ?? raw2?.run_uuid;
  if (!raw2 || !runId || typeof raw2.artifact_uri !== 'string') {
    throw new ArtifactsError(
      'internal',
      `the tracking server returned no run id or artifact_uri for ${what}`,
    );
  }
  const startTime = optionalNumber(raw2.start_time);
  const endTime = optionalNumber(raw2.end_time);
  const deletedTime = optionalNumber(raw2.deleted_time);
  return {
    runId,
    experimentId: String(raw2.experiment_id ?? ''),
    artifactUri: raw2.artifact_uri,
    lifecycleStage: raw2.lifecycle_stage ?? 'active',
    ...(raw2.status === void 0 ? {} : { status: raw2.status }),
    ...(startTime === void 0 ? {} : { startTime }),
    ...(endTime === void 0 ? {} : { endTime }),
    ...(deletedTime === void 0 ? {} : { deletedTime }),
  };
}
function checkId(value, what) {
  if (!/^[A-Za-z0-9_.-]+$/.test(value) || value === '.' || value === '..') {
    throw ArtifactsError.invalidArgument(
      `${what} ${JSON.stringify(value)} must be letters, digits, '_', '-' or '.'`,
    );
  }
}
function isTrackingUri(uri) {
  return typeof uri === 'string' && /^(runs|models):/i.test(uri);
}
function invalidUri(uri, why) {
  return ArtifactsError.invalidArgument(
    `invalid ${uri.split(':')[0].toLowerCase()}:/ URI ${JSON.stringify(uri)}: ${why}`,
  );
}
function decodeSegment(uri, segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidUri(uri, `malformed percent-escape in ${JSON.stringify(segment)}`);
  }
}
function parseTrackingUri(uri) {
  const match = /^(runs|models):(.*)$/is.exec(uri);
  if (!match) throw ArtifactsError.invalidArgument(`${JSON.stringify(uri)} is not a runs:/ or models:/ URI`);
  const scheme = match[1].toLowerCase();
  let rest = match[2];
  if (/[\u0000-\u001f\u007f#?]/.test(rest)) {
    throw invalidUri(uri, "it contains '#', '?' or a control character");
  }
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    if (slash !== 2) {
      throw invalidUri(
        uri,
        `a host or profile is not supported; write ${scheme}:/<\u2026> and set MLFLOW_TRACKING_URI`,
      );
    }
    rest = rest.slice(2);
  }
  if (!rest.startsWith('/')) throw invalidUri(uri, `expected ${scheme}:/<\u2026>`);
  const segments = rest.slice(1).split('/');
  while (segments.length > 0 && segments.at(-1) === '') segments.pop();
  const first = segments.shift();
  if (!first) {
    throw invalidUri(
      uri,
      scheme === 'runs'
        ? 'expected runs:/<run_id>[/<artifact path>]'
        : 'expected models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest',
    );
  }
  const subPath = (raw2) => {
    const decoded = raw2.map((s) => decodeSegment(uri, s)).join('/');
    try {
      return validateArtifactPath(decoded, { label: 'its artifact path' });
    } catch (error) {
      throw invalidUri(uri, error instanceof Error ? error.message : String(error));
    }
  };
  if (scheme === 'runs') {
    const runId = decodeSegment(uri, first);
    try {
      checkId(runId, 'run id');
    } catch (error) {
      throw invalidUri(uri, error.message);
    }
    return { kind: 'run', runId, path: subPath(segments) };
  }
  const head = decodeSegment(uri, first);
  const at = head.lastIndexOf('@');
  if (at !== -1) {
    const name = head.slice(0, at);
    const alias = head.slice(at + 1);
    if (!name || !alias) throw invalidUri(uri, 'expected models:/<name>@<alias>');
    return { kind: 'model-alias', name, alias, path: subPath(segments) };
  }
  const second = segments.shift();
  if (second === void 0 || second === '') {
    if (LOGGED_MODEL_ID.test(head)) return { kind: 'logged-model', modelId: head, path: '' };
    throw invalidUri(
      uri,
      'expected models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest',
    );
  }
  const suffix = decodeSegment(uri, second);
  if (/^\d+$/.test(suffix))
    return { kind: 'model-version', name: head, version: suffix, path: subPath(segments) };
  if (suffix.toLowerCase() === 'latest') {
    return { kind: 'model-latest', name: head, stage: void 0, path: subPath(segments) };
  }
  if (STAGES.has(suffix.toLowerCase())) {
    return { kind: 'model-latest', name: head, stage: suffix, path: subPath(segments) };
  }
  if (LOGGED_MODEL_ID.test(head)) {
    return { kind: 'logged-model', modelId: head, path: subPath([second, ...segments]) };
  }
  throw invalidUri(
    uri,
    `${JSON.stringify(suffix)} is not a version number, 'latest' or a stage (None, Staging, Production, Archived); for an alias write models:/<name>@<alias>`,
  );
}
var STAGES = /* @__PURE__ */ new Set(['none', 'staging', 'production', 'archived']);
var LOGGED_MODEL_ID = /^m-[0-9a-f]+$/i;
async function resolveTrackingUri(uri, options = {}) {
  const parsed = parseTrackingUri(uri);
  const client = new TrackingClient(options);
  const { signal } = options;
  let root;
  switch (parsed.kind) {
    case 'run':
      root = (await client.getRun(parsed.runId, signal)).artifactUri;
      break;
    case 'model-version':
      root = await client.modelVersionDownloadUri(parsed.name, parsed.version, signal);
      break;
    case 'model-alias': {
      const answer = await client.get(
        'registered-models/alias',
        { name: parsed.name, alias: parsed.alias },
        signal,
      );
      const version = answer.model_version?.version;
      if (version === void 0)
        throw ArtifactsError.notFound(`model ${JSON.stringify(parsed.name)}@${parsed.alias}`);
      root = await client.modelVersionDownloadUri(parsed.name, String(version), signal);
      break;
    }
    case 'model-latest': {
      const answer = await client.post(
        'registered-models/get-latest-versions',
        { name: parsed.name, ...(parsed.stage ? { stages: [parsed.stage] } : {}) },
        signal,
      );
      const versions = (answer.model_versions ?? [])
        .map((v) => Number(v.version))
        .filter((v) => Number.isInteger(v));
      if (versions.length === 0) {
        throw ArtifactsError.notFound(
          `a ${parsed.stage ? `${JSON.stringify(parsed.stage)} ` : ''}version of model ${JSON.stringify(parsed.name)}`,
        );
      }
      root = await client.modelVersionDownloadUri(parsed.name, String(Math.max(...versions)), signal);
      break;
    }
    case 'logged-model': {
      const answer = await client.get(`logged-models/${encodeURIComponent(parsed.modelId)}`, {}, signal);
      const found = answer.model?.info?.artifact_uri;
      if (!found) throw ArtifactsError.notFound(`logged model ${parsed.modelId}`);
      root = found;
      break;
    }
  }
  if (isTrackingUri(root)) {
    throw new ArtifactsError(
      'internal',
      `${client.uri} resolved ${uri} to ${redactUri(root)}, another tracking URI, instead of a storage location`,
    );
  }
  return parsed.path ? appendToUri(root, parsed.path) : root;
}
var HTTP_SCHEMES = /* @__PURE__ */ new Set(['mlflow-artifacts', 'http', 'https']);
async function openTrackingUri(uri, options, open) {
  const resolved = await resolveTrackingUri(uri, options);
  const scheme = parseArtifactUri(resolved).scheme;
  const rest = { ...options };
  if (!HTTP_SCHEMES.has(scheme)) for (const key of TRACKING_OPTION_KEYS) delete rest[key];
  return open(resolved, rest);
}

// src/open.ts
async function openRepository(uri, options = {}) {
  if (isTrackingUri(uri)) return openTrackingUri(uri, options, openRepository);
  const generic = parseArtifactUri(uri);
  const plugin = await resolveBackend(generic.scheme);
  const location = plugin.parse ? plugin.parse(uri) : generic;
  const maxConcurrency = options.maxConcurrency ?? envMaxConcurrency();
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
    throw ArtifactsError.invalidArgument(
      `maxConcurrency must be a positive integer, got ${String(maxConcurrency)}`,
    );
  }
  const maxRetries = options.maxRetries ?? envMaxRetries();
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw ArtifactsError.invalidArgument(
      `maxRetries must be a non-negative integer, got ${String(maxRetries)}`,
    );
  }
  if (options.onRetry !== void 0 && typeof options.onRetry !== 'function') {
    throw ArtifactsError.invalidArgument('onRetry must be a function');
  }
  const timeoutMs = resolveTimeoutMs(options.timeoutMs, plugin.defaultTimeoutMs);
  const secrets = location.password ? [location.password] : [];
  const { maxConcurrency: _m, timeoutMs: _t, maxRetries: _r, onRetry, ...backendOptions } = options;
  let driver;
  try {
    driver = await plugin.open(location, backendOptions, {
      location,
      maxConcurrency: maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      ...(timeoutMs === void 0 ? {} : { timeoutMs }),
    });
  } catch (error) {
    throw toArtifactsError(error, `opening ${redactUri(uri)}`, { secrets });
  }
  const layered = withRetry(withLimit(withTimeout(driver, timeoutMs), maxConcurrency), {
    maxAttempts: maxRetries + 1,
    ...(onRetry ? { onRetry } : {}),
  });
  return new ArtifactRepository({
    uri: redactUri(uri),
    driver: layered,
    maxConcurrency,
    secrets,
  });
}
function parallelRangeStream(fetch, first, start, end, options) {
  const controller = new AbortController();
  const onAbort2 = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort2, { once: true });
  const ranges = [];
  for (let from = start; from <= end; from += options.partSize) {
    ranges.push([from, Math.min(end, from + options.partSize - 1)]);
  }
  const open = (index) => {
    const [from, to] = ranges[index];
    const out = new PassThrough({ highWaterMark: options.aheadBytes });
    const expected = to - from + 1;
    let received = 0;
    const counter = new PassThrough();
    counter.on('data', (chunk) => {
      received += chunk.length;
    });
    const source = index === 0 ? Promise.resolve(first) : fetch(from, to, controller.signal);
    source
      .then((stream2) => pipeline(stream2, counter, out))
      .then(() => {
        if (received !== expected)
          throw new Error(
            `ranged read of bytes ${from}-${to} returned ${received} bytes, expected ${expected}`,
          );
      })
      .catch((error) => {
        if (!out.destroyed) out.destroy(error);
      });
    return out;
  };
  const queue = [];
  let next = 0;
  async function* generate() {
    while (queue.length < options.concurrency && next < ranges.length) queue.push(open(next++));
    while (queue.length > 0) {
      const part = queue[0];
      if (next < ranges.length) queue.push(open(next++));
      for await (const chunk of part) yield chunk;
      queue.shift();
    }
  }
  const stream = Readable.from(generate(), { objectMode: false, highWaterMark: 1024 * 1024 });
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    options.signal?.removeEventListener('abort', onAbort2);
    controller.abort();
    for (const part of queue) part.destroy();
    if (next === 0) first.destroy();
  };
  const destroyImpl = stream._destroy.bind(stream);
  stream._destroy = (error, callback) => {
    cleanup();
    destroyImpl(error, callback);
  };
  stream.once('close', cleanup);
  return stream;
}

// src/settings.ts
function distance(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}
function closestName(name, known) {
  let best;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== void 0 && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : void 0;
}
function parseEnv(spec, raw2, from) {
  switch (spec.type) {
    case 'boolean': {
      const value = raw2.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      throw ArtifactsError.invalidArgument(`${from}=${JSON.stringify(raw2)} is not a boolean (true/false)`);
    }
    case 'integer':
    case 'number': {
      const n = Number(raw2);
      if (raw2 === '' || !Number.isFinite(n))
        throw ArtifactsError.invalidArgument(`${from}=${JSON.stringify(raw2)} is not a number`);
      return n;
    }
    default:
      return raw2;
  }
}
function check(spec, value, from) {
  const fail = (expected) =>
    ArtifactsError.invalidArgument(
      `${from} must be ${expected}, got ${spec.secret ? 'a value (hidden)' : (JSON.stringify(value) ?? String(value))}`,
    );
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') throw fail('a string');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return value;
    case 'integer':
    case 'number': {
      const integer = spec.type === 'integer';
      const bounds =
        spec.min !== void 0 && spec.max !== void 0
          ? ` between ${spec.min} and ${spec.max}`
          : spec.min !== void 0
            ? ` >= ${spec.min}`
            : spec.max !== void 0
              ? ` <= ${spec.max}`
              : '';
      const kind = `${integer ? 'an integer' : 'a number'}${bounds}`;
      if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
        throw fail(kind);
      if ((spec.min !== void 0 && value < spec.min) || (spec.max !== void 0 && value > spec.max))
        throw fail(kind);
      return value;
    }
    default:
      if (typeof value !== 'object' || value === null) throw fail('an object');
      return value;
  }
}
function cell(text) {
  return text.replace(/\|/g, '\\|');
}
function defineSettings(backend, specs) {
  const names = Object.keys(specs);
  return {
    backend,
    specs,
    resolve(options) {
      const given = options ?? {};
      for (const key of Object.keys(given)) {
        if (key in specs || given[key] === void 0) continue;
        const guess = closestName(key, names);
        throw ArtifactsError.invalidArgument(
          `unknown option ${JSON.stringify(key)} for ${backend}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''} (known: ${names.join(', ')})`,
        );
      }
      const values = {};
      const sources = {};
      const secrets = [];
      for (const [name, spec] of Object.entries(specs)) {
        let value;
        let source;
        if (given[name] !== void 0) {
          value = check(spec, given[name], `option ${name}`);
          source = 'option';
        } else if (spec.env !== void 0) {
          const raw2 = process.env[spec.env]?.trim();
          if (raw2 !== void 0 && raw2 !== '') {
            const from = `environment variable ${spec.env}`;
            value = check(spec, parseEnv(spec, raw2, from), from);
            source = spec.env;
          }
        }
        if (source === void 0 && spec.default !== void 0) {
          value = spec.default;
          source = 'default';
        }
        if (source === void 0) continue;
        values[name] = value;
        sources[name] = source;
        if (spec.secret && typeof value === 'string' && value !== '') secrets.push(value);
      }
      return {
        values,
        secrets,
        sources,
      };
    },
    markdownTable() {
      const rows = Object.entries(specs).map(([name, spec]) => {
        const fallback =
          spec.defaultText ?? (spec.default === void 0 ? '\u2014' : `\`${JSON.stringify(spec.default)}\``);
        return `| \`${name}\` | ${cell(fallback)} | ${spec.env ? `\`${spec.env}\`` : '\u2014'} | ${cell(spec.help)}${spec.secret ? ' (secret)' : ''} |`;
      });
      return [
        '| option | default | environment variable | meaning |',
        '| --- | --- | --- | --- |',
        ...rows,
      ].join('\n');
    },
  };
}

export {
  ArtifactRepository,
  ArtifactsError,
  appendToUri,
  baseName,
  ConnectionPool,
  closestName,
  codeForHttpStatus,
  crc32c,
  createHasher,
  DEFAULT_MAX_CONCURRENCY,
  defineSettings,
  envBoolean,
  envMaxConcurrency,
  envMaxRetries,
  envNumber,
  envString,
  envTransferTimeoutMs,
  FIRST_PARTY_BACKENDS,
  guessContentType,
  isAbandonedTemp,
  isAbortError,
  isConnectionError,
  isObjectStoreScheme,
  isTempFileName,
  isTempName,
  isTemporaryError,
  isTemporaryHttpStatus,
  isTrackingUri,
  joinKey,
  OrphanTemps,
  openRepository,
  parallelRangeStream,
  parentKey,
  parseArtifactUri,
  parseRetryAfter,
  parseTrackingUri,
  redactUri,
  registerBackend,
  registeredSchemes,
  removeTempFilesSync,
  replaceAtomically,
  resolveBackend,
  resolveTimeoutMs,
  resolveTrackingUri,
  runArtifactUri,
  scrub,
  TEMP_SUFFIX,
  TrackingClient,
  tempNameFor,
  tempOwner,
  tempPathFor,
  toArtifactsError,
  trackTempFile,
  validateArtifactPath,
  withLimit,
  withRetry,
  withTimeout,
  wrapDriver,
};
//# sourceMappingURL=index.js.map
//# sourceMappingURL=index.js.map
