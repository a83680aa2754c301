import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { matchPatternList } from './patterns.js';

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** Comma-separated host patterns, or a hashed `|1|salt|hash` name. */
  hosts: string;
  keyType: string;
  /** The public key blob (base64-decoded). */
  key: Buffer;
  /** `@revoked` lines name keys that must be refused; `@cert-authority` lines are not used here. */
  marker?: 'revoked' | 'cert-authority';
  /** `file:line`, for error messages. */
  source: string;
}

/** Parses known_hosts text (OpenSSH format); malformed lines are skipped as OpenSSH does. */
export function parseKnownHosts(text: string, file = 'known_hosts'): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const marker = fields[0]?.startsWith('@') ? fields.shift()?.slice(1) : undefined;
    if (marker !== undefined && marker !== 'revoked' && marker !== 'cert-authority') return;
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) return;
    const key = Buffer.from(base64, 'base64');
    // The blob starts with its own key type: a line whose two disagree is corrupt.
    if (blobKeyType(key) !== keyType) return;
    entries.push({ hosts, keyType, key, ...(marker ? { marker } : {}), source: `${file}:${index + 1}` });
  });
  return entries;
}

/** The key type named inside an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, …). */
export function blobKeyType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  return blob.toString('latin1', 4, 4 + length);
}

/** OpenSSH's fingerprint of a public key blob: `SHA256:` + unpadded base64 of its SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The name known_hosts uses for a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return port === 22 ? bare : `[${bare}]:${port}`;
}

function hashedMatches(hashed: string, names: readonly string[]): boolean {
  // |1|base64(salt)|base64(HMAC-SHA1(salt, name))
  const parts = hashed.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const expected = Buffer.from(parts[3]!, 'base64');
  if (expected.length !== 20) return false;
  return names.some((name) => timingSafeEqual(createHmac('sha1', salt).update(name).digest(), expected));
}

/**
 * Whether a known_hosts host field names this host. `names` are the forms to try (the name the
 * user typed and, when it differs, the address it resolved to — as OpenSSH's CheckHostIP does not
 * apply here, only names). Negated patterns (`!host`) win over positive ones.
 */
export function hostMatches(field: string, names: readonly string[]): boolean {
  if (field.startsWith('|')) return hashedMatches(field, names);
  // OpenSSH lowercases both the name and the patterns (match_hostname).
  const results = names.map((name) => matchPatternList(name, field, true));
  return results.includes(1) && !results.includes(-1);
}

export type HostKeyVerdict =
  | { status: 'trusted'; source: string }
  | { status: 'revoked'; source: string }
  | { status: 'changed'; sources: string[] }
  | { status: 'unknown' };

/**
 * Checks a presented host key against known_hosts entries, as OpenSSH does: a matching line trusts
 * it, a revoked one refuses it; lines for the host with other keys of the same type mean the key
 * changed. Lines for the host with keys of other types only leave the key unknown.
 */
export function verifyHostKey(
  entries: readonly KnownHostEntry[],
  names: readonly string[],
  presented: Buffer,
): HostKeyVerdict {
  const type = blobKeyType(presented);
  const forHost = entries.filter(
    (entry) => entry.marker !== 'cert-authority' && hostMatches(entry.hosts, names),
  );
  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key.equals(presented));
  if (revoked) return { status: 'revoked', source: revoked.source };
  const trusted = forHost.find((entry) => entry.marker === undefined && entry.key.equals(presented));
  if (trusted) return { status: 'trusted', source: trusted.source };
  const sameType = forHost.filter((entry) => entry.marker === undefined && entry.keyType === type);
  if (sameType.length > 0) {
    return { status: 'changed', sources: sameType.map((entry) => entry.source) };
  }
  return { status: 'unknown' };
}

/** Key types known_hosts holds for this host, so that key exchange can ask the server for those. */
export function knownKeyTypes(entries: readonly KnownHostEntry[], names: readonly string[]): string[] {
  const types: string[] = [];
  for (const entry of entries) {
    if (entry.marker !== undefined || !hostMatches(entry.hosts, names)) continue;
    if (!types.includes(entry.keyType)) types.push(entry.keyType);
  }
  return types;
}

/** SSH host-key algorithms that present a key of each known_hosts key type. */
export function algorithmsForKeyTypes(types: readonly string[]): string[] {
  const out: string[] = [];
  for (const type of types) {
    if (type === 'ssh-rsa') out.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else if (type === 'ssh-ed25519' || type.startsWith('ecdsa-sha2-')) out.push(type);
  }
  return [...new Set(out)];
}
