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
import ssh2, { type ParsedKey } from 'ssh2';
import { type KnownHostEntry, knownHostsName, parseKnownHosts } from './known-hosts.js';
import { computeSshConfig } from './ssh-config.js';

export interface IdentityKey {
  /** Where it came from (a path, or 'privateKey option'), for messages. */
  source: string;
  key: ParsedKey;
}

/** How a connection checks the server's host key. */
export type HostKeyCheck =
  | { mode: 'off' }
  | { mode: 'pinned'; fingerprints: string[] }
  | { mode: 'known_hosts'; entries: KnownHostEntry[]; files: string[]; names: string[] };

/**
 * Everything needed to open a connection, resolved once per repository (`resolveSettings`): the
 * declared values (the pool's options, the transfer tuning), and what the URI and ~/.ssh/config
 * made of them.
 */
export type SftpSettings = Awaited<ReturnType<typeof resolveSettings>>;

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

/**
 * The client configuration (`sshConfig`, else `~/.ssh/config`) as OpenSSH computes it for `alias`
 * and the user the option or URI names: `first` gives a keyword's first word, `all` every
 * word of its values, as OpenSSH splits them (a quoted path with spaces is one word).
 */
function sshConfig({ values, sources }: SftpValues, alias: string) {
  let computed = new Map<string, string[]>();
  const user = sources.username === 'option' || sources.username === 'uri' ? values.username : undefined;
  if (values.sshConfig !== false) {
    const file = values.sshConfig ?? '~/.ssh/config';
    const path = expandPath(file, { host: alias, user: user ?? localUserName(), port: 22 });
    const text = readOptional(path, 'ssh config file');
    if (text === undefined && sources.sshConfig !== undefined) {
      throw ArtifactsError.invalidArgument(`ssh config file ${file} does not exist`);
    }
    if (text !== undefined)
      computed = computeSshConfig(text, path, { host: alias, user, localUser: localUserName() });
  }
  return {
    first: (key: string): string | undefined => computed.get(key)?.[0],
    all: (key: string) => computed.get(key) ?? [],
  };
}

/** An ssh_config yes/no: only a "no" word is false (`StrictHostKeyChecking ask` or `accept-new` is strict). */
const yesNo = (value: string | undefined) => (value === undefined ? undefined : booleanWord(value) !== false);

/** Files named in a list, `none` (in any case) left out. */
const named = (files: readonly string[]) => files.filter((file) => file.toLowerCase() !== 'none');

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

/**
 * The keys to offer: the privateKey option, then the files named (the option or variable, else
 * `IdentityFile`), else OpenSSH's default files that exist. `configured`: the config's IdentityFile.
 */
function loadKeys(
  values: SftpValues['values'],
  configured: string[],
  tokens: { host: string; user: string; port: number },
): IdentityKey[] {
  const { passphrase } = values;
  const keys: IdentityKey[] = [];
  if (values.privateKey !== undefined) {
    keys.push({
      source: 'privateKey option',
      key: parsePrivateKey(values.privateKey, passphrase, 'given in the privateKey option'),
    });
  }
  // An empty list, or 'none', says: no key files at all (only the agent, a password or privateKey).
  const explicit = values.identityFile && named(values.identityFile);
  const files = explicit ?? (named(configured).length > 0 ? named(configured) : undefined);
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

/** Resolves options, the URI, environment variables and ~/.ssh/config into connection settings. */
export async function resolveSettings(location: ArtifactUri, options: SftpOptions) {
  const alias = location.host;
  if (!alias) throw ArtifactsError.invalidArgument('an sftp:// URI needs a host');
  // `Host` lines are case-sensitive in OpenSSH, so they are tested against the host as typed in the
  // URI (`sftp://Build-Box/…`), which URI parsing lowercases.
  const typed = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#@[\]]+)/i.exec(location.uri)?.[1];
  const config = sshConfig(
    sftpSettings.resolve(options, { uri: { username: location.username } }),
    typed?.toLowerCase() === alias ? typed : alias,
  );
  const proxy = config.first('proxyjump') ?? config.first('proxycommand');
  if (proxy && proxy.toLowerCase() !== 'none') {
    throw ArtifactsError.unsupported(
      `~/.ssh/config routes ${alias} through ProxyJump/ProxyCommand, which @artifacts/sftp does not support; connecting directly instead would bypass it`,
    );
  }
  const host = config.first('hostname')?.replace(/%h/g, alias) ?? alias;
  const configPort = config.first('port');
  const port = location.port ?? (configPort ? Number(configPort) : 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw ArtifactsError.invalidArgument(`ssh config gives ${alias} the port ${JSON.stringify(configPort)}`);
  }
  // OpenSSH's time format: seconds, or numbers with units (`1m30s`; s, m, h, d, w).
  const seconds = (keyword: string) => {
    const value = config.first(keyword.toLowerCase());
    if (value === undefined) return undefined;
    if (!/^(?:\d+[smhdw]?)+$/i.test(value)) {
      throw ArtifactsError.invalidArgument(
        `ssh config gives ${alias} the ${keyword} ${JSON.stringify(value)}`,
      );
    }
    const unit: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
    const parts = [...value.matchAll(/(\d+)([smhdw]?)/gi)];
    return parts.reduce((ms, [, n, u]) => ms + Number(n) * unit[u!.toLowerCase()]! * 1000, 0);
  };
  const configuredAgent = config.first('identityagent');
  const { values, secrets } = sftpSettings.resolve(options, {
    uri: { username: location.username ?? config.first('user'), password: location.password },
    defaults: {
      username: localUserName(),
      // `IdentityAgent none` turns the agent off; `SSH_AUTH_SOCK` names the variable, as in OpenSSH.
      agent:
        configuredAgent?.toLowerCase() === 'none'
          ? false
          : (configuredAgent !== 'SSH_AUTH_SOCK' && configuredAgent) ||
            process.env.SSH_AUTH_SOCK ||
            undefined,
      strictHostKeyChecking: yesNo(config.first('stricthostkeychecking')),
      // OpenSSH reads `ConnectTimeout 0` as no timeout of its own (the system's TCP timeout): ours applies.
      connectTimeoutMs: seconds('ConnectTimeout') || undefined,
      keepaliveIntervalMs: seconds('ServerAliveInterval'),
    },
  });
  const username = values.username!;
  const tokens = { host, user: username, port };

  let agent: string | undefined;
  if (values.agent && yesNo(config.first('identitiesonly')) !== true) {
    agent =
      expandPath(values.agent.replace(/^\$SSH_AUTH_SOCK$/, process.env.SSH_AUTH_SOCK ?? ''), tokens) ||
      undefined;
  }

  let hostKey: HostKeyCheck = { mode: 'off' };
  const pins = values.hostFingerprint ?? [];
  if (values.strictHostKeyChecking && pins.length > 0) {
    hostKey = { mode: 'pinned', fingerprints: pins.map(normalizeFingerprint) };
  } else if (values.strictHostKeyChecking) {
    const configured = config.all('userknownhostsfile').concat(config.all('globalknownhostsfile'));
    const listed = values.knownHosts?.length ? values.knownHosts : configured;
    const files = named(listed.length > 0 ? listed : DEFAULT_KNOWN_HOSTS).map((file) =>
      expandPath(file, tokens),
    );
    // OpenSSH looks the host up under HostKeyAlias, else the real host name (after HostName).
    const names = [knownHostsName(config.first('hostkeyalias') ?? host, port)];
    const entries = files.flatMap((file) => {
      const text = readOptional(file, 'known_hosts file');
      return text === undefined ? [] : parseKnownHosts(text, file);
    });
    hostKey = { mode: 'known_hosts', entries, files, names };
  }

  return {
    ...values,
    /** The name the user gave (URI host or ssh_config alias). */
    alias,
    host,
    port,
    username,
    keys: loadKeys(values, config.all('identityfile'), tokens),
    /** The agent's socket, when one is used. */
    agent,
    hostKey,
    root: location.path || '/',
    /** Printable `sftp://user@host:port`, never with a password. */
    label: `sftp://${username}@${alias}${port === 22 ? '' : `:${port}`}`,
    secrets,
  };
}
