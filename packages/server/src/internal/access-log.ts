import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import pino from 'pino';
import type { AccessLogEntry } from '../options.js';

/** Per-request facts the handlers add for the access log. */
export interface RequestFacts {
  artifactPath?: string;
  user?: string;
  errorCode?: string;
}

const FACTS = new WeakMap<object, RequestFacts>();

export function facts(request: FastifyRequest): RequestFacts {
  let found = FACTS.get(request.raw);
  if (!found) {
    found = {};
    FACTS.set(request.raw, found);
  }
  return found;
}

/** Where log lines go: access entries and server-side error details (never sent to clients). */
export interface ServerLog {
  /** False when access entries go nowhere: no per-request hook is installed for them. */
  readonly logsAccess: boolean;
  access(entry: AccessLogEntry): void;
  error(requestId: string, error: unknown): void;
  flush(): void;
}

export function createServerLog(option: boolean | Writable | ((entry: AccessLogEntry) => void)): ServerLog {
  if (option === false)
    return { logsAccess: false, access: () => undefined, error: () => undefined, flush: () => undefined };
  if (typeof option === 'function') {
    // A function receives access entries only; errors still reach stderr, where an operator looks.
    const errors = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
    return {
      logsAccess: true,
      access: option,
      error: (requestId, error) => errors.error({ requestId, ...describeError(error) }, 'request failed'),
      flush: () => errors.flush(),
    };
  }
  const destination = option === true ? pino.destination({ dest: 1, sync: false }) : option;
  const logger = pino(
    {
      base: null,
      timestamp: false,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return {
    logsAccess: true,
    access: (entry) => logger.info(entry, 'request'),
    error: (requestId, error) =>
      logger.error({ time: new Date().toISOString(), requestId, ...describeError(error) }, 'request failed'),
    flush: () => {
      if (typeof (destination as { flushSync?: unknown }).flushSync === 'function') {
        try {
          (destination as { flushSync(): void }).flushSync();
        } catch {
          // Not ready yet (nothing written): nothing to flush.
        }
      }
    },
  };
}

function describeError(error: unknown): Record<string, unknown> {
  // The message and stack only: a `cause` from an SDK may carry request details we do not control.
  if (error instanceof Error) {
    return {
      code: (error as { code?: unknown }).code,
      message: error.message,
      stack: error.stack,
    };
  }
  return { message: String(error) };
}

// Byte counters of a keep-alive socket at the end of its previous request.
const SOCKET_MARKS = new WeakMap<Socket, { read: number; written: number }>();

/** Logs one JSON line per request: method, route, status, bytes, duration; no header, no query. */
export function installAccessLog(app: FastifyInstance, log: ServerLog): void {
  if (!log.logsAccess) return;
  app.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    const socket = request.raw.socket;
    const mark = SOCKET_MARKS.get(socket) ?? { read: 0, written: 0 };
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    SOCKET_MARKS.set(socket, { read, written });
    const f = facts(request);
    log.access({
      time: new Date().toISOString(),
      requestId: request.id,
      method: request.method,
      route: request.routeOptions.url ?? '(no route)',
      ...(f.artifactPath === undefined ? {} : { artifactPath: f.artifactPath }),
      status: reply.statusCode,
      bytesIn: read - mark.read,
      bytesOut: written - mark.written,
      durationMs: Math.round(reply.elapsedTime * 10) / 10,
      ...(f.user === undefined ? {} : { user: f.user }),
      ...(request.ip ? { remoteAddress: request.ip } : {}),
      ...(f.errorCode === undefined ? {} : { errorCode: f.errorCode }),
    });
    done();
  });
}
