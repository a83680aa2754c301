import {
  ArtifactsError,
  type ArtifactUri,
  booleanWord,
  connectionPoolSettings,
  defineSettings,
  type OptionsOf,
} from '@artifacts/core';

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

const TLS_MODES = ['none', 'explicit', 'implicit'] as const;
/** How the FTP control and data connections are protected. */
export type FtpTlsMode = (typeof TLS_MODES)[number];

/** A TLS mode, or a boolean (true = explicit); the variable also takes the boolean words. */
function tlsMode(value: FtpTlsMode | boolean, from: string): FtpTlsMode {
  const text = typeof value === 'string' ? value.toLowerCase() : undefined;
  const mode = TLS_MODES.find((m) => m === text);
  if (mode && (from.startsWith('environment') || mode === value)) return mode;
  const flag =
    typeof value === 'boolean'
      ? value
      : text && from.startsWith('environment')
        ? booleanWord(text)
        : undefined;
  if (flag === undefined)
    throw ArtifactsError.invalidArgument(
      `${from} must be 'none', 'explicit' or 'implicit', got ${String(value)}`,
    );
  return flag ? 'explicit' : 'none';
}

function caList(value: string | Uint8Array | readonly (string | Uint8Array)[]): (string | Buffer)[] {
  const list = (Array.isArray(value) ? value : [value]) as unknown[];
  if (!list.every((item) => typeof item === 'string' || item instanceof Uint8Array))
    throw ArtifactsError.invalidArgument('option ca must be PEM text or bytes, or a list of them');
  return list.map((item) => (typeof item === 'string' ? item : Buffer.from(item as Uint8Array)));
}

/** Every option of the FTP backend, declared once: README table, env vars, secrets, validation. */
export const ftpSettings = defineSettings(
  '@artifacts/ftp',
  {
    username: {
      type: 'string',
      env: 'ARTIFACTS_FTP_USER',
      default: 'anonymous',
      defaultText: "the URI's user, else the variable, else `anonymous`",
      help: 'login name; the option wins over the URI',
    },
    password: {
      type: 'string',
      env: 'ARTIFACTS_FTP_PASSWORD',
      secret: true,
      defaultText: "the URI's password, else the variable, else `anonymous@` for anonymous logins",
      help: 'login password, scrubbed from every message',
    },
    tls: {
      type: 'custom',
      env: 'ARTIFACTS_FTP_TLS',
      parse: tlsMode,
      defaultText: '`implicit` for `ftps://`; `none` for `ftp://`',
      help: '`explicit` (AUTH TLS), `implicit`, or `none`; also a boolean (`true` = explicit). Control and data connections are both protected (`PROT P`)',
    },
    ca: {
      type: 'custom',
      parse: caList,
      defaultText: 'the contents of `caFile`',
      help: "trusted CA certificate(s), PEM, as a string, bytes, or a list; replaces Node's CA store",
    },
    caFile: {
      type: 'string',
      env: 'ARTIFACTS_FTP_CA_FILE',
      file: 'CA file',
      defaultText: "none (Node's CA store)",
      help: 'a PEM file of trusted CA certificates, for servers with a private or self-signed certificate; read at open; `ca` wins over it',
    },
    tlsVerify: {
      type: 'boolean',
      env: 'ARTIFACTS_FTP_TLS_VERIFY',
      default: true,
      help: '`false` accepts any certificate and host name: an attacker in the middle gets your password and your artifacts. Explicit opt-out only',
    },
    ...connectionPoolSettings('ARTIFACTS_FTP', {
      connections: 'control connections',
      note: 'Each carries one command or transfer at a time, so this is also the number of concurrent transfers',
    }),
    socketTimeoutMs: {
      type: 'integer',
      env: 'ARTIFACTS_FTP_SOCKET_TIMEOUT_MS',
      min: 0,
      default: 30000,
      help: 'a control or data connection silent this long fails the operation (`0` = never)',
    },
  },
  {
    // Certificates given in code win over a file naming them.
    alternatives: [{ names: ['ca', 'caFile'], sameLevel: 'first' }],
  },
);

/** Options of `openRepository('ftp://…' | 'ftps://…', options)`, as the declaration gives them. */
export type FtpOptions = OptionsOf<typeof ftpSettings.specs>;

/** Resolves options, the URI, environment variables and defaults into connection settings. */
export async function resolveSettings(location: ArtifactUri, options: FtpOptions): Promise<FtpSettings> {
  const host = location.host;
  if (!host) throw ArtifactsError.invalidArgument(`an ${location.scheme}:// URI needs a host`);
  const { values, secrets } = ftpSettings.resolve(options, {
    uri: { username: location.username, password: location.password },
  });
  if (
    location.scheme === 'ftps' &&
    options.tls !== undefined &&
    options.tls !== 'implicit' &&
    options.tls !== true
  ) {
    throw ArtifactsError.invalidArgument(
      `ftps:// URIs use implicit TLS; for explicit TLS (AUTH TLS) use ftp:// with tls: 'explicit'`,
    );
  }
  const tls = location.scheme === 'ftps' ? 'implicit' : (values.tls ?? 'none');
  const defaultPort = tls === 'implicit' ? 990 : 21;
  const port = location.port ?? defaultPort;
  const { username } = values;
  const password = values.password ?? (username === 'anonymous' || username === 'ftp' ? 'anonymous@' : '');
  const ca = tls === 'none' ? undefined : (values.ca ?? (values.caFile ? [values.caFile] : undefined));
  return {
    host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host,
    port,
    username,
    password,
    tls,
    ...(ca ? { ca } : {}),
    tlsVerify: values.tlsVerify,
    root: location.path || '/',
    maxConnections: values.maxConnections,
    socketTimeoutMs: values.socketTimeoutMs,
    idleTimeoutMs: values.idleTimeoutMs,
    label: `${tls === 'implicit' ? 'ftps' : 'ftp'}://${username}@${host}${port === defaultPort ? '' : `:${port}`}`,
    secrets,
  };
}
