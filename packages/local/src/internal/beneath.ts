import { constants, existsSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { ArtifactsError } from '@artifacts/core';

/** Symlink hops followed before giving up (Linux's own limit is 40). */
const MAX_LINKS = 40;

/** Directories remembered (made by a `SharedDirs`'s writes, a driver's disks) before starting over. */
export const REMEMBERED = 10_000;

/**
 * Linux (a `/proc/self/fd` to walk through): every directory is held open and each path the kernel
 * resolves is `/proc/self/fd/<held>/<name>`, so a directory swapped for a link after its check is
 * never followed. Elsewhere the same walk runs on real paths (one `lstat` per component): a swap
 * between check and use is not caught there (see the README).
 */
export const HELD_DESCRIPTORS = process.platform === 'linux' && existsSync('/proc/self/fd');

const DIR_FLAGS = constants.O_RDONLY | (constants.O_DIRECTORY ?? 0) | (constants.O_NOFOLLOW ?? 0);
/** O_NONBLOCK: a FIFO planted at a key must not hang the open; it is refused as "not a file". */
export const READ_FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

export function errno(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

function fsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** True when `path` is `root` or below it. */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path `path` designates, following every link along it, even one whose target does not
 * exist yet (the missing tail appended as is): unlike `realpath`, for paths that writes will create.
 */
export async function resolveReal(path: string): Promise<string> {
  let current = path;
  const rest: string[] = [];
  for (let hops = 0; ; ) {
    try {
      const real = await realpath(current);
      return rest.length === 0 ? real : join(real, ...rest);
    } catch (error) {
      if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR') throw error;
    }
    // `current` does not resolve: either it is missing, or it is a dangling symbolic link.
    const info = await lstat(current).catch(() => undefined);
    if (info?.isSymbolicLink()) {
      if (++hops > MAX_LINKS) throw fsError('ELOOP', `too many symbolic links at ${path}`);
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

/**
 * A directory of the store that the operation holds. `path(name)` names an entry in it that the
 * kernel resolves from the held directory, never through a link at the directory's old place.
 */
export class Dir {
  private constructor(
    /** `/proc/self/fd/N` with held descriptors, else the directory's real path. */
    readonly location: string,
    private readonly handle: FileHandle | undefined,
    /** A shared directory's user lets go of it (SharedDirs) instead of closing it. */
    private readonly release?: () => Promise<void>,
  ) {}

  static async openRoot(root: string, create: boolean): Promise<Dir> {
    const openRoot = async () => {
      if (HELD_DESCRIPTORS)
        return Dir.#held(await open(root, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0)));
      if (!(await lstat(root)).isDirectory())
        throw fsError('ENOTDIR', 'the repository root is not a directory');
      return new Dir(root, undefined);
    };
    return openRoot().catch(async (error: unknown) => {
      if (!create || errno(error) !== 'ENOENT') throw error;
      await mkdir(root, { recursive: true });
      return openRoot();
    });
  }

  /**
   * The directory `root/parts…` in one open, when that path holds no link: the descriptor's name in
   * /proc must be exactly that path (else undefined: a link on the way, a rename, a mount; the walk
   * decides). The walk's result for the common case, in two system calls instead of two per component.
   */
  static async openDirect(root: string, parts: readonly string[]): Promise<Dir | undefined> {
    if (!HELD_DESCRIPTORS || parts.length === 0) return undefined;
    const path = (root.endsWith(sep) ? root : root + sep) + parts.join(sep);
    let handle: FileHandle;
    try {
      handle = await open(path, DIR_FLAGS);
    } catch {
      return undefined;
    }
    const real = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    if (real === path) return Dir.#held(handle);
    await handle.close();
    return undefined;
  }

  static #held(handle: FileHandle): Dir {
    return new Dir(`/proc/self/fd/${handle.fd}`, handle);
  }

  path(name: string): string {
    return this.location + sep + name;
  }

  /** The child directory `name`, never through a link: ELOOP for a link, ENOTDIR for a non-directory. */
  async child(name: string): Promise<Dir> {
    const path = this.path(name);
    if (!HELD_DESCRIPTORS) {
      const info = await lstat(path);
      if (info.isSymbolicLink()) throw fsError('ELOOP', 'a symbolic link');
      if (!info.isDirectory()) throw fsError('ENOTDIR', 'not a directory');
      return new Dir(path, undefined);
    }
    try {
      return Dir.#held(await open(path, DIR_FLAGS));
    } catch (error) {
      // O_DIRECTORY|O_NOFOLLOW answers ENOTDIR for a link as for a file: tell them apart.
      if (errno(error) === 'ENOTDIR' && (await lstat(path).catch(() => undefined))?.isSymbolicLink()) {
        throw fsError('ELOOP', 'a symbolic link');
      }
      throw error;
    }
  }

  /** Identity for loop detection (device and inode of the held directory). */
  async identity(): Promise<string> {
    const info = this.handle ? await this.handle.stat() : await lstat(this.location);
    return `${info.dev}:${info.ino}`;
  }

  async close(): Promise<void> {
    await (this.release ? this.release() : this.handle?.close());
  }

  /** This directory for one more user, whose `close` calls `release`. */
  share(release: () => Promise<void>): Dir {
    return new Dir(this.location, this.handle, release);
  }
}

/**
 * The directories of keys, each resolved once (in one step, else by the walk, creating what a write
 * needs) for the operations working in it at the same time, which pay one resolution between them.
 * Its descriptor is closed at the end of the turn of the event loop its last user ended in: held no
 * longer than one long operation would. A failed resolution is not kept. A directory a write made is
 * remembered (`created`): later writes into it need no link check at their names (`resolveBeneath`).
 */
export class SharedDirs {
  readonly #open = new Map<string, { at: Promise<Resolved>; users: number }>();
  readonly #made = new Set<string>();

  async open(root: string, parts: readonly string[], create: boolean): Promise<Resolved> {
    // A read's resolution never creates: it is not shared with a write's, which may.
    const key = `${create ? '+' : ''}${parts.join('/')}`;
    let entry = this.#open.get(key);
    if (!entry) {
      const at = Dir.openDirect(root, parts).then((dir) =>
        dir
          ? { dir, trail: [...parts], name: undefined }
          : // The one-step open just failed: the walk does not try it again.
            resolveBeneath(root, parts.join('/'), parts, { asDirectory: true, create, walk: true }),
      );
      entry = { at, users: 0 };
      this.#open.set(key, entry);
    }
    const held = entry;
    held.users++;
    let at: Resolved;
    try {
      at = await held.at;
    } catch (error) {
      held.users--;
      if (this.#open.get(key) === held) this.#open.delete(key);
      throw error;
    }
    if (at.created) {
      // Bounded memory for huge trees: forgetting only costs a later write its link check.
      if (this.#made.size >= REMEMBERED) this.#made.clear();
      this.#made.add(key);
    }
    const release = async () => {
      if (--held.users > 0) return;
      // Closed after this turn of the event loop unless reused: an upload's next files start in it.
      setImmediate(() => {
        if (held.users > 0 || this.#open.get(key) !== held) return;
        this.#open.delete(key);
        at.dir.close().catch(() => undefined);
      });
    };
    return {
      dir: at.dir.share(release),
      trail: [...at.trail],
      name: undefined,
      created: at.created === true || (create && this.#made.has(key)),
    };
  }
}

/** Where a key resolved to: an entry `name` of the held directory `dir`, or `dir` itself. */
export interface Resolved {
  dir: Dir;
  /** The real components of `dir` below the root (no links among them when they were walked). */
  trail: string[];
  /** The entry; undefined when the key designates `dir` itself (the root, or a link to a directory). */
  name: string | undefined;
  /** This walk made `dir` (a write's missing directory): nothing was in it before. */
  created?: boolean;
}

export interface ResolveOptions {
  /** Create missing directories on the way (writes). */
  create?: boolean;
  /** Follow a symbolic link at the last component (reads, writes, stat); not for delete. */
  followLast?: boolean;
  /** Resolve every component as a directory (list, mkdir): the result's `name` is undefined. */
  asDirectory?: boolean;
  /** Where the key's directories are first looked for (else opened for this operation alone). */
  shared?: SharedDirs;
  /** Walk from the root at once: the caller has just tried the one-step open (`Dir.openDirect`). */
  walk?: boolean;
}

/**
 * Resolves `parts` (a validated key's segments) from the root's descriptor, one component at a time.
 * A link is followed only by expanding its target into the walk: a relative target continues from
 * the directory holding the link (`..` steps back along the walked components, never above the
 * root), an absolute one restarts from the root and must lie inside it. The kernel never resolves
 * through a link, so one swapped in after a check cannot redirect the operation. The caller closes `dir`.
 */
export async function resolveBeneath(
  root: string,
  key: string,
  parts: readonly string[],
  options: ResolveOptions = {},
): Promise<Resolved> {
  const pending = [...parts];
  if (options.asDirectory) pending.push('.');
  let trail: string[] = [];
  // The key's directories in one open first (Dir.openDirect); a link, `..` or missing directory is walked.
  const dirParts = options.asDirectory ? parts : parts.slice(0, -1);
  let dir: Dir;
  // The directory last made by this walk, and whether `dir` is it.
  let made: string | undefined;
  let created = false;
  if (options.shared && dirParts.length > 0) {
    const shared = await options.shared.open(root, dirParts, options.create === true);
    ({ dir, trail } = shared);
    created = shared.created === true;
    pending.splice(0, dirParts.length);
  } else {
    const direct = options.walk ? undefined : await Dir.openDirect(root, dirParts);
    dir = direct ?? (await Dir.openRoot(root, options.create === true));
    if (direct) {
      trail = [...dirParts];
      pending.splice(0, dirParts.length);
    }
  }
  let hops = 0;
  const restartFromRoot = async (components: string[]): Promise<void> => {
    pending.unshift(...components);
    trail = [];
    created = false;
    await dir.close();
    dir = await Dir.openRoot(root, options.create === true);
  };
  try {
    while (pending.length > 0) {
      const name = pending.shift() as string;
      if (name === '' || name === '.') continue;
      if (name === '..') {
        if (trail.length === 0) throw escapeError(key);
        await restartFromRoot(trail.slice(0, -1));
        continue;
      }
      const last = pending.length === 0;
      // A directory this walk made held nothing: no link at the name to follow, no lstat to ask.
      if (last && (!options.followLast || created)) return { dir, trail, name, created };
      let followLink = false;
      if (last) {
        const info = await lstat(dir.path(name)).catch((error: unknown) => {
          if (errno(error) === 'ENOENT') return undefined;
          throw error;
        });
        if (!info?.isSymbolicLink()) return { dir, trail, name, created };
        followLink = true;
      } else {
        try {
          const child = await dir.child(name);
          await dir.close();
          dir = child;
          trail.push(name);
          created = made === name;
          made = undefined;
          continue;
        } catch (error) {
          const code = errno(error);
          if (code === 'ELOOP') {
            followLink = true;
          } else if (code === 'ENOENT' && options.create) {
            if (++hops > MAX_LINKS) throw error;
            made = await mkdir(dir.path(name)).then(
              () => name,
              (mkdirError: unknown) => {
                if (errno(mkdirError) !== 'EEXIST') throw mkdirError;
                return undefined;
              },
            );
            pending.unshift(name);
            continue;
          } else {
            throw error;
          }
        }
      }
      if (followLink) {
        if (++hops > MAX_LINKS) throw fsError('ELOOP', 'too many symbolic links');
        let target: string;
        try {
          target = await readlink(dir.path(name));
        } catch (error) {
          // Swapped back to a plain entry since: walk it again.
          if (errno(error) === 'EINVAL' || errno(error) === 'ENOENT') {
            pending.unshift(name);
            continue;
          }
          throw error;
        }
        const targetParts = target.split(/[\\/]/);
        if (target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target)) {
          // Its real location is only a name walked again from the root: the walk's reach is not widened.
          const real = await resolveReal(target);
          if (!isInside(root, real)) throw escapeError(key);
          await restartFromRoot(real.slice(root.length).split(/[\\/]/).concat(pending.splice(0)));
        } else {
          pending.unshift(...targetParts);
        }
      }
    }
    return { dir, trail, name: undefined, created };
  } catch (error) {
    await dir.close();
    throw error;
  }
}

/** A validated key's segments (the root is the empty key). */
export function splitKey(key: string): string[] {
  return key === '' ? [] : key.split('/');
}
