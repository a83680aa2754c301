import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The region the AWS SDK's chain reads from the shared files, read without loading the SDK: the
 * profile (the option, else `AWS_PROFILE`, else `default`) from `AWS_CONFIG_FILE` (else
 * `~/.aws/config`, where a profile is `[profile name]` and the default `[default]`) and
 * `AWS_SHARED_CREDENTIALS_FILE` (else `~/.aws/credentials`, `[name]`), which the SDK's region
 * provider prefers. A missing or unreadable file counts as empty, as it does for the SDK.
 */
export function sharedConfigRegion(
  profile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const name = profile || env.AWS_PROFILE || 'default';
  const home = env.HOME || env.USERPROFILE || homedir();
  const file = (variable: string, fallback: string) => {
    const path = env[variable] || join(home, '.aws', fallback);
    return path.startsWith('~/') ? join(home, path.slice(2)) : path;
  };
  const config = sections(file('AWS_CONFIG_FILE', 'config'));
  // In the config file a profile's section is `[profile name]`; `[default]` needs no prefix (and
  // `[profile default]`, if both are there, wins as it does in the SDK).
  const fromConfig =
    config.get(`profile.${name}`) ?? (name === 'default' ? config.get('default') : undefined);
  const fromCredentials = sections(file('AWS_SHARED_CREDENTIALS_FILE', 'credentials')).get(name);
  // The SDK's region provider prefers the credentials file (`NODE_REGION_CONFIG_FILE_OPTIONS`).
  return fromCredentials?.get('region') ?? fromConfig?.get('region');
}

/**
 * The SDK's INI reading (`@smithy/shared-ini-file-loader`'s parseIni): `[section]` lines, with
 * `[profile x]` as `profile.x`; `key = value` lines; comments from `#` or `;` at the start of a line
 * or after a space; a key with an empty value opens sub-keys (indented lines), which are not top-level
 * keys.
 */
function sections(path: string): Map<string, Map<string, string>> {
  const map = new Map<string, Map<string, string>>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return map;
  }
  let section: Map<string, string> | undefined;
  let sub: string | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = (raw.split(/(?:^|\s)[;#]/)[0] ?? '').trim();
    if (line.startsWith('[') && line.endsWith(']')) {
      sub = undefined;
      const title = line.slice(1, -1);
      const prefixed = /^([\w-]+)\s(["'])?([\w\-@+.%:/]+)\2$/.exec(title);
      const key = prefixed
        ? ['profile', 'sso-session', 'services'].includes(prefixed[1]!)
          ? `${prefixed[1]}.${prefixed[3]}`
          : undefined
        : title;
      section = undefined;
      if (key !== undefined) {
        section = map.get(key) ?? new Map<string, string>();
        map.set(key, section);
      }
      continue;
    }
    if (!section) continue;
    const equals = line.indexOf('=');
    if (equals <= 0) continue;
    const name = line.slice(0, equals).trim();
    const value = line.slice(equals + 1).trim();
    if (value === '') {
      sub = name;
      continue;
    }
    if (sub !== undefined && raw.trimStart() === raw) sub = undefined;
    section.set(sub === undefined ? name : `${sub}.${name}`, value);
  }
  return map;
}
