import { readFile } from 'node:fs/promises';
import { ArtifactsError, type ArtifactUri, envBoolean, envNumber, envString } from '@artifacts/core';
import type { FtpOptions, FtpTlsMode } from '../options.js';

/** Everything needed to open a connection, resolved once per repository. */
export interface FtpSettings {
  host: string;
  port: number;
  username: string;
  password: string;
  tls: FtpTlsMode;
  ca?: (string | Buffer)[];
  tlsVerify: boolean;
  root: string;
  maxConnections: number;
  socketTimeoutMs: number;
  idleTimeoutMs: number;
  /** Printable `ftp://user@host:port`, never with a password. */
  label: string;
  secrets: string[];
}

function integer(name: string, value: unknown, env: string, fallback: number, min: number): number {
  const chosen = value ?? envNumber(env, { integer: true, min });
  if (chosen === undefined) return fallback;
  if (typeof chosen !== 'number' || !Number.isInteger(chosen) || chosen < min) {
    throw ArtifactsError.invalidArgument(
      `ftp option ${name} must be an integer >= ${min}, got ${String(chosen)}`,
    );
  }
  return chosen;
}

function tlsMode(scheme: string, option: FtpOptions['tls']): FtpTlsMode {
  if (scheme === 'ftps') {
    if (option !== undefined && option !== 'implicit' && option !== true) {
      throw ArtifactsError.invalidArgument(
        `ftps:// URIs use implicit TLS; for explicit TLS (AUTH TLS) use ftp:// with tls: 'explicit'`,
      );
    }
    return 'implicit';
  }
  if (option === true) return 'explicit';
  if (option === false) return 'none';
  if (option !== undefined) {
    if (option !== 'none' && option !== 'explicit' && option !== 'implicit') {
      throw ArtifactsError.invalidArgument(
        `ftp option tls must be 'none', 'explicit' or 'implicit', got ${String(option)}`,
      );
    }
    return option;
  }
  const env = envString('ARTIFACTS_FTP_TLS')?.toLowerCase();
  if (env === undefined) return 'none';
  if (env === 'explicit' || env === 'implicit' || env === 'none') return env;
  return envBoolean('ARTIFACTS_FTP_TLS') ? 'explicit' : 'none';
}

async function loadCa(options: FtpOptions): Promise<(string | Buffer)[] | undefined> {
  if (options.ca !== undefined) {
    const list = Array.isArray(options.ca) ? options.ca : [options.ca];
    return list.map((item: string | Uint8Array) => (typeof item === 'string' ? item : Buffer.from(item)));
  }
  const file = options.caFile ?? envString('ARTIFACTS_FTP_CA_FILE');
  if (file === undefined) return undefined;
  try {
    return [await readFile(file, 'utf8')];
  } catch (error) {
    throw ArtifactsError.invalidArgument(`cannot read the FTP CA file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Resolves options, environment variables and defaults into connection settings. */
export async function resolveSettings(location: ArtifactUri, options: FtpOptions): Promise<FtpSettings> {
  const host = location.host;
  if (!host) throw ArtifactsError.invalidArgument(`an ${location.scheme}:// URI needs a host`);
  const tls = tlsMode(location.scheme, options.tls);
  const port = location.port ?? (tls === 'implicit' ? 990 : 21);
  const username = options.username ?? location.username ?? envString('ARTIFACTS_FTP_USER') ?? 'anonymous';
  const password =
    options.password ??
    location.password ??
    envString('ARTIFACTS_FTP_PASSWORD') ??
    (username === 'anonymous' || username === 'ftp' ? 'anonymous@' : '');
  const ca = tls === 'none' ? undefined : await loadCa(options);
  const tlsVerify = options.tlsVerify ?? envBoolean('ARTIFACTS_FTP_TLS_VERIFY') ?? true;
  const scheme = tls === 'implicit' ? 'ftps' : 'ftp';
  const defaultPort = tls === 'implicit' ? 990 : 21;
  return {
    host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    port,
    username,
    password,
    tls,
    ...(ca ? { ca } : {}),
    tlsVerify,
    root: location.path || '/',
    maxConnections: integer('maxConnections', options.maxConnections, 'ARTIFACTS_FTP_MAX_CONNECTIONS', 4, 1),
    socketTimeoutMs: integer(
      'socketTimeoutMs',
      options.socketTimeoutMs,
      'ARTIFACTS_FTP_SOCKET_TIMEOUT_MS',
      30000,
      0,
    ),
    idleTimeoutMs: integer('idleTimeoutMs', options.idleTimeoutMs, 'ARTIFACTS_FTP_IDLE_TIMEOUT_MS', 60000, 0),
    label: `${scheme}://${username}@${host}${port === defaultPort ? '' : `:${port}`}`,
    secrets: password && password !== 'anonymous@' ? [password] : [],
  };
}
