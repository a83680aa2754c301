import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import {
  type ArtifactRepository,
  ArtifactsError,
  envBoolean,
  envNumber,
  envString,
  type RepositoryOptions,
} from '@artifacts/core';

/** Who may call the API. Without users or tokens, every request is refused unless `allowUnauthenticated`. */
export interface AuthOptions {
  /**
   * HTTP basic users, `{ name: password }`. Default: `ARTIFACTS_SERVER_USERS` (`name:password` pairs
   * separated by commas or newlines; the password is everything after the first `:`), plus the lines of
   * the file named by `ARTIFACTS_SERVER_USERS_FILE`.
   */
  users?: Record<string, string>;
  /**
   * Bearer tokens (`Authorization: Bearer <token>`, what MLflow's client sends for
   * `MLFLOW_TRACKING_TOKEN`). Default: `ARTIFACTS_SERVER_TOKENS` (comma or newline separated) plus the
   * lines of `ARTIFACTS_SERVER_TOKENS_FILE`.
   */
  tokens?: string[];
  /**
   * Serve without authentication. Accepted only when the server binds a loopback address
   * (127.0.0.0/8, ::1, localhost); anywhere else the server refuses to start. Default:
   * `ARTIFACTS_SERVER_ALLOW_UNAUTHENTICATED`, else false.
   */
  allowUnauthenticated?: boolean;
  /** The realm named in `WWW-Authenticate`. Default 'artifacts'. */
  realm?: string;
}

/** Bounds on what one request may cost the server. */
export interface LimitOptions {
  /**
   * Largest artifact a PUT may upload, in bytes; larger uploads get 413. Default:
   * `ARTIFACTS_SERVER_MAX_UPLOAD_BYTES`, else no limit (the destination's own limit applies).
   */
  maxUploadBytes?: number;
  /** Largest JSON body (the mpu/* routes), in bytes. Default: `ARTIFACTS_SERVER_MAX_JSON_BYTES`, else 1 MiB. */
  maxJsonBytes?: number;
  /**
   * Time to receive a request's headers, in ms. Default: `ARTIFACTS_SERVER_HEADERS_TIMEOUT` (seconds),
   * else 30 s.
   */
  headersTimeoutMs?: number;
  /**
   * Time to receive a whole request, body included, in ms; 0 = no limit. Large uploads need it large.
   * Default: `ARTIFACTS_SERVER_REQUEST_TIMEOUT` (seconds), else 1 hour.
   */
  requestTimeoutMs?: number;
  /**
   * A connection that moves no byte in either direction for this long is closed, in ms. Default:
   * `ARTIFACTS_SERVER_IDLE_TIMEOUT` (seconds), else 120 s.
   */
  idleTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, in ms. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /**
   * Most client connections open at once; a connection past the cap is answered `503
   * TEMPORARILY_UNAVAILABLE` with `Retry-After: 1` and closed (clients retry 503), so that a flood of
   * connections cannot exhaust the server's file descriptors. 0 = no cap. Default:
   * `ARTIFACTS_SERVER_MAX_CONNECTIONS`, else 512.
   */
  maxConnections?: number;
  /**
   * Lifetime of the presigned part URLs mpu/create hands out, in seconds. Default:
   * `ARTIFACTS_SERVER_MPU_URL_EXPIRY`, else 3600.
   */
  multipartUrlExpirySeconds?: number;
}

/** One access-log entry (a JSON line). Never holds the Authorization header or a query secret. */
export interface AccessLogEntry {
  time: string;
  requestId: string;
  method: string;
  /** The matched route pattern, e.g. `/api/2.0/mlflow-artifacts/artifacts/*`. */
  route: string;
  /** The artifact path the request named, once validated. */
  artifactPath?: string;
  status: number;
  /** Request bytes received (headers and body). */
  bytesIn: number;
  /** Response bytes sent (headers and body). */
  bytesOut: number;
  durationMs: number;
  /** The authenticated user name, `token` for a bearer token, or absent. */
  user?: string;
  remoteAddress?: string;
  /** MLflow's error code when the request failed. */
  errorCode?: string;
}

/** Options of the routes alone: what `artifactRoutes` (the Fastify plugin) and `createArtifactHandler` take. */
export interface ArtifactRoutesOptions {
  /** The destination the routes serve. The caller opens and closes it. */
  repository: ArtifactRepository;
  auth?: AuthOptions;
  limits?: LimitOptions;
  /**
   * Where access-log lines go: true = stdout, false = nowhere, a stream, or a function that receives
   * each entry. Default: `ARTIFACTS_SERVER_ACCESS_LOG` (true/false), else true.
   */
  accessLog?: boolean | Writable | ((entry: AccessLogEntry) => void);
  /** URL prefixes the API is served under. Default `['/api/2.0', '/ajax-api/2.0']`, as MLflow. */
  prefixes?: string[];
  /**
   * Origins (`https://ui.example.com`) whose pages may send state-changing requests (PUT, POST,
   * DELETE). A browser request naming another `Origin`, or `Sec-Fetch-Site: cross-site`/`same-site`,
   * is refused with 403; requests without these headers (MLflow's Python client, curl, the
   * @artifacts client) and same-origin pages are not affected. `*` allows every origin. Default:
   * `ARTIFACTS_SERVER_ALLOWED_ORIGINS` (comma separated), else none besides the server's own.
   */
  allowedOrigins?: string[];
}

/** Options of `createArtifactServer`. Options in code win over environment variables, which win over defaults. */
export interface ArtifactServerOptions extends Omit<ArtifactRoutesOptions, 'repository'> {
  /**
   * Where artifacts are stored: any URI a registered backend serves (`./mlartifacts`,
   * `s3://bucket/prefix`, …). Default: `ARTIFACTS_SERVER_ARTIFACTS_DESTINATION`, else `./mlartifacts`.
   */
  artifactsDestination?: string;
  /** Options for `openRepository(artifactsDestination, …)` (backend options, maxConcurrency, timeoutMs). */
  repositoryOptions?: RepositoryOptions;
  /** An already-open repository to serve instead of `artifactsDestination`; the server does not close it. */
  repository?: ArtifactRepository;
  /** Address to bind. Default: `ARTIFACTS_SERVER_HOST`, else 127.0.0.1. */
  host?: string;
  /** Port to bind; 0 picks a free one. Default: `ARTIFACTS_SERVER_PORT`, else 5000. */
  port?: number;
  /**
   * Serve HTTPS with this PEM certificate chain and key (contents, not paths). Default: the files named
   * by `ARTIFACTS_SERVER_TLS_CERT` and `ARTIFACTS_SERVER_TLS_KEY`, else plain HTTP.
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /**
   * On close, how long in-flight requests may take to finish before their connections are cut, in ms.
   * Default: `ARTIFACTS_SERVER_SHUTDOWN_TIMEOUT` (seconds), else 30 s.
   */
  shutdownTimeoutMs?: number;
  /** Trust `X-Forwarded-For` for the logged client address (behind a reverse proxy). Default: `ARTIFACTS_SERVER_TRUST_PROXY`, else false. */
  trustProxy?: boolean;
  /**
   * Host names the server answers to (the `Host` header, port ignored): a request naming any other
   * host gets 403, which defeats DNS rebinding (a hostile page whose name resolves to this server).
   * Entries are names or addresses (`artifacts.example.com`, `10.0.0.7`, `[::1]`), `.example.com` for
   * a domain and all its subdomains, or `*` for any host. Default: `ARTIFACTS_SERVER_ALLOWED_HOSTS`
   * (comma separated), else the loopback names (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`) when
   * the server binds a loopback address, and any host otherwise (authentication is then mandatory).
   */
  allowedHosts?: string[];
}

export interface ResolvedAuth {
  users: Map<string, string>;
  tokens: string[];
  allowUnauthenticated: boolean;
  realm: string;
}

export interface ResolvedLimits {
  maxUploadBytes: number;
  maxJsonBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  multipartUrlExpirySeconds: number;
}

export const DEFAULT_DESTINATION = './mlartifacts';
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 5000;
export const DEFAULT_PREFIXES = ['/api/2.0', '/ajax-api/2.0'] as const;
export const DEFAULT_MAX_CONNECTIONS = 512;

function seconds(name: string): number | undefined {
  const value = envNumber(name, { min: 0 });
  return value === undefined ? undefined : value * 1000;
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter((item) => item !== '' && !item.startsWith('#'));
}

function readListFile(variable: string): string[] {
  const path = envString(variable);
  if (!path) return [];
  try {
    return splitList(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ArtifactsError(
      'invalid_argument',
      `${variable} names ${JSON.stringify(path)}, which cannot be read`,
      { cause: error },
    );
  }
}

function parseUsers(entries: string[], source: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const entry of entries) {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) {
      // Never echo the entry: it holds a password.
      throw ArtifactsError.invalidArgument(`${source}: each user must be written name:password`);
    }
    users.set(entry.slice(0, colon), entry.slice(colon + 1));
  }
  return users;
}

/** Auth settings from options, then `ARTIFACTS_SERVER_*` variables. */
export function resolveAuth(auth: AuthOptions = {}): ResolvedAuth {
  const users = auth.users
    ? new Map(Object.entries(auth.users))
    : new Map([
        ...parseUsers(splitList(envString('ARTIFACTS_SERVER_USERS')), 'ARTIFACTS_SERVER_USERS'),
        ...parseUsers(readListFile('ARTIFACTS_SERVER_USERS_FILE'), 'ARTIFACTS_SERVER_USERS_FILE'),
      ]);
  for (const [name, password] of users) {
    if (name === '' || name.includes(':') || typeof password !== 'string' || password === '') {
      throw ArtifactsError.invalidArgument(
        'auth.users: user names must be non-empty without ":", and passwords non-empty',
      );
    }
  }
  const tokens = auth.tokens ?? [
    ...splitList(envString('ARTIFACTS_SERVER_TOKENS')),
    ...readListFile('ARTIFACTS_SERVER_TOKENS_FILE'),
  ];
  if (tokens.some((token) => typeof token !== 'string' || token.length < 8)) {
    throw ArtifactsError.invalidArgument('auth.tokens: each bearer token must be at least 8 characters');
  }
  return {
    users,
    tokens,
    allowUnauthenticated:
      auth.allowUnauthenticated ?? envBoolean('ARTIFACTS_SERVER_ALLOW_UNAUTHENTICATED') ?? false,
    realm: auth.realm ?? 'artifacts',
  };
}

/** Limits from options, then `ARTIFACTS_SERVER_*` variables, then defaults. */
export function resolveLimits(limits: LimitOptions = {}): ResolvedLimits {
  const out: ResolvedLimits = {
    maxUploadBytes:
      limits.maxUploadBytes ??
      envNumber('ARTIFACTS_SERVER_MAX_UPLOAD_BYTES', { integer: true, min: 0 }) ??
      Number.POSITIVE_INFINITY,
    maxJsonBytes:
      limits.maxJsonBytes ??
      envNumber('ARTIFACTS_SERVER_MAX_JSON_BYTES', { integer: true, min: 1 }) ??
      1 << 20,
    headersTimeoutMs: limits.headersTimeoutMs ?? seconds('ARTIFACTS_SERVER_HEADERS_TIMEOUT') ?? 30_000,
    requestTimeoutMs: limits.requestTimeoutMs ?? seconds('ARTIFACTS_SERVER_REQUEST_TIMEOUT') ?? 3_600_000,
    idleTimeoutMs: limits.idleTimeoutMs ?? seconds('ARTIFACTS_SERVER_IDLE_TIMEOUT') ?? 120_000,
    keepAliveTimeoutMs: limits.keepAliveTimeoutMs ?? 5_000,
    maxConnections:
      limits.maxConnections ??
      envNumber('ARTIFACTS_SERVER_MAX_CONNECTIONS', { integer: true, min: 0 }) ??
      DEFAULT_MAX_CONNECTIONS,
    multipartUrlExpirySeconds:
      limits.multipartUrlExpirySeconds ??
      envNumber('ARTIFACTS_SERVER_MPU_URL_EXPIRY', { integer: true, min: 1 }) ??
      3600,
  };
  for (const [name, value] of Object.entries(out)) {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
      throw ArtifactsError.invalidArgument(
        `limits.${name} must be a non-negative number, got ${String(value)}`,
      );
    }
  }
  return out;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(?:\.\d{1,3}){3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/**
 * Which `Host` headers the server answers: the configured list, else loopback names when bound to
 * loopback, else any. Entries are lower-cased, brackets and ports removed.
 */
export function resolveAllowedHosts(option: string[] | undefined, bindHost: string): HostRule[] | 'any' {
  const list =
    option ??
    (envString('ARTIFACTS_SERVER_ALLOWED_HOSTS') === undefined
      ? undefined
      : splitList(envString('ARTIFACTS_SERVER_ALLOWED_HOSTS')));
  if (list === undefined) return isLoopback(bindHost) ? [{ loopback: true }] : 'any';
  if (list.includes('*')) return 'any';
  if (list.length === 0) {
    throw ArtifactsError.invalidArgument(
      'allowedHosts (ARTIFACTS_SERVER_ALLOWED_HOSTS) is empty; use * for any host',
    );
  }
  return list.map((entry) => {
    const name = hostName(entry);
    if (name === '' || /[\s/@?#\\]/.test(entry)) {
      throw ArtifactsError.invalidArgument(
        `allowedHosts (ARTIFACTS_SERVER_ALLOWED_HOSTS): ${JSON.stringify(entry)} is not a host name`,
      );
    }
    return name.startsWith('*.')
      ? { suffix: name.slice(1) }
      : name.startsWith('.')
        ? { suffix: name }
        : { name };
  });
}

export type HostRule = { loopback: true } | { name: string } | { suffix: string };

/** The host of a `Host` header or list entry: lower case, without port or IPv6 brackets. */
export function hostName(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) {
    const close = v.indexOf(']');
    return close === -1 ? v : v.slice(1, close);
  }
  const colon = v.indexOf(':');
  // Two colons or more: a bare IPv6 address, which has no port.
  if (colon !== -1 && v.indexOf(':', colon + 1) === -1) return v.slice(0, colon);
  return v.endsWith('.') ? v.slice(0, -1) : v;
}

export function hostAllowed(rules: HostRule[] | 'any', header: string | undefined): boolean {
  if (rules === 'any') return true;
  if (!header) return false;
  let name = hostName(header);
  if (name.endsWith('.')) name = name.slice(0, -1);
  return rules.some((rule) =>
    'loopback' in rule
      ? isLoopback(name) || name.endsWith('.localhost')
      : 'name' in rule
        ? rule.name === name
        : name.endsWith(rule.suffix) || name === rule.suffix.slice(1),
  );
}

/** Origins allowed to send state-changing requests besides the server's own. */
export function resolveAllowedOrigins(option: string[] | undefined): string[] | 'any' {
  const list = option ?? splitList(envString('ARTIFACTS_SERVER_ALLOWED_ORIGINS'));
  if (list.includes('*')) return 'any';
  return list.map((entry) => {
    try {
      return new URL(entry).origin;
    } catch {
      throw ArtifactsError.invalidArgument(
        `allowedOrigins (ARTIFACTS_SERVER_ALLOWED_ORIGINS): ${JSON.stringify(entry)} is not an origin such as https://ui.example.com`,
      );
    }
  });
}
