import { readFileSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { ArtifactsError } from './errors.js';

/**
 * `~` and `~/…` as the home directory, as a shell would; any other path as given. `home`: the home
 * directory when it is not this process's (an environment given as an argument).
 */
export function expandHome(path: string, home = homedir()): string {
  if (path === '~') return home;
  return path.startsWith('~/') ? `${home}${path.slice(1)}` : path;
}

/** The name of the user running this process (`USER`/`LOGNAME` where the system has no entry for it). */
export function localUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.LOGNAME ?? 'root';
  }
}

/**
 * A file a setting names (a CA bundle, a key, a client configuration), as UTF-8 text (`~` expanded).
 * `optional`: a missing file gives undefined (a default location that need not exist); otherwise it
 * is an error. Any other failure is `invalid_argument` naming `what` and the path.
 */
export function readSettingFile(path: string, what: string, options: { optional: true }): string | undefined;
export function readSettingFile(path: string, what: string, options?: { optional?: false }): string;
export function readSettingFile(
  path: string,
  what: string,
  options: { optional?: boolean } = {},
): string | undefined {
  const file = expandHome(path);
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (options.optional && (code === 'ENOENT' || code === 'ENOTDIR')) return undefined;
    throw ArtifactsError.invalidArgument(`cannot read the ${what} ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/**
 * The `parse` of a setting naming a file or directory that may be turned off: a path, or `false`
 * (the variable: `none`, or empty) for none.
 */
export function pathOrNone(value: string | false, from: string): string | false {
  if (value === false || value === '' || (typeof value === 'string' && value.toLowerCase() === 'none'))
    return false;
  if (typeof value === 'string') return value;
  throw ArtifactsError.invalidArgument(`${from} must be a path, or false for none`);
}
