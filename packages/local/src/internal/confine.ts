import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { ArtifactsError } from '@artifacts/core';

/** Symlink hops followed before giving up (Linux's own limit is 40). */
const MAX_LINKS = 40;

function errno(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

/** True when `path` is `root` or below it. */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path `path` designates, following every symbolic link along it, including links whose
 * target does not exist yet (the missing tail is appended as is). Unlike `realpath`, this also
 * works for paths that do not exist, which writes need.
 */
export async function resolveReal(path: string): Promise<string> {
  let current = path;
  const rest: string[] = [];
  for (let hops = 0; ; ) {
    try {
      const real = await realpath(current);
      return rest.length === 0 ? real : join(real, ...rest);
    } catch (error) {
      const code = errno(error);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
    // `current` does not resolve: either it is missing, or it is a dangling symbolic link.
    const info = await lstat(current).catch(() => undefined);
    if (info?.isSymbolicLink()) {
      if (++hops > MAX_LINKS)
        throw Object.assign(new Error(`too many symbolic links at ${path}`), { code: 'ELOOP' });
      const target = await readlink(current);
      current = isAbsolute(target) ? target : resolve(dirname(current), target);
      continue;
    }
    const parent = dirname(current);
    if (parent === current) return join(current, ...rest);
    rest.unshift(basename(current));
    current = parent;
  }
}

export function escapeError(key: string): ArtifactsError {
  return new ArtifactsError(
    'permission_denied',
    `artifact ${JSON.stringify(key)} resolves, through a symbolic link, outside the repository root; refused`,
    { context: { path: key } },
  );
}
