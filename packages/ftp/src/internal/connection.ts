import type { Socket } from 'node:net';
import type { ConnectionFactory, ConnectRefusal, ConnectTarget } from '@artifacts/core';
import { ArtifactsError, ConnectionLife, connectError, connectionErrorTest } from '@artifacts/core';
import { Client, FTPError } from 'basic-ftp';
import type { FtpSettings } from './settings.js';

/** One logged-in FTP control connection. */
export interface FtpConnection {
  client: Client;
  /** The server has MLST/MLSD (RFC 3659): exact types and sizes without parsing LIST output. */
  mlst: boolean;
  /** Ends when the control connection closes, or when a driver drops it. */
  life: ConnectionLife;
}

const CONNECTION_MESSAGES = /Client is closed|closed|FIN packet|Timeout|socket hang up|not connected/i;

/**
 * True when an error means the control connection is unusable: core's signs of a broken socket,
 * timeouts, and the replies that announce a closing (421) or a transfer cut off (426).
 */
export const isConnectionError = connectionErrorTest({
  codes: ['ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END'],
  match: (error) =>
    error instanceof FTPError
      ? error.code === 421 || error.code === 426
      : CONNECTION_MESSAGES.test(String((error as { message?: unknown }).message)),
});

/**
 * basic-ftp records the caller's stack for every command it sends (`new Error().stack`, read only
 * to name that caller should a second command be started while one runs, which this package never
 * does): a formatted stack trace per command, four commands per uploaded file. Commands are started
 * with stack traces off; a failure's own error (made later, when the reply arrives) keeps its stack.
 */
export function withoutTaskStacks(client: Client): void {
  const ftp = client.ftp;
  const handle = ftp.handle.bind(ftp);
  ftp.handle = (command, responseHandler) => {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return handle(command, responseHandler);
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
}

/** `FtpConnectionFactory.refusedMore`: the failure of a connect (as `create` throws it). */
export function refusedMore(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && typeof current === 'object' && current !== null; depth++) {
    if (current instanceof FTPError)
      return current.code === 421 || (current.code === 530 && /too many|maximum/i.test(current.message));
    current = (current as { cause?: unknown }).cause;
  }
  return ArtifactsError.is(error) && error.code === 'timeout';
}

/** Opens, logs in and configures FTP connections for one repository. */
export class FtpConnectionFactory implements ConnectionFactory<FtpConnection> {
  readonly #target: ConnectTarget;

  constructor(private readonly settings: FtpSettings) {
    const { label, host, port, username, socketTimeoutMs } = settings;
    this.#target = {
      label,
      host,
      port,
      username,
      ...(socketTimeoutMs > 0 ? { timeoutMs: socketTimeoutMs } : {}),
      caHint: 'give its CA with the ca or caFile option or ARTIFACTS_FTP_CA_FILE',
    };
  }

  async create(signal?: AbortSignal): Promise<FtpConnection> {
    const s = this.settings;
    const client = new Client(s.socketTimeoutMs);
    withoutTaskStacks(client);
    const onAbort = () => client.close();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await client.access({
        host: s.host,
        port: s.port,
        user: s.username,
        password: s.password,
        secure: s.tls === 'none' ? false : s.tls === 'explicit' ? true : 'implicit',
        secureOptions: {
          rejectUnauthorized: s.tlsVerify,
          ...(s.ca ? { ca: s.ca } : {}),
        },
      });
    } catch (error) {
      client.close();
      signal?.throwIfAborted();
      throw connectError(this.#target, error, this.#refusal(error));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
    const mlst = client.availableListCommands[0] === 'MLSD';
    // Only MLSD when the server has it: basic-ftp would otherwise retry a failed MLSD (a missing
    // directory) with LIST variants, opening a data connection for each.
    if (mlst) client.availableListCommands = ['MLSD'];
    const connection: FtpConnection = { client, mlst, life: new ConnectionLife() };
    client.ftp.socket.once('close', connection.life.die);
    if (client.closed) connection.life.die();
    return connection;
  }

  /** The server's own no: a login it refused, AUTH TLS it does not speak, any other reply. */
  #refusal(error: unknown): ConnectRefusal | undefined {
    if (!(error instanceof FTPError)) return undefined;
    if (error.code === 530 || error.code === 430) return { code: 'unauthenticated', refused: 'the login' };
    if (this.settings.tls === 'explicit' && /AUTH|TLS|SSL/i.test(error.message))
      return { code: 'unsupported', refused: 'AUTH TLS' };
    return { code: 'unavailable', refused: 'the connection' };
  }

  destroy(connection: FtpConnection): void {
    connection.client.close();
  }

  life(connection: FtpConnection): ConnectionLife {
    return connection.life;
  }

  readonly isConnectionError = isConnectionError;

  /**
   * The server takes no more sessions now: a `421` greeting (pure-ftpd: `421 16 users (the maximum)
   * are already logged in`; vsftpd, ProFTPD and FileZilla Server answer 421 too), ProFTPD's `530 …
   * maximum number of clients`, or a connect left unanswered until the timeout (pure-ftpd listens
   * with a backlog of 5 and accepts one session at a time). With other connections open, core's pool
   * goes on with those.
   */
  readonly refusedMore = refusedMore;

  /** A reply on an idle control connection is stray (or the server's goodbye): core closes it. */
  readonly quietWhenIdle = true;

  socket(connection: FtpConnection): Socket | undefined {
    return connection.client.closed ? undefined : connection.client.ftp.socket;
  }
}
