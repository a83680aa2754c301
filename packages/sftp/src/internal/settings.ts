import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { ArtifactsError, type ArtifactUri, envBoolean, envNumber, envString } from '@artifacts/core';
import SSHConfig from 'ssh-config';
import ssh2, { type ParsedKey } from 'ssh2';
import type { SftpOptions } from '../options.js';
import { type KnownHostEntry, knownHostsName, parseKnownHosts } from './known-hosts.js';

export interface IdentityKey {
  /** Where it came from (a path, or 'privateKey option'), for messages. */
  source: string;
  key: ParsedKey;
}

/** Everything needed to open a connection, resolved once per repository. */
export interface SftpSettings {
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
  maxConnections: number;
  operationsPerConnection: number;
  requestsPerTransfer: number;
  chunkSize: number;
  connectTimeoutMs: number;
  keepaliveIntervalMs: number;
  idleTimeoutMs: number;
  /** Printable `sftp://user@host:port`, never with a password. */
  label: string;
  secrets: string[];
}

const DEFAULT_IDENTITY_FILES = ['~/.ssh/id_rsa', '~/.ssh/id_ecdsa', '~/.ssh/id_ed25519'];
const DEFAULT_KNOWN_HOSTS = ['~/.ssh/known_hosts', '~/.ssh/known_hosts2', '/etc/ssh/ssh_known_hosts'];

function list(value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = (typeof value === 'string' ? value.split(',') : [...value])
    .map((v) => v.trim())
    .filter(Boolean);
  return items.length > 0 ? items : undefined;
}

function positiveInteger(name: string, value: unknown, env: string, fallback: number, min = 1): number {
  const chosen = value ?? envNumber(env, { integer: true, min });
  if (chosen === undefined) return fallback;
  if (typeof chosen !== 'number' || !Number.isInteger(chosen) || chosen < min) {
    throw ArtifactsError.invalidArgument(
      `sftp option ${name} must be an integer >= ${min}, got ${String(chosen)}`,
    );
  }
  return chosen;
}

/** Expands `~` and the ssh_config tokens OpenSSH allows in file names (%d %u %h %r %p %%). */
export function expandPath(path: string, tokens: { host: string; user: string; port: number }): string {
  const home = homedir();
  const expanded = path.replace(/%([%dhurp])/g, (_, token: string) => {
    switch (token) {
      case 'd':
        return home;
      case 'u':
        return localUser();
      case 'h':
        return tokens.host;
      case 'r':
        return tokens.user;
      case 'p':
        return String(tokens.port);
      default:
        return '%';
    }
  });
  if (expanded === '~') return home;
  if (expanded.startsWith('~/')) return `${home}${expanded.slice(1)}`;
  return expanded;
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ArtifactsError('invalid_argument', `cannot read ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

type ComputedConfig = Record<string, string | string[]>;

async function loadSshConfig(
  options: SftpOptions,
  alias: string,
  user: string | undefined,
): Promise<ComputedConfig> {
  let file: string | undefined;
  if (options.sshConfig === false) return {};
  if (typeof options.sshConfig === 'string') file = options.sshConfig;
  else {
    const env = envString('ARTIFACTS_SFTP_CONFIG');
    if (env?.toLowerCase() === 'none') return {};
    file = env ?? '~/.ssh/config';
  }
  const text = await readOptional(expandPath(file, { host: alias, user: user ?? localUser(), port: 22 }));
  if (text === undefined) {
    if (options.sshConfig || envString('ARTIFACTS_SFTP_CONFIG')) {
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

function yesNo(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  if (v === 'no' || v === 'off' || v === 'false') return false;
  return true;
}

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
  options: SftpOptions,
  config: ComputedConfig,
  tokens: { host: string; user: string; port: number },
  passphrase: string | undefined,
): Promise<IdentityKey[]> {
  const keys: IdentityKey[] = [];
  if (options.privateKey !== undefined) {
    const data =
      typeof options.privateKey === 'string' ? options.privateKey : Buffer.from(options.privateKey);
    keys.push({
      source: 'privateKey option',
      key: parsePrivateKey(data, passphrase, 'given in the privateKey option'),
    });
  }
  // An empty list, or 'none', says: no key files at all (only the agent, a password or privateKey).
  const named = (value: string | readonly string[] | undefined) =>
    value === undefined ? undefined : (list(value) ?? []).filter((file) => file.toLowerCase() !== 'none');
  const explicit = named(options.identityFile) ?? named(envString('ARTIFACTS_SFTP_IDENTITY_FILE'));
  const configured = all(config, 'identityfile').filter((file) => file.toLowerCase() !== 'none');
  const files = explicit ?? (configured.length > 0 ? configured : undefined);
  for (const file of files ?? DEFAULT_IDENTITY_FILES) {
    const path = expandPath(file, tokens);
    const text = await readOptional(path);
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

async function loadKnownHosts(files: string[]): Promise<KnownHostEntry[]> {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    const text = await readOptional(file);
    if (text !== undefined) entries.push(...parseKnownHosts(text, file));
  }
  return entries;
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

/** Resolves options, environment variables and ~/.ssh/config into connection settings. */
export async function resolveSettings(location: ArtifactUri, options: SftpOptions): Promise<SftpSettings> {
  const alias = location.host;
  if (!alias) throw ArtifactsError.invalidArgument('an sftp:// URI needs a host');
  const uriUser = options.username ?? location.username;
  const config = await loadSshConfig(options, alias, uriUser);
  if (first(config, 'proxyjump') || first(config, 'proxycommand')) {
    const proxy = first(config, 'proxyjump') ?? first(config, 'proxycommand');
    if (proxy && proxy.toLowerCase() !== 'none') {
      throw ArtifactsError.unsupported(
        `~/.ssh/config routes ${alias} through ProxyJump/ProxyCommand, which @artifacts/sftp does not support; connecting directly instead would bypass it`,
      );
    }
  }
  const host = first(config, 'hostname')?.replace(/%h/g, alias) ?? alias;
  const configPort = first(config, 'port');
  const port = location.port ?? (configPort ? Number(configPort) : 22);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw ArtifactsError.invalidArgument(`ssh config gives ${alias} the port ${JSON.stringify(configPort)}`);
  }
  const username = uriUser ?? first(config, 'user') ?? envString('ARTIFACTS_SFTP_USER') ?? localUser();
  const password = options.password ?? location.password ?? envString('ARTIFACTS_SFTP_PASSWORD');
  const passphrase = options.passphrase ?? envString('ARTIFACTS_SFTP_KEY_PASSPHRASE');
  const tokens = { host, user: username, port };
  const keys = await loadKeys(options, config, tokens, passphrase);

  let agent: string | undefined;
  if (options.agent !== false) {
    const configured = first(config, 'identityagent');
    const chosen =
      options.agent ??
      envString('ARTIFACTS_SFTP_AGENT') ??
      (configured && configured !== 'SSH_AUTH_SOCK' ? configured : undefined) ??
      envString('SSH_AUTH_SOCK');
    if (chosen && chosen.toLowerCase() !== 'none' && yesNo(first(config, 'identitiesonly')) !== true) {
      agent = expandPath(chosen.replace(/^\$SSH_AUTH_SOCK$/, process.env.SSH_AUTH_SOCK ?? ''), tokens);
      if (agent === '') agent = undefined;
    }
  }

  const strict =
    options.strictHostKeyChecking ??
    envBoolean('ARTIFACTS_SFTP_STRICT_HOST_KEY_CHECKING') ??
    yesNo(first(config, 'stricthostkeychecking')) ??
    true;
  let hostKey: SftpSettings['hostKey'];
  const pins = list(options.hostFingerprint) ?? list(envString('ARTIFACTS_SFTP_HOST_FINGERPRINT'));
  if (!strict) hostKey = { mode: 'off' };
  else if (pins) hostKey = { mode: 'pinned', fingerprints: pins.map(normalizeFingerprint) };
  else {
    const configured = all(config, 'userknownhostsfile').concat(all(config, 'globalknownhostsfile'));
    const files = (
      list(options.knownHosts) ??
      list(envString('ARTIFACTS_SFTP_KNOWN_HOSTS')) ??
      (configured.length > 0 ? configured : DEFAULT_KNOWN_HOSTS)
    )
      .filter((file) => file.toLowerCase() !== 'none')
      .map((file) => expandPath(file, tokens));
    // OpenSSH looks the host up under HostKeyAlias, else the real host name (after HostName).
    const lookup = first(config, 'hostkeyalias') ?? host;
    hostKey = {
      mode: 'known_hosts',
      entries: await loadKnownHosts(files),
      files,
      names: [knownHostsName(lookup, port)],
    };
  }

  const connectTimeoutSeconds = first(config, 'connecttimeout');
  const aliveSeconds = first(config, 'serveraliveinterval');
  const secrets = [password, passphrase].filter((s): s is string => typeof s === 'string' && s !== '');
  return {
    alias,
    host,
    port,
    username,
    ...(password === undefined ? {} : { password }),
    keys,
    ...(agent ? { agent } : {}),
    hostKey,
    root: location.path || '/',
    maxConnections: positiveInteger(
      'maxConnections',
      options.maxConnections,
      'ARTIFACTS_SFTP_MAX_CONNECTIONS',
      4,
    ),
    operationsPerConnection: positiveInteger(
      'operationsPerConnection',
      options.operationsPerConnection,
      'ARTIFACTS_SFTP_OPERATIONS_PER_CONNECTION',
      8,
    ),
    requestsPerTransfer: positiveInteger(
      'requestsPerTransfer',
      options.requestsPerTransfer,
      'ARTIFACTS_SFTP_REQUESTS_PER_TRANSFER',
      16,
    ),
    chunkSize: positiveInteger('chunkSize', options.chunkSize, 'ARTIFACTS_SFTP_CHUNK_SIZE', 131072, 512),
    connectTimeoutMs: positiveInteger(
      'connectTimeoutMs',
      options.connectTimeoutMs,
      'ARTIFACTS_SFTP_CONNECT_TIMEOUT_MS',
      connectTimeoutSeconds ? Number(connectTimeoutSeconds) * 1000 : 20000,
    ),
    keepaliveIntervalMs: positiveInteger(
      'keepaliveIntervalMs',
      options.keepaliveIntervalMs,
      'ARTIFACTS_SFTP_KEEPALIVE_INTERVAL_MS',
      aliveSeconds ? Number(aliveSeconds) * 1000 : 15000,
      0,
    ),
    idleTimeoutMs: positiveInteger(
      'idleTimeoutMs',
      options.idleTimeoutMs,
      'ARTIFACTS_SFTP_IDLE_TIMEOUT_MS',
      60000,
      0,
    ),
    label: `sftp://${username}@${alias}${port === 22 ? '' : `:${port}`}`,
    secrets,
  };
}
