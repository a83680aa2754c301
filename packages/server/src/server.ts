import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  type ArtifactRepository,
  ArtifactsError,
  envBoolean,
  envNumber,
  envString,
  openRepository,
  readSettingFile,
} from '@artifacts/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { createServerLog, installAccessLog, type ServerLog } from './internal/access-log.js';
import { createAuthenticator } from './internal/auth.js';
import { HttpError, toHttpError } from './internal/mlflow-errors.js';
import { asDefaultCompilers, lazySchemaCompilers } from './internal/schema-compilers.js';
import {
  type ArtifactRoutesOptions,
  type ArtifactServerOptions,
  DEFAULT_DESTINATION,
  DEFAULT_HOST,
  DEFAULT_PORT,
  type HostRule,
  hostAllowed,
  isLoopback,
  type ResolvedLimits,
  resolveAllowedHosts,
  resolveAuth,
  resolveLimits,
} from './options.js';
import { artifactRoutes } from './routes.js';

/** Where a listening server can be reached. */
export interface ServerAddress {
  host: string;
  port: number;
  /** `http(s)://host:port`, the value for `MLFLOW_TRACKING_URI`. */
  url: string;
}

export interface ArtifactServer {
  /** The Fastify instance (for `inject` in tests, or extra routes before `listen`). */
  readonly app: FastifyInstance;
  /** The destination being served. */
  readonly repository: ArtifactRepository;
  /** Set once `listen` resolved. */
  readonly address: ServerAddress | undefined;
  /** Starts listening on the configured host and port. */
  listen(): Promise<ServerAddress>;
  /**
   * Graceful shutdown: stops accepting connections, answers new requests on open connections with 503,
   * lets in-flight transfers finish (up to `shutdownTimeoutMs`, then cuts them), then closes the
   * destination (unless it was passed in as `repository`). Idempotent.
   */
  close(): Promise<void>;
}

interface Settings {
  destination: string;
  host: string;
  port: number;
  shutdownTimeoutMs: number;
  tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  trustProxy: boolean;
  allowedHosts: HostRule[] | 'any';
}

function resolveSettings(options: ArtifactServerOptions): Settings {
  const port = options.port ?? envNumber('ARTIFACTS_SERVER_PORT', { integer: true, min: 0 }) ?? DEFAULT_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw ArtifactsError.invalidArgument(`port must be an integer between 0 and 65535, got ${String(port)}`);
  }
  const certPath = envString('ARTIFACTS_SERVER_TLS_CERT');
  const keyPath = envString('ARTIFACTS_SERVER_TLS_KEY');
  if ((certPath === undefined) !== (keyPath === undefined)) {
    throw ArtifactsError.invalidArgument(
      'ARTIFACTS_SERVER_TLS_CERT and ARTIFACTS_SERVER_TLS_KEY go together',
    );
  }
  const readPem = (variable: string, path: string) => readSettingFile(path, `${variable} file`);

  const tls =
    options.tls ??
    (certPath && keyPath
      ? {
          cert: readPem('ARTIFACTS_SERVER_TLS_CERT', certPath),
          key: readPem('ARTIFACTS_SERVER_TLS_KEY', keyPath),
        }
      : undefined);
  const shutdownSeconds = envNumber('ARTIFACTS_SERVER_SHUTDOWN_TIMEOUT', { min: 0 });
  const host = options.host ?? envString('ARTIFACTS_SERVER_HOST') ?? DEFAULT_HOST;
  return {
    destination:
      options.artifactsDestination ??
      envString('ARTIFACTS_SERVER_ARTIFACTS_DESTINATION') ??
      DEFAULT_DESTINATION,
    host,
    port,
    shutdownTimeoutMs:
      options.shutdownTimeoutMs ?? (shutdownSeconds === undefined ? 30_000 : shutdownSeconds * 1000),
    tls,
    trustProxy: options.trustProxy ?? envBoolean('ARTIFACTS_SERVER_TRUST_PROXY') ?? false,
    allowedHosts: resolveAllowedHosts(options.allowedHosts, host),
  };
}

/**
 * Node checks the headers and request timeouts only every `connectionsCheckingInterval` (30 s by
 * default), so a 30 s headers timeout fired anywhere between 30 and 60 s. Check often enough that
 * a timeout fires within a tenth of itself (at least every 5 s, at most every 100 ms).
 */
function checkingInterval(limits: ResolvedLimits): number {
  const shortest = Math.min(
    limits.headersTimeoutMs,
    limits.requestTimeoutMs > 0 ? limits.requestTimeoutMs : Number.POSITIVE_INFINITY,
  );
  return Math.max(100, Math.min(5_000, Math.floor(shortest / 10)));
}

/**
 * Caps open client connections: past the cap a plain-HTTP connection gets a short 503 (clients
 * retry it, as they retry MLflow's server) and a TLS one is closed, instead of costing a descriptor
 * and a request's memory each until the process runs out.
 */
function capConnections(server: Server, max: number, secure: boolean): void {
  if (max <= 0) return;
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= max) {
      socket.on('error', () => undefined);
      if (secure) {
        socket.destroy();
        return;
      }
      const body = JSON.stringify({
        error_code: 'TEMPORARILY_UNAVAILABLE',
        message: `the server has ${max} connections open, its limit; retry shortly`,
      });
      socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${body}`,
      );
      // Let the 503 go out; its request is never read.
      socket.setTimeout(5_000, () => socket.destroy());
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
}

function describeHost(header: string | undefined): string {
  if (!header) return 'no Host header';
  const shown = header.replace(/[^\x21-\x7e]/g, '?');
  return `Host: ${shown.length > 100 ? `${shown.slice(0, 100)}…` : shown}`;
}

function formatUrl(secure: boolean, host: string, port: number): string {
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${secure ? 'https' : 'http'}://${shown}:${port}`;
}

/**
 * Builds the artifact proxy server: MLflow's mlflow-artifacts API under `/api/2.0` and `/ajax-api/2.0`
 * plus `GET /health`, over the destination repository. Checks the configuration (authentication
 * must be configured unless the server binds loopback and `allowUnauthenticated` is set) and opens
 * the destination before returning; call `listen()` to serve.
 */
export async function createArtifactServer(options: ArtifactServerOptions = {}): Promise<ArtifactServer> {
  const settings = resolveSettings(options);
  const limits = resolveLimits(options.limits);
  const auth = resolveAuth(options.auth);
  const authenticator = createAuthenticator(auth);
  if (authenticator.open) {
    if (!auth.allowUnauthenticated) {
      throw ArtifactsError.invalidArgument(
        'refusing to serve without authentication: configure users (ARTIFACTS_SERVER_USERS) or bearer tokens (ARTIFACTS_SERVER_TOKENS), or bind a loopback address and allow unauthenticated access explicitly (ARTIFACTS_SERVER_ALLOW_UNAUTHENTICATED=true)',
      );
    }
    if (!isLoopback(settings.host)) {
      throw ArtifactsError.invalidArgument(
        `refusing to serve without authentication on ${settings.host}: unauthenticated access is only allowed on a loopback address (127.0.0.1, ::1, localhost); configure users or bearer tokens`,
      );
    }
  }

  const ownRepository = options.repository === undefined;
  const repository =
    options.repository ?? (await openRepository(settings.destination, options.repositoryOptions));
  const log: ServerLog = createServerLog(
    options.accessLog ?? envBoolean('ARTIFACTS_SERVER_ACCESS_LOG') ?? true,
  );

  const httpOptions = {
    headersTimeout:
      limits.requestTimeoutMs > 0
        ? Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs)
        : limits.headersTimeoutMs,
    connectionsCheckingInterval: checkingInterval(limits),
  };
  const app = Fastify({
    logger: false,
    schemaController: lazySchemaCompilers(),
    bodyLimit: limits.maxJsonBytes,
    trustProxy: settings.trustProxy,
    // Our own onRequest hook answers requests that arrive while closing, in MLflow's error shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 8192 },
    // Headers must arrive in time even when whole requests may take an hour (large uploads).
    ...(settings.tls
      ? { https: { cert: settings.tls.cert, key: settings.tls.key, ...httpOptions } }
      : { http: httpOptions }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  asDefaultCompilers(app);
  capConnections(app.server as Server, limits.maxConnections, settings.tls !== undefined);

  let closing = false;
  installAccessLog(app, log);
  const allowedHosts = settings.allowedHosts;
  // Hooks take fastify's `done` rather than being async: an async hook costs every request a promise
  // and a turn of the microtask queue (a throw still fails the request: fastify catches it).
  app.addHook('onRequest', (request, reply, done) => {
    // Before authentication: a page on a rebound name must learn nothing, not even "401".
    if (!hostAllowed(allowedHosts, request.headers.host) && request.routeOptions.url !== '/health') {
      throw new HttpError(
        403,
        'PERMISSION_DENIED',
        `this server does not answer for the host named in the request (${describeHost(request.headers.host)}); if that is a name of this server, add it to ARTIFACTS_SERVER_ALLOWED_HOSTS (allowedHosts)`,
      );
    }
    if (closing) {
      reply.header('Connection', 'close');
      throw new HttpError(
        503,
        'TEMPORARILY_UNAVAILABLE',
        'the server is shutting down; retry against another instance',
      );
    }
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('Connection', 'close');
    done(null, payload);
  });
  app.addHook('onResponse', (_request, _reply, done) => {
    // A transfer that finished during shutdown leaves a keep-alive connection behind: close it now.
    if (closing) setImmediate(() => app.server.closeIdleConnections());
    done();
  });
  app.setErrorHandler((error, request, reply) => {
    const { http, internal } = toHttpError(error, request.id);
    if (internal) log.error(request.id, http.logged ?? error);
    reply.code(http.status).headers(http.headers).send(http.body());
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error_code: 'ENDPOINT_NOT_FOUND',
      message: `no route for ${request.method} ${(request.raw.url ?? '').split('?')[0]}`,
    });
  });
  app.get('/health', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('OK'));

  const routeOptions: ArtifactRoutesOptions & { serverLog: ServerLog; authenticator: typeof authenticator } =
    {
      repository,
      limits: options.limits ?? {},
      serverLog: log,
      authenticator,
      ...(options.prefixes ? { prefixes: options.prefixes } : {}),
      ...(options.allowedOrigins ? { allowedOrigins: options.allowedOrigins } : {}),
    };
  await app.register(artifactRoutes, routeOptions);

  let address: ServerAddress | undefined;
  let closed: Promise<void> | undefined;
  return {
    app,
    repository,
    get address() {
      return address;
    },
    async listen() {
      if (address) return address;
      await app.listen({ host: settings.host, port: settings.port });
      const info = app.server.address() as AddressInfo;
      address = {
        host: settings.host,
        port: info.port,
        url: formatUrl(settings.tls !== undefined, settings.host, info.port),
      };
      return address;
    },
    close() {
      closed ??= (async () => {
        closing = true;
        const force = setTimeout(() => app.server.closeAllConnections(), settings.shutdownTimeoutMs);
        force.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(force);
          if (ownRepository) await repository.close();
          log.flush();
        }
      })();
      return closed;
    },
  };
}

/**
 * A plain Node `(req, res)` handler serving the routes, for Express, Koa, `http.createServer` or any
 * framework that can hand over a raw request: `app.use('/mlflow', createArtifactHandler({ repository, auth }))`
 * (mounted under a path, the API lives at `<path>/api/2.0/mlflow-artifacts/…`; pass `prefixes` to
 * match what the framework leaves in `req.url`).
 */
export async function createArtifactHandler(
  options: ArtifactRoutesOptions,
): Promise<(req: IncomingMessage, res: ServerResponse) => void> {
  const app = Fastify({
    logger: false,
    schemaController: lazySchemaCompilers(),
    bodyLimit: resolveLimits(options.limits).maxJsonBytes,
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: 8192 },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  asDefaultCompilers(app);
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error_code: 'ENDPOINT_NOT_FOUND',
      message: `no route for ${request.method} ${(request.raw.url ?? '').split('?')[0]}`,
    });
  });
  await app.register(artifactRoutes, options);
  await app.ready();
  return (req, res) => app.routing(req, res);
}

/** Options of `startServer`: the server's, plus what a command-line launcher wants. */
export interface StartServerOptions extends ArtifactServerOptions {
  /** Close gracefully on SIGINT/SIGTERM (a second signal cuts open transfers). Default true. */
  handleSignals?: boolean;
  /** Receives the one-line start-up and shutdown messages. Default: written to stderr. */
  onMessage?: (line: string) => void;
}

export interface StartedServer extends ArtifactServer {
  readonly address: ServerAddress;
  /** Resolves once the server has closed (after a signal or `close()`). */
  readonly closed: Promise<void>;
}

/**
 * Creates and starts the server, prints where it listens and what it serves, and closes it
 * gracefully on SIGINT/SIGTERM: what `artifacts serve` runs.
 */
export async function startServer(options: StartServerOptions = {}): Promise<StartedServer> {
  const say = options.onMessage ?? ((line: string) => process.stderr.write(`${line}\n`));
  const server = await createArtifactServer(options);
  let address: ServerAddress;
  try {
    address = await server.listen();
  } catch (error) {
    await server.close().catch(() => undefined);
    throw error;
  }
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  let closing: Promise<void> | undefined;
  const shutdown = () => {
    closing ??= server.close().finally(() => {
      for (const [signal, handler] of handlers) process.removeListener(signal, handler);
      resolveClosed();
    });
    return closing;
  };
  if (options.handleSignals ?? true) {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const handler = () => {
        if (closing) {
          say(`${signal} again: cutting in-flight transfers`);
          server.app.server.closeAllConnections();
          return;
        }
        say(`${signal}: finishing in-flight transfers, then stopping (send it again to cut them)`);
        shutdown().catch((error: unknown) =>
          say(`shutdown failed: ${error instanceof Error ? error.message : String(error)}`),
        );
      };
      handlers.push([signal, handler]);
      process.on(signal, handler);
    }
  }
  say(`@artifacts/server listening on ${address.url}, serving ${server.repository.uri}`);
  return {
    app: server.app,
    repository: server.repository,
    address,
    closed,
    listen: () => server.listen(),
    close: shutdown,
  };
}
