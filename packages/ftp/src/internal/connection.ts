import type { Socket } from 'node:net';
import type { ConnectionFactory, ConnectRefusal, ConnectTarget } from '@artifacts/core';
import { ConnectionLife, connectError, connectionErrorTest } from '@artifacts/core';
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

  /** A reply on an idle control connection is stray (or the server's goodbye): core closes it. */
  readonly quietWhenIdle = true;

  socket(connection: FtpConnection): Socket | undefined {
    return connection.client.closed ? undefined : connection.client.ftp.socket;
  }
}
