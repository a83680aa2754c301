import type { ConnectionFactory } from '@artifacts/core';
import { ArtifactsError, connectionErrorTest } from '@artifacts/core';
import { Client, FTPError } from 'basic-ftp';
import type { FtpSettings } from './settings.js';

/** One logged-in FTP control connection. */
export interface FtpConnection {
  client: Client;
  /** The server has MLST/MLSD (RFC 3659): exact types and sizes without parsing LIST output. */
  mlst: boolean;
  dead: boolean;
  onDeath: Array<() => void>;
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

const CERTIFICATE_CODES =
  /^(?:DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(?:_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_UNTRUSTED|CERT_REJECTED|ERR_TLS_CERT_ALTNAME_INVALID|CERT_SIGNATURE_FAILURE|INVALID_CA)$/;

/** Opens, logs in and configures FTP connections for one repository. */
export class FtpConnectionFactory implements ConnectionFactory<FtpConnection> {
  constructor(private readonly settings: FtpSettings) {}

  async create(signal?: AbortSignal): Promise<FtpConnection> {
    const s = this.settings;
    const client = new Client(s.socketTimeoutMs);
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
      throw this.#connectError(error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
    const mlst = client.availableListCommands[0] === 'MLSD';
    // Only MLSD when the server has it: basic-ftp would otherwise retry a failed MLSD (a missing
    // directory) with LIST variants, opening a data connection for each.
    if (mlst) client.availableListCommands = ['MLSD'];
    const connection: FtpConnection = { client, mlst, dead: false, onDeath: [] };
    const die = () => {
      if (connection.dead) return;
      connection.dead = true;
      for (const callback of connection.onDeath.splice(0)) callback();
    };
    client.ftp.socket.once('close', die);
    return connection;
  }

  #connectError(error: unknown): ArtifactsError {
    const s = this.settings;
    const message = error instanceof Error ? error.message : String(error);
    const context = { host: s.host, port: s.port, user: s.username };
    if (error instanceof FTPError && (error.code === 530 || error.code === 430)) {
      return new ArtifactsError('unauthenticated', `${s.label} refused the login: ${message}`, {
        cause: error,
        context,
      });
    }
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && CERTIFICATE_CODES.test(code)) {
      return new ArtifactsError(
        'unauthenticated',
        `the TLS certificate of ${s.label} is not trusted (${code}: ${message}); give its CA with the ca or caFile option or ARTIFACTS_FTP_CA_FILE`,
        { cause: error, context: { ...context, reason: 'untrusted_certificate' } },
      );
    }
    if (error instanceof FTPError) {
      const tlsRefused = s.tls === 'explicit' && /AUTH|TLS|SSL/i.test(message);
      return new ArtifactsError(
        tlsRefused ? 'unsupported' : 'unavailable',
        tlsRefused
          ? `${s.label} does not accept AUTH TLS: ${message}`
          : `${s.label} refused the connection: ${message}`,
        { cause: error, context },
      );
    }
    if (/timeout/i.test(message)) {
      return new ArtifactsError('timeout', `connecting to ${s.label} timed out: ${message}`, {
        cause: error,
        context,
      });
    }
    return new ArtifactsError('unavailable', `cannot connect to ${s.label}: ${message}`, {
      cause: error,
      context,
    });
  }

  destroy(connection: FtpConnection): void {
    connection.dead = true;
    connection.client.close();
  }

  watch(connection: FtpConnection, onDeath: () => void): void {
    if (connection.dead || connection.client.closed) onDeath();
    else connection.onDeath.push(onDeath);
  }

  isConnectionError(error: unknown): boolean {
    return isConnectionError(error);
  }

  setActive(connection: FtpConnection, active: boolean): void {
    if (connection.client.closed) return;
    const socket = connection.client.ftp.socket;
    if (active) socket.ref();
    else socket.unref();
  }
}
