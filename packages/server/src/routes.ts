import { Readable, type Writable } from 'node:stream';
import {
  type ArtifactRepository,
  ArtifactsError,
  baseName,
  type CompletedPart,
  envBoolean,
  guessContentType,
  joinKey,
  lendChunks,
  type OpenInfo,
  RELEASE_CHUNK,
  validateArtifactPath,
} from '@artifacts/core';
import contentDisposition from 'content-disposition';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import rangeParser from 'range-parser';
import { createServerLog, facts, installAccessLog, type ServerLog } from './internal/access-log.js';
import { type Authenticator, createAuthenticator } from './internal/auth.js';
import { HttpError, StorageFailure, storage, toHttpError } from './internal/mlflow-errors.js';
import {
  type ArtifactRoutesOptions,
  DEFAULT_PREFIXES,
  type ResolvedLimits,
  resolveAllowedOrigins,
  resolveAuth,
  resolveLimits,
} from './options.js';

/** What `createArtifactServer` hands the plugin besides the public options. */
interface InternalRoutesOptions extends ArtifactRoutesOptions {
  /** Set by createArtifactServer, which installs the access log and error log at its root. */
  serverLog?: ServerLog;
  /** Set by createArtifactServer, which already checked that open access is bound to loopback. */
  authenticator?: Authenticator;
}

const MPU_UNSUPPORTED = 'Multipart upload is not supported for the current artifact repository';
const MPD_UNSUPPORTED = 'Multipart download is not supported for the current artifact repository';

/**
 * The mlflow-artifacts REST API as a Fastify plugin: register it in an existing Fastify app
 * (`app.register(artifactRoutes, { repository, auth })`, optionally with a `prefix`). Every route it
 * adds requires authentication unless `auth.allowUnauthenticated` is set. It keeps its body parsers
 * to itself: uploads stream the raw request into storage.
 */
export const artifactRoutes: FastifyPluginAsync<ArtifactRoutesOptions> = async (app, rawOptions) => {
  const options = rawOptions as InternalRoutesOptions;
  const repo = options.repository;
  if (!repo || typeof repo.openRead !== 'function') {
    throw ArtifactsError.invalidArgument('artifactRoutes needs a `repository` (from openRepository)');
  }
  const limits = resolveLimits(options.limits);
  let authenticator = options.authenticator;
  if (!authenticator) {
    const auth = resolveAuth(options.auth);
    authenticator = createAuthenticator(auth);
    if (authenticator.open && !auth.allowUnauthenticated) {
      throw ArtifactsError.invalidArgument(
        'artifactRoutes: no users or tokens are configured; set auth.users / auth.tokens (or ARTIFACTS_SERVER_USERS / ARTIFACTS_SERVER_TOKENS), or pass auth.allowUnauthenticated where only trusted callers reach the app',
      );
    }
  }
  const check = authenticator;
  const log =
    options.serverLog ??
    createServerLog(options.accessLog ?? envBoolean('ARTIFACTS_SERVER_ACCESS_LOG') ?? true);
  if (!options.serverLog) installAccessLog(app, log);

  app.setErrorHandler(errorHandler(log, repo.uri));
  const allowedOrigins = resolveAllowedOrigins(options.allowedOrigins);
  // `done`, not async: no promise per request (a throw still fails it: fastify catches it).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    // Tells @artifacts/http that HEAD here is a cheap stat (MLflow's server fetches the file for it).
    reply.header('Server', 'artifacts-server');
    refuseCrossSite(request, allowedOrigins);
    const user = check.check(request.headers.authorization);
    if (user !== undefined) facts(request).user = user;
    done();
  });

  for (const prefix of options.prefixes ?? DEFAULT_PREFIXES) {
    const base = `${prefix.replace(/\/+$/, '')}/mlflow-artifacts`;
    registerReadRoutes(app, base, repo, limits);
    // MLflow 3 clients ask /api/3.0/mlflow/server-info whether to use multipart for mlflow-artifacts URIs.
    const v3 = prefix.replace(/\/2\.0\/?$/, '/3.0');
    if (v3 !== prefix) {
      app.get(`${v3}/mlflow/server-info`, async () => ({
        store_type: null,
        workspaces_enabled: false,
        multipart_uploads_enabled: repo.capabilities.multipartUpload,
        multipart_downloads_enabled: repo.capabilities.presign,
      }));
    }
    // Uploads get the raw request stream: no body parser of this scope may buffer it.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      // The request's body chunks are fresh copies Node's parser made and nobody else sees: lent to
      // the write path (core's `lendChunks`), which frees each once written instead of leaving a
      // large upload's chunks to the collector.
      scope.addContentTypeParser('*', (_request, payload, done) => done(null, lendChunks(payload)));
      scope.put(`${base}/artifacts/*`, (request, reply) => upload(request, reply, repo, limits));
    });
    // The multipart routes take small JSON bodies declared as JSON: a `text/plain` body is what a
    // cross-site HTML form can send without a preflight, so it is refused rather than parsed.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser(
        'application/json',
        { parseAs: 'string', bodyLimit: limits.maxJsonBytes },
        scope.getDefaultJsonParser('error', 'error'),
      );
      scope.addContentTypeParser('*', (request, _payload, done) => {
        const type = request.headers['content-type'];
        done(
          new HttpError(
            415,
            'BAD_REQUEST',
            `this route takes a JSON body: send Content-Type: application/json${type ? ` (got ${JSON.stringify(String(type).slice(0, 100))})` : ''}`,
          ),
        );
      });
      registerMultipartRoutes(scope, base, repo, limits);
    });
  }
};

function errorHandler(log: ServerLog, destinationUri: string) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { http, internal } = toHttpError(error, request.id, destinationUri, action(request));
    if (internal) log.error(request.id, http.logged ?? error);
    facts(request).errorCode = http.errorCode;
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    // The body of a refused upload was never read: close the connection rather than read it all.
    if (!request.raw.readableEnded && requestHasBody(request)) reply.header('Connection', 'close');
    for (const name of ['Content-Disposition', 'Content-Length', 'Content-Range', 'ETag', 'Last-Modified'])
      reply.removeHeader(name);
    reply.code(http.status).headers(http.headers).type('application/json; charset=utf-8').send(http.body());
  };
}

/** What the request was doing, in the client's own terms, for error messages. */
function action(request: FastifyRequest): string {
  const route = request.routeOptions.url ?? '';
  const key = facts(request).artifactPath;
  const named = key === undefined ? '' : key === '' ? ' the artifact root' : ` ${JSON.stringify(key)}`;
  const mpu = /\/mpu\/(create|complete|abort)\//.exec(route)?.[1];
  if (mpu) {
    const verb = { create: 'starting', complete: 'completing', abort: 'aborting' }[mpu];
    return `${verb} the multipart upload of${named}`;
  }
  if (route.includes('/presigned/')) return `presigning artifact${named}`;
  if (route.endsWith('/artifacts')) return `listing${named}`;
  const verb: Record<string, string> = {
    GET: 'reading',
    HEAD: 'reading',
    PUT: 'uploading',
    DELETE: 'deleting',
  };
  return `${verb[request.method] ?? 'serving'} artifact${named}`;
}

const STATE_CHANGING = new Set(['PUT', 'POST', 'DELETE', 'PATCH']);

/**
 * Refuses state-changing requests a browser sends on behalf of another site (CSRF): an `Origin`
 * other than the server's own or an allowed one, or `Sec-Fetch-Site` saying the page is elsewhere.
 * Clients that are not browsers send neither header and are not affected.
 */
function refuseCrossSite(request: FastifyRequest, allowed: string[] | 'any'): void {
  if (!STATE_CHANGING.has(request.method) || allowed === 'any') return;
  const origin = request.headers.origin;
  if (origin !== undefined) {
    let host: string | undefined;
    let normalized: string | undefined;
    try {
      const url = new URL(origin);
      host = url.host;
      normalized = url.origin;
    } catch {
      // `null` (a sandboxed frame, a file: page) or garbage: not this server.
    }
    if (normalized !== undefined && allowed.includes(normalized)) return;
    if (host === undefined || host.toLowerCase() !== (request.headers.host ?? '').toLowerCase()) {
      throw new HttpError(
        403,
        'PERMISSION_DENIED',
        `cross-origin ${request.method} refused: a page from another origin may not change artifacts here (allow trusted origins with ARTIFACTS_SERVER_ALLOWED_ORIGINS)`,
      );
    }
    return;
  }
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') {
    throw new HttpError(
      403,
      'PERMISSION_DENIED',
      `cross-site ${request.method} refused (Sec-Fetch-Site: ${site}): a page from another site may not change artifacts here`,
    );
  }
}

function requestHasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/** Aborts storage work when the client goes away before its response is complete. */
function requestSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new DOMException('client disconnected', 'AbortError'));
  });
  return controller.signal;
}

/**
 * The artifact path in the URL after the route's static part, percent-decoded once (as MLflow's
 * server does), then through core's validator. Taken from the raw URL rather than the router's
 * parameter so that what is validated is exactly what the client sent.
 */
function urlPath(request: FastifyRequest, allowRoot: boolean): string {
  const pattern = request.routeOptions.url ?? '';
  const fixed = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern;
  const url = request.raw.url ?? '';
  const q = url.indexOf('?');
  const pathname = q === -1 ? url : url.slice(0, q);
  let raw: string;
  if (pathname.startsWith(fixed)) {
    try {
      raw = decodeURIComponent(pathname.slice(fixed.length));
    } catch {
      throw ArtifactsError.invalidArgument('the artifact path in the URL has a malformed percent-escape');
    }
  } else {
    raw = (request.params as Record<string, string>)['*'] ?? '';
  }
  const key = validateArtifactPath(raw, { label: 'artifact path', allowRoot });
  facts(request).artifactPath = key;
  return key;
}

function registerReadRoutes(
  app: FastifyInstance,
  base: string,
  repo: ArtifactRepository,
  limits: ResolvedLimits,
): void {
  app.get(`${base}/artifacts`, { exposeHeadRoute: false }, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const raw = query.path;
    if (raw !== undefined && typeof raw !== 'string') {
      throw ArtifactsError.invalidArgument("query parameter 'path' must be given at most once");
    }
    const key = validateArtifactPath(raw, { label: "query parameter 'path'" });
    facts(request).artifactPath = key;
    const files = await storage(repo.listArtifacts(key, { signal: requestSignal(reply) }));
    if (files.length === 0) return {};
    return {
      files: files.map((file) =>
        file.isDir
          ? { path: baseName(file.path), is_dir: true }
          : {
              path: baseName(file.path),
              is_dir: false,
              ...(file.fileSize === undefined ? {} : { file_size: file.fileSize }),
            },
      ),
    };
  });

  // HEAD is our own (no storage read); a host app's exposeHeadRoutes must not add another.
  app.get(`${base}/artifacts/*`, { exposeHeadRoute: false }, (request, reply) =>
    download(request, reply, repo, true),
  );
  app.head(`${base}/artifacts/*`, (request, reply) => download(request, reply, repo, false));

  // MLflow's presigned download: the client then reads ranges straight from storage.
  app.get(`${base}/presigned/*`, { exposeHeadRoute: false }, async (request, reply) => {
    const key = urlPath(request, false);
    if (!repo.capabilities.presign) throw ArtifactsError.unsupported(MPD_UNSUPPORTED);
    const signal = requestSignal(reply);
    const info = await storage(repo.stat(key, { signal }));
    if (info.isDir) throw ArtifactsError.notFound(`artifact ${JSON.stringify(key)} is a directory; it`);
    const url = await storage(
      repo.presignedUrl(key, 'GET', { signal, expiresInSeconds: limits.multipartUrlExpirySeconds }),
    );
    return { url, headers: {}, ...(info.fileSize === undefined ? {} : { file_size: info.fileSize }) };
  });

  app.delete(`${base}/artifacts/*`, async (request, reply) => {
    const key = urlPath(request, true);
    if (key === '') {
      throw ArtifactsError.invalidArgument(
        'refusing to delete the whole artifact destination; name a path under it',
      );
    }
    await storage(repo.deleteArtifacts(key, { signal: requestSignal(reply) }));
    return {};
  });
}

async function download(
  request: FastifyRequest,
  reply: FastifyReply,
  repo: ArtifactRepository,
  withBody: boolean,
): Promise<FastifyReply> {
  const key = urlPath(request, false);
  const signal = requestSignal(reply);
  reply
    .header('Content-Type', guessContentType(key))
    .header('Content-Disposition', attachment(baseName(key)))
    .header('Content-Security-Policy', "default-src 'none'; sandbox")
    .header('Cache-Control', 'no-cache')
    .header('Accept-Ranges', 'bytes');
  const header = request.headers.range;
  if (withBody && header === undefined) {
    // The common case costs one storage call: the read itself says how long it is (a directory
    // or a missing key is not_found, as the driver contract says).
    let opened: OpenInfo = {};
    const stream = await storage(repo.openRead(key, { signal, onOpen: (info) => (opened = info) }));
    checkIfMatch(request, validators(reply, opened), stream);
    if (opened.size !== undefined) reply.header('Content-Length', opened.size);
    return reply.send(releasingPipe(stream));
  }

  if (withBody && header !== undefined && request.headers['if-range'] === undefined) {
    if (await rangedRead(request, reply, repo, key, header, signal)) return reply;
  }

  const info = await storage(repo.stat(key, { signal }));
  if (info.isDir) {
    throw ArtifactsError.notFound(`artifact ${JSON.stringify(key)} is a directory, not a file; it`, {
      context: { path: key },
    });
  }
  const size = info.fileSize;
  const etag = validators(reply, { ...info, totalSize: size });
  checkIfMatch(request, etag);
  let range: { start: number; end: number } | undefined;
  if (header && size !== undefined && ifRangeMatches(request, etag, info.lastModified)) {
    const parsed = rangeParser(size, header, { combine: true });
    if (parsed === -1) throw unsatisfiable(header, size);
    // A malformed header, another unit or several ranges: serve the whole file, which RFC 9110 allows.
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) range = parsed[0];
  }
  if (range) {
    reply
      .code(206)
      .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`)
      .header('Content-Length', range.end - range.start + 1);
  } else if (size !== undefined) {
    reply.header('Content-Length', size);
  }
  if (!withBody) return reply.send();
  const stream = await storage(repo.openRead(key, { signal, ...(range ? { range } : {}) }));
  return reply.send(releasingPipe(stream));
}

/**
 * A GET of one range `bytes=a-b` (or `bytes=a-`) in one storage call, the http client's every
 * request: the read itself names the object's size and version (`onOpen`), so no stat goes first
 * (for an S3 destination, no HEAD before each GET). Undefined when the stat path must answer: any
 * other form of Range, a store that names no size, or a range the store refused. (A boolean, not
 * the reply: a reply is a thenable, which an async function would wait on.)
 */
async function rangedRead(
  request: FastifyRequest,
  reply: FastifyReply,
  repo: ArtifactRepository,
  key: string,
  header: string,
  signal: AbortSignal,
): Promise<boolean> {
  const asked = /^bytes=(\d+)-(\d*)$/.exec(header);
  if (!asked) return false;
  const start = Number(asked[1]);
  const end = asked[2] === '' ? undefined : Number(asked[2]);
  if (!Number.isSafeInteger(start) || (end !== undefined && !(Number.isSafeInteger(end) && end >= start)))
    return false;
  let opened: OpenInfo = {};
  let stream: Readable;
  try {
    stream = await repo.openRead(key, {
      signal,
      range: { start, ...(end === undefined ? {} : { end }) },
      onOpen: (info) => (opened = info),
    });
  } catch (error) {
    // A range past the end, as the store refuses it: the stat path answers 416 with the size.
    if (ArtifactsError.is(error, 'invalid_argument')) return false;
    throw new StorageFailure(error);
  }
  const { totalSize: total, size } = opened;
  if (total === undefined || size === undefined || start >= total) {
    stream.destroy();
    if (total === undefined || size === undefined) return false;
    throw unsatisfiable(header, total);
  }
  checkIfMatch(request, validators(reply, opened), stream);
  reply
    .code(206)
    .header('Content-Range', `bytes ${start}-${start + size - 1}/${total}`)
    .header('Content-Length', size)
    .send(releasingPipe(stream));
  return true;
}

type Releasable = Buffer & { [RELEASE_CHUNK]?: () => void };

/**
 * Has fastify's `stream.pipe(response)` write each chunk with a callback, so that a chunk carrying
 * core's `RELEASE_CHUNK` (a local destination's read buffer) goes back to its store once the socket
 * has taken its bytes: a large download reuses a few read buffers instead of allocating, and
 * collecting, one per read. Back-pressure is pipe's: paused while the response is full, resumed on
 * 'drain'. Fastify still owns the rest: it destroys the stream when the response closes early (the
 * file handle closes; a chunk written or dropped is garbage or back in the pool) and the response
 * when the stream fails.
 */
function releasingPipe(stream: Readable): Readable {
  const pipe = <T extends NodeJS.WritableStream>(
    destination: T,
    options?: { end?: boolean | undefined },
  ): T => {
    const response = destination as unknown as Writable;
    const onData = (chunk: Releasable) => {
      const release = chunk[RELEASE_CHUNK];
      if (!response.write(chunk, release && (() => release()))) stream.pause();
    };
    const onDrain = () => stream.resume();
    const onEnd = () => {
      if (options?.end !== false) response.end();
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    response.on('drain', onDrain);
    response.once('close', () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      response.off('drain', onDrain);
    });
    return destination;
  };
  stream.pipe = pipe;
  return stream;
}

/**
 * ETag and Last-Modified of the version a reply serves. HEAD (a stat), a whole GET and a ranged GET
 * (reads) name the same ones: core's `stat` reports the version a read pins to. A version that is no
 * quoted entity tag (a GCS generation, an HDFS inode id) is quoted. A store that names no version (a
 * local directory, SFTP, FTP) gets one from the object's size and modification time, as nginx does
 * for files: a file replaced mid-download then fails the client's pinned ranges (`If-Match`) instead
 * of mixing two versions, even when the new one has the same size. Returns the ETag sent.
 */
function validators(
  reply: FastifyReply,
  version: { etag?: string | undefined; lastModified?: Date | undefined; totalSize?: number | undefined },
): string | undefined {
  const { etag, lastModified, totalSize } = version;
  const derived =
    etag === undefined && lastModified && totalSize !== undefined
      ? `"${totalSize.toString(16)}-${lastModified.getTime().toString(16)}"`
      : undefined;
  const tag = derived ?? (etag && (/^(W\/)?".*"$/.test(etag) ? etag : JSON.stringify(etag)));
  if (tag) reply.header('ETag', tag);
  if (lastModified) reply.header('Last-Modified', lastModified.toUTCString());
  return tag;
}

/**
 * `If-Match` (RFC 9110 13.1.1): the client reads the rest of a version it began (a pinned range);
 * any other version, or none named, is 412 before a byte is sent. Strong comparison: a weak tag
 * never matches.
 */
function checkIfMatch(request: FastifyRequest, etag: string | undefined, stream?: Readable): void {
  const header = request.headers['if-match'];
  if (header === undefined) return;
  const asked = String(header)
    .split(',')
    .map((tag) => tag.trim());
  if (asked.includes('*') || (etag !== undefined && !etag.startsWith('W/') && asked.includes(etag))) return;
  stream?.destroy();
  throw new HttpError(
    412,
    'RESOURCE_CONFLICT',
    `the artifact is no longer the version ${String(header).slice(0, 200)} (it was replaced)`,
  );
}

function unsatisfiable(header: string, size: number): HttpError {
  return new HttpError(
    416,
    'INVALID_PARAMETER_VALUE',
    `range ${header} is outside the ${size} bytes of the artifact`,
    { 'Content-Range': `bytes */${size}` },
  );
}

/**
 * `attachment; filename="<ASCII>"` plus, for any other name, RFC 6266's `filename*=UTF-8''…`: old
 * clients get a safe ASCII name, current ones the real one. Quotes and backslashes are escaped.
 */
function attachment(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '?');
  return contentDisposition(name, { type: 'attachment', fallback: ascii });
}

/** `If-Range` with a validator that no longer matches means "send the whole, current file". */
function ifRangeMatches(
  request: FastifyRequest,
  etag: string | undefined,
  lastModified: Date | undefined,
): boolean {
  const value = request.headers['if-range'];
  if (value === undefined) return true;
  if (typeof value !== 'string') return false;
  if (value.startsWith('"') || value.startsWith('W/')) return etag !== undefined && value === etag;
  const date = Date.parse(value);
  return (
    lastModified !== undefined &&
    !Number.isNaN(date) &&
    Math.floor(lastModified.getTime() / 1000) * 1000 <= date
  );
}

/**
 * Counts the bytes of an upload and fails it with 413 past the limit. Pulls from the request only as
 * storage reads, so that the failure surfaces to storage's consumer (which then discards the write)
 * rather than before anyone listens.
 */
function limitSize(source: Readable, max: number): Readable {
  const limited = Readable.from(
    (async function* () {
      let seen = 0;
      for await (const chunk of source) {
        seen += (chunk as Buffer).length;
        if (seen > max) throw tooLarge(max);
        yield chunk as Buffer;
      }
    })(),
    { objectMode: false },
  );
  // Storage's consumer sees the 413 through its own read of this stream; a consumer that has already
  // stopped listening (it failed first, or a layer let go of the body) must not make it uncaught.
  limited.on('error', () => undefined);
  return limited;
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, 'BAD_REQUEST', `the upload is larger than this server's limit of ${max} bytes`, {
    Connection: 'close',
  });
}

async function upload(
  request: FastifyRequest,
  reply: FastifyReply,
  repo: ArtifactRepository,
  limits: ResolvedLimits,
): Promise<object> {
  const key = urlPath(request, false);
  const declared = request.headers['content-length'];
  const size = declared === undefined ? undefined : Number(declared);
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw ArtifactsError.invalidArgument('Content-Length must be a non-negative integer');
  }
  if (size !== undefined && size > limits.maxUploadBytes) throw tooLarge(limits.maxUploadBytes);
  const raw = (request.body as Readable | undefined) ?? request.raw;
  const body = Number.isFinite(limits.maxUploadBytes) ? limitSize(raw, limits.maxUploadBytes) : raw;
  try {
    await repo.write(key, body, {
      signal: requestSignal(reply),
      ...(size === undefined ? {} : { size }),
    });
  } catch (error) {
    // The limiter's 413 reaches us wrapped by core; answer with it rather than the wrapper.
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof HttpError) throw cause;
    throw new StorageFailure(error);
  }
  return {};
}

function bodyObject(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw ArtifactsError.invalidArgument('the request body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/**
 * MLflow's client sends the *local* file path in the body's `path` (`/tmp/x/model.bin`); the server
 * stores at `<URL path>/<basename>`. Only the base name is used, and it must be a safe file name.
 */
function bodyFileName(body: Record<string, unknown>): string {
  const raw = body.path;
  if (typeof raw !== 'string' || raw === '') {
    throw ArtifactsError.invalidArgument("the JSON body needs a string field 'path' (the file name)");
  }
  if (/[\u0000-\u001f\u007f]/.test(raw)) {
    throw ArtifactsError.invalidArgument("field 'path' contains a NUL or control character");
  }
  return validateArtifactPath(baseName(raw), { label: "JSON field 'path'", allowRoot: false });
}

function intLike(value: unknown, name: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
    throw ArtifactsError.invalidArgument(`field '${name}' must be an integer`);
  }
  return n;
}

function uploadId(body: Record<string, unknown>): string | null {
  const id = body.upload_id;
  if (id === undefined || id === null || id === '') return null;
  if (typeof id !== 'string') throw ArtifactsError.invalidArgument("field 'upload_id' must be a string");
  return id;
}

function registerMultipartRoutes(
  app: FastifyInstance,
  base: string,
  repo: ArtifactRepository,
  limits: ResolvedLimits,
): void {
  const target = (request: FastifyRequest) => {
    const dir = urlPath(request, true);
    const body = bodyObject(request);
    const key = joinKey(dir, bodyFileName(body));
    facts(request).artifactPath = key;
    return { key, body };
  };
  const requireMultipart = () => {
    if (!repo.capabilities.multipartUpload) throw ArtifactsError.unsupported(MPU_UNSUPPORTED);
  };

  app.post(`${base}/mpu/create/*`, async (request, reply) => {
    const { key, body } = target(request);
    const numParts = intLike(body.num_parts, 'num_parts');
    requireMultipart();
    const created = await storage(
      repo.createMultipartUpload(key, numParts, {
        signal: requestSignal(reply),
        expiresInSeconds: limits.multipartUrlExpirySeconds,
      }),
    );
    return {
      ...(created.uploadId === null ? {} : { upload_id: created.uploadId }),
      credentials: created.credentials.map((credential) => ({
        url: credential.url,
        part_number: credential.partNumber,
        headers: credential.headers,
      })),
    };
  });

  app.post(`${base}/mpu/complete/*`, async (request, reply) => {
    const { key, body } = target(request);
    const id = uploadId(body);
    if (!Array.isArray(body.parts)) throw ArtifactsError.invalidArgument("field 'parts' must be a list");
    const parts: CompletedPart[] = body.parts.map((part: unknown) => {
      const p = (part ?? {}) as Record<string, unknown>;
      if (typeof p.etag !== 'string') throw ArtifactsError.invalidArgument("each part needs a string 'etag'");
      return {
        partNumber: intLike(p.part_number, 'part_number'),
        etag: p.etag,
        ...(typeof p.url === 'string' ? { url: p.url } : {}),
      };
    });
    requireMultipart();
    await storage(repo.completeMultipartUpload(key, id, parts, { signal: requestSignal(reply) }));
    return {};
  });

  app.post(`${base}/mpu/abort/*`, async (request, reply) => {
    const { key, body } = target(request);
    const id = uploadId(body);
    requireMultipart();
    await storage(repo.abortMultipartUpload(key, id, { signal: requestSignal(reply) }));
    return {};
  });
}
