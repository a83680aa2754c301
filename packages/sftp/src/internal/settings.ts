import {
  ArtifactsError,
  type ArtifactUri,
  booleanWord,
  connectionPoolSettings,
  defineSettings,
  expandHome,
  localUserName,
  type OptionsOf,
  pathOrNone,
  readSettingFile,
} from '@artifacts/core';
import SSHConfig from 'ssh-config';
import ssh2, { type ParsedKey } from 'ssh2';
import { type KnownHostEntry, knownHostsName, parseKnownHosts } from './known-hosts.js';

export interface IdentityKey {
  /** Where it came from (a path, or 'privateKey option'), for messages. */
  source: string;
  key: ParsedKey;
}

/** The declared settings a connection and a transfer use as resolved (the pool's, the transfer tuning). */
const TUNING = [
  'maxConnections',
  'operationsPerConnection',
  'requestsPerTransfer',
  'chunkSize',
  'readChunkSize',
  'connectTimeoutMs',
  'keepaliveIntervalMs',
  'idleTimeoutMs',
] as const;

/** Everything needed to open a connection, resolved once per repository. */
export interface SftpSettings extends Pick<SftpValues['values'], (typeof TUNING)[number]> {
  /** The name the user gave (URI host or ssh_config alias). */
  alias: string;
  host: string;
  port: number;
  username: string;
  password?: string;
  keys: IdentityKey[];
  agent?: string;
  hostKey:
    | { mode: 'off' }
    | { mode: 'pinned'; fingerprints: string[] }
    | { mode: 'known_hosts'; entries: KnownHostEntry[]; files: string[]; names: string[] };
  root: string;
  /** Printable `sftp://user@host:port`, never with a password. */
  label: string;
  secrets: string[];
}

const DEFAULT_IDENTITY_FILES = ['~/.ssh/id_rsa', '~/.ssh/id_ecdsa', '~/.ssh/id_ed25519'];
const DEFAULT_KNOWN_HOSTS = ['~/.ssh/known_hosts', '~/.ssh/known_hosts2', '/etc/ssh/ssh_known_hosts'];

/** Every option of the SFTP backend, declared once: README table, env vars, secrets, validation. */
export const sftpSettings = defineSettings('@artifacts/sftp', {
  username: {
    type: 'string',
    env: 'ARTIFACTS_SFTP_USER',
    defaultText: "the URI's user, else `User` of `~/.ssh/config`, else the variable, else the local user",
    help: 'login name; the option wins over the URI',
  },
  password: {
    type: 'string',
    env: 'ARTIFACTS_SFTP_PASSWORD',
    secret: true,
    defaultText: "the URI's password, else the variable",
    help: 'password for `password` and `keyboard-interactive` logins, scrubbed from every message',
  },
  privateKey: {
    type: 'custom',
    secret: true,
    parse: (value: string | Uint8Array): string | Buffer => {
      if (typeof value === 'string') return value;
      if (value instanceof Uint8Array) return Buffer.from(value);
      throw ArtifactsError.invalidArgument('option privateKey must be a string or bytes');
    },
    defaultText: 'none',
    help: "a private key's contents (OpenSSH, PEM or PuTTY format), offered before key files",
  },
  identityFile: {
    type: 'list',
    env: 'ARTIFACTS_SFTP_IDENTITY_FILE',
    defaultText:
      '`IdentityFile` of `~/.ssh/config`, else those of `~/.ssh/id_rsa`, `~/.ssh/id_ecdsa`, `~/.ssh/id_ed25519` that exist',
    help: 'key files to offer, in order (commas separate several in the variable); `[]` (or `none`) offers none. A named file must exist and be readable; default files that are encrypted without a passphrase are skipped',
  },
  passphrase: {
    type: 'string',
    env: 'ARTIFACTS_SFTP_KEY_PASSPHRASE',
    secret: true,
    defaultText: 'none',
    help: 'passphrase of encrypted keys; a key that it does not decrypt is an `unauthenticated` error naming the file (never the passphrase)',
  },
  agent: {
    type: 'custom',
    env: 'ARTIFACTS_SFTP_AGENT',
    parse: pathOrNone,
    defaultText: '`IdentityAgent` of `~/.ssh/config`, else `SSH_AUTH_SOCK`',
    help: 'SSH agent socket; `false` (or `none`) uses no agent. Not used with `IdentitiesOnly yes`',
  },
  sshConfig: {
    type: 'custom',
    env: 'ARTIFACTS_SFTP_CONFIG',
    parse: pathOrNone,
    defaultText: '`~/.ssh/config`',
    help: 'OpenSSH client configuration; `false` (or `none`) reads none',
  },
  knownHosts: {
    type: 'list',
    env: 'ARTIFACTS_SFTP_KNOWN_HOSTS',
    defaultText:
      '`UserKnownHostsFile`/`GlobalKnownHostsFile` of `~/.ssh/config`, else `~/.ssh/known_hosts`, `~/.ssh/known_hosts2`, `/etc/ssh/ssh_known_hosts`',
    help: 'files of trusted host keys, commas separating several in the variable (OpenSSH format: hashed `|1|…` names, `[host]:port`, patterns, `!negation`, `@revoked`)',
  },
  hostFingerprint: {
    type: 'list',
    env: 'ARTIFACTS_SFTP_HOST_FINGERPRINT',
    defaultText: 'none',
    help: 'trust only host keys with these SHA256 fingerprints (`SHA256:…`, as `ssh-keygen -lf` prints; commas separate several in the variable); known_hosts is then not read',
  },
  strictHostKeyChecking: {
    type: 'boolean',
    env: 'ARTIFACTS_SFTP_STRICT_HOST_KEY_CHECKING',
    default: true,
    defaultText: '`true` (`false` only if `~/.ssh/config` says `StrictHostKeyChecking no`)',
    help: '`false` accepts any host key: an attacker in the middle gets your password and your artifacts. Explicit opt-out only',
  },
  ...connectionPoolSettings('ARTIFACTS_SFTP', { connections: 'SSH connections' }),
  operationsPerConnection: {
    type: 'integer',
    env: 'ARTIFACTS_SFTP_OPERATIONS_PER_CONNECTION',
    min: 1,
    default: 8,
    help: 'operations one connection carries at once (SFTP multiplexes requests); beyond `maxConnections × operationsPerConnection`, operations wait',
  },
  requestsPerTransfer: {
    type: 'integer',
    env: 'ARTIFACTS_SFTP_REQUESTS_PER_TRANSFER',
    min: 1,
    default: 16,
    help: "SFTP WRITE requests in flight per upload; a download keeps as many bytes in flight (`requestsPerTransfer × chunkSize`, 2 MiB: ssh2's channel window) in READs of `readChunkSize`",
  },
  chunkSize: {
    type: 'integer',
    env: 'ARTIFACTS_SFTP_CHUNK_SIZE',
    min: 512,
    default: 131072,
    help: 'bytes per WRITE request, capped by what the server announces (`limits@openssh.com`; OpenSSH: 255 KiB); a transfer holds at most `requestsPerTransfer × chunkSize` (2 MiB) of data',
  },
  readChunkSize: {
    type: 'integer',
    env: 'ARTIFACTS_SFTP_READ_CHUNK_SIZE',
    min: 512,
    default: 261120,
    help: 'bytes per READ request, capped by what the server announces (OpenSSH: 255 KiB, the default): half the READ requests of 128 KiB for the same bytes in flight',
  },
  connectTimeoutMs: {
    type: 'integer',
    env: 'ARTIFACTS_SFTP_CONNECT_TIMEOUT_MS',
    min: 1,
    default: 20000,
    defaultText: '`ConnectTimeout` of `~/.ssh/config`, else 20000',
    help: 'time allowed for TCP connect, key exchange and authentication',
  },
  keepaliveIntervalMs: {
    type: 'integer',
    env: 'ARTIFACTS_SFTP_KEEPALIVE_INTERVAL_MS',
    min: 0,
    default: 15000,
    defaultText: '`ServerAliveInterval` of `~/.ssh/config`, else 15000',
    help: 'SSH keepalives; a connection that misses 3 is dropped (and the operation retried by core); `0` = none',
  },
});

type SftpValues = ReturnType<typeof sftpSettings.resolve>;

/** Options of `openRepository('sftp://…', options)`, as the declaration gives them. */
export type SftpOptions = OptionsOf<typeof sftpSettings.specs>;

/** Expands `~` and the ssh_config tokens OpenSSH allows in file names (%d %u %h %r %p %%). */
export function expandPath(path: string, tokens: { host: string; user: string; port: number }): string {
  const values: Record<string, string> = {
    d: expandHome('~'),
    u: localUserName(),
    h: tokens.host,
    r: tokens.user,
    p: String(tokens.port),
    '%': '%',
  };
  return expandHome(path.replace(/%([%dhurp])/g, (_, token: string) => values[token]!));
}

/** A file OpenSSH would read if present (a default key, known_hosts, the client configuration). */
const readOptional = (path: string, what: string) => readSettingFile(path, what, { optional: true });

type ComputedConfig = Record<string, string | string[]>;

async function loadSshConfig(
  { values, sources }: SftpValues,
  alias: string,
  user: string | undefined,
): Promise<ComputedConfig> {
  if (values.sshConfig === false) return {};
  const file = values.sshConfig ?? '~/.ssh/config';
  const text = readOptional(
    expandPath(file, { host: alias, user: user ?? localUserName(), port: 22 }),
    'ssh config file',
  );
  if (text === undefined) {
    if (sources.sshConfig !== undefined) {
      throw ArtifactsError.invalidArgument(`ssh config file ${file} does not exist`);
    }
    return {};
  }
  // Match exec would run a shell command from inside a storage library: never.
  const computeOptions = { ignoreCase: true, matchExec: false };
  const parsed = SSHConfig.parse(text);
  return user
    ? parsed.compute({ Host: alias, User: user }, computeOptions)
    : parsed.compute(alias, computeOptions);
}

function first(config: ComputedConfig, key: string): string | undefined {
  const value = config[key];
  if (Array.isArray(value)) return value[0];
  return value;
}

function all(config: ComputedConfig, key: string): string[] {
  const value = config[key];
  if (value === undefined) return [];
  const values = Array.isArray(value) ? value : [value];
  // UserKnownHostsFile takes several space-separated names on one line.
  return values.flatMap((v) => v.split(/\s+/)).filter(Boolean);
}

/** An ssh_config yes/no: only a "no" word is false (`StrictHostKeyChecking ask` or `accept-new` is strict). */
const yesNo = (value: string | undefined) => (value === undefined ? undefined : booleanWord(value) !== false);

function parsePrivateKey(data: string | Buffer, passphrase: string | undefined, source: string): ParsedKey {
  const parsed = ssh2.utils.parseKey(data, passphrase);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase|bad decrypt/i.test(parsed.message);
    throw new ArtifactsError(
      encrypted ? 'unauthenticated' : 'invalid_argument',
      encrypted
        ? `the private key ${source} is encrypted and ${passphrase ? 'the passphrase given does not decrypt it' : 'no passphrase was given'} (set the passphrase option or ARTIFACTS_SFTP_KEY_PASSPHRASE)`
        : `the private key ${source} cannot be parsed: ${parsed.message}`,
    );
  }
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key.getPrivatePEM() === null) {
    throw ArtifactsError.invalidArgument(`${source} holds no private key`);
  }
  return key;
}

async function loadKeys(
  values: SftpValues['values'],
  config: ComputedConfig,
  tokens: { host: string; user: string; port: number },
): Promise<IdentityKey[]> {
  const { passphrase } = values;
  const keys: IdentityKey[] = [];
  if (values.privateKey !== undefined) {
    keys.push({
      source: 'privateKey option',
      key: parsePrivateKey(values.privateKey, passphrase, 'given in the privateKey option'),
    });
  }
  // An empty list, or 'none', says: no key files at all (only the agent, a password or privateKey).
  const explicit = values.identityFile?.filter((file) => file.toLowerCase() !== 'none');
  const configured = all(config, 'identityfile').filter((file) => file.toLowerCase() !== 'none');
  const files = explicit ?? (configured.length > 0 ? configured : undefined);
  for (const file of files ?? DEFAULT_IDENTITY_FILES) {
    const path = expandPath(file, tokens);
    const text = readOptional(path, 'identity file');
    if (text === undefined) {
      // Files the user named must exist; OpenSSH's default names are only tried when present.
      if (explicit) throw ArtifactsError.invalidArgument(`identity file ${path} does not exist`);
      continue;
    }
    try {
      keys.push({ source: path, key: parsePrivateKey(text, passphrase, path) });
    } catch (error) {
      // An unusable default key is skipped as OpenSSH would skip it without a terminal to prompt on.
      if (files) throw error;
    }
  }
  return keys;
}

function normalizeFingerprint(value: string): string {
  const trimmed = value.trim();
  const body = trimmed.toUpperCase().startsWith('SHA256:') ? trimmed.slice(7) : trimmed;
  if (!/^[A-Za-z0-9+/]{43}=?$/.test(body)) {
    throw ArtifactsError.invalidArgument(
      `host fingerprint ${JSON.stringify(value)} is not a SHA256 fingerprint (SHA256:<43 base64 characters>, as ssh-keygen -lf prints)`,
    );
  }
  return `SHA256:${body.replace(/=$/, '')}`;
}

function nonEmpty(list: string[] | undefined): string[] | undefined {
  return list && list.length > 0 ? list : undefined;
}

/** Resolves options, the URI, environment variables and ~/.ssh/config into connection settings. */
export async function resolveSettings(location: ArtifactUri, options: SftpOptions): Promise<SftpSettings> {
  const alias = location.host;
  if (!alias) throw ArtifactsError.invalidArgument('an sftp:// URI needs a host');
  const early = sftpSettings.resolve(options, { uri: { username: location.username } });
  const config = await loadSshConfig(
    early,
    alias,
    early.sources.username === 'option' || early.sources.username === 'uri'
      ? early.values.username
      : undefined,
  );
  const proxy = first(config, 'proxyjump') ?? first(config, 'proxycommand');
  if (proxy && proxy.toLowerCase() !== 'none') {
    throw ArtifactsError.unsupported(
      `~/.ssh/config routes ${alias} through ProxyJump/ProxyCommand, which @artifacts/sftp does not support; connecting directly instead would bypass it`,
    );
  }
  const host = first(config, 'hostname')?.replace(/%h/g, alias) ?? alias;
  const configPort = first(config, 'port');
  const port = location.port ?? (configPort ? Number(configPort) : 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw ArtifactsError.invalidArgument(`ssh config gives ${alias} the port ${JSON.stringify(configPort)}`);
  }
  const seconds = (key: string) => {
    const value = first(config, key);
    return value ? Number(value) * 1000 : undefined;
  };
  const configuredAgent = first(config, 'identityagent');
  const { values, secrets } = sftpSettings.resolve(options, {
    uri: { username: location.username ?? first(config, 'user'), password: location.password },
    defaults: {
      username: localUserName(),
      agent:
        (configuredAgent && configuredAgent !== 'SSH_AUTH_SOCK' ? configuredAgent : undefined) ??
        (process.env.SSH_AUTH_SOCK || undefined),
      strictHostKeyChecking: yesNo(first(config, 'stricthostkeychecking')),
      connectTimeoutMs: seconds('connecttimeout'),
      keepaliveIntervalMs: seconds('serveraliveinterval'),
    },
  });
  const username = values.username!;
  const tokens = { host, user: username, port };
  const keys = await loadKeys(values, config, tokens);

  let agent: string | undefined;
  if (values.agent && yesNo(first(config, 'identitiesonly')) !== true) {
    agent = expandPath(values.agent.replace(/^\$SSH_AUTH_SOCK$/, process.env.SSH_AUTH_SOCK ?? ''), tokens);
    if (agent === '') agent = undefined;
  }

  let hostKey: SftpSettings['hostKey'];
  const pins = nonEmpty(values.hostFingerprint);
  if (!values.strictHostKeyChecking) hostKey = { mode: 'off' };
  else if (pins) hostKey = { mode: 'pinned', fingerprints: pins.map(normalizeFingerprint) };
  else {
    const configured = all(config, 'userknownhostsfile').concat(all(config, 'globalknownhostsfile'));
    const files = (nonEmpty(values.knownHosts) ?? (configured.length > 0 ? configured : DEFAULT_KNOWN_HOSTS))
      .filter((file) => file.toLowerCase() !== 'none')
      .map((file) => expandPath(file, tokens));
    // OpenSSH looks the host up under HostKeyAlias, else the real host name (after HostName).
    const lookup = first(config, 'hostkeyalias') ?? host;
    hostKey = {
      mode: 'known_hosts',
      entries: files.flatMap((file) => {
        const text = readOptional(file, 'known_hosts file');
        return text === undefined ? [] : parseKnownHosts(text, file);
      }),
      files,
      names: [knownHostsName(lookup, port)],
    };
  }

  return {
    alias,
    host,
    port,
    username,
    ...(values.password === undefined ? {} : { password: values.password }),
    keys,
    ...(agent ? { agent } : {}),
    hostKey,
    root: location.path || '/',
    ...(Object.fromEntries(TUNING.map((name) => [name, values[name]])) as Pick<
      typeof values,
      (typeof TUNING)[number]
    >),
    label: `sftp://${username}@${alias}${port === 22 ? '' : `:${port}`}`,
    secrets,
  };
}
