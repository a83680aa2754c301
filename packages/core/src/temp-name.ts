import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Temporary names, one scheme for every file protocol (local disk, SFTP, FTP, HDFS) and for core's
 * downloads: `.<name>.<pid>-<host>-<random>.artifacts-tmp`, where `<name>` is the target's name cut to
 * at most {@link TEMP_NAME_KEPT_BYTES} UTF-8 bytes, `<pid>` the writer's process id (base 36), `<host>`
 * 8 hex digits of a hash of its host name and `<random>` 12 hex digits. The whole name stays far
 * under NAME_MAX (255 bytes) whatever the target's name, and what wrote it can be told from the name
 * alone, so a sweep can remove what a killed process left without touching a live writer's file.
 */
export const TEMP_SUFFIX = '.artifacts-tmp';

/** Bytes of the target's name kept in a temporary name (the rest of the name takes at most 45). */
export const TEMP_NAME_KEPT_BYTES = 120;

/** Temporary files older than this are abandoned whoever wrote them (a writer elsewhere may stall). */
export const TEMP_MAX_AGE_MS = 24 * 60 * 60 * 1000;

const TEMP_PATTERN = /^\.([\s\S]*)\.([0-9a-z]{1,10})-([0-9a-f]{8})-([0-9a-f]{12})\.artifacts-tmp$/;

let hostTag: string | undefined;
function thisHost(): string {
  hostTag ??= createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
  return hostTag;
}

/** `name` cut to at most `bytes` UTF-8 bytes, never inside a character. */
function truncateUtf8(name: string, bytes: number): string {
  if (Buffer.byteLength(name) <= bytes) return name;
  let kept = '';
  let used = 0;
  for (const char of name) {
    const size = Buffer.byteLength(char);
    if (used + size > bytes) break;
    kept += char;
    used += size;
  }
  return kept;
}

/** Random bytes drawn from the system 6 at a time: one `randomBytes` call per 512 names, not per name. */
const RANDOM_BATCH = 6 * 512;
let randomPool = Buffer.alloc(0);
let randomAt = 0;

function randomHex12(): string {
  if (randomAt + 6 > randomPool.length) {
    randomPool = randomBytes(RANDOM_BATCH);
    randomAt = 0;
  }
  randomAt += 6;
  return randomPool.toString('hex', randomAt - 6, randomAt);
}

/** A fresh temporary name for a file about to be written as `name` (a base name, not a path). */
export function tempNameFor(name: string): string {
  // A UTF-16 unit is at most 3 UTF-8 bytes: a short name needs no measuring.
  const kept = name.length * 3 <= TEMP_NAME_KEPT_BYTES ? name : truncateUtf8(name, TEMP_NAME_KEPT_BYTES);
  return `.${kept}.${process.pid.toString(36)}-${thisHost()}-${randomHex12()}${TEMP_SUFFIX}`;
}

/** A fresh temporary path beside `path` (a POSIX path or key: `a/b/c.bin` → `a/b/.c.bin.….artifacts-tmp`). */
export function tempPathFor(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? tempNameFor(path) : `${path.slice(0, slash + 1)}${tempNameFor(path.slice(slash + 1))}`;
}

/**
 * Whether a base name is one of our temporary names: such files are never listed, downloaded or
 * uploaded. Accepts a path too (its last component is tested).
 */
export function isTempName(name: string): boolean {
  if (!name.endsWith(TEMP_SUFFIX)) return false;
  return TEMP_PATTERN.test(name.slice(name.lastIndexOf('/') + 1));
}

export interface TempOwner {
  /** The process id of the writer. */
  pid: number;
  /** Whether the writer ran on this host (so `pid` can be checked here). */
  sameHost: boolean;
}

/** Who wrote a temporary name, or undefined for a name that is not one. */
export function tempOwner(name: string): TempOwner | undefined {
  const match = TEMP_PATTERN.exec(name.slice(name.lastIndexOf('/') + 1));
  if (!match) return undefined;
  return { pid: Number.parseInt(match[2]!, 36), sameHost: match[3] === thisHost() };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: string }).code === 'EPERM';
  }
}

/**
 * Whether a temporary file was abandoned and may be removed by a sweep: its writer was a process of
 * this host that no longer runs, or it was last modified more than `maxAgeMs` ago (default
 * {@link TEMP_MAX_AGE_MS}). A file of this very process is never abandoned here (its own writes
 * clean up after themselves, or go through {@link OrphanTemps}).
 */
export function isAbandonedTemp(
  name: string,
  modified: Date | number | undefined,
  options: { now?: number; maxAgeMs?: number } = {},
): boolean {
  const owner = tempOwner(name);
  if (!owner) return false;
  if (owner.sameHost && owner.pid === process.pid) return false;
  if (owner.sameHost && !processAlive(owner.pid)) return true;
  if (modified === undefined) return false;
  const age = (options.now ?? Date.now()) - (typeof modified === 'number' ? modified : modified.getTime());
  return age > (options.maxAgeMs ?? TEMP_MAX_AGE_MS);
}

/**
 * Whether a sweep needs a temporary file's modification time to judge it by `isAbandonedTemp`: not
 * for a name that is not one of ours (never removed), nor for one of this very process (never
 * removed) or of a process of this host that no longer runs (removed whatever its age). A sweep
 * asks the file system only about the others, not about every writer's file in flight beside it.
 */
export function tempAgeMatters(name: string): boolean {
  const owner = tempOwner(name);
  if (!owner) return false;
  return !(owner.sameHost && (owner.pid === process.pid || !processAlive(owner.pid)));
}

/**
 * Temporary files a writer could not remove (typically: its connection died mid-upload), remembered
 * so that a later operation over a healthy connection removes them. Temporary names are hidden from
 * listings meanwhile.
 */
export class OrphanTemps {
  readonly #paths = new Set<string>();

  get size(): number {
    return this.#paths.size;
  }

  add(path: string): void {
    this.#paths.add(path);
  }

  /**
   * Removes every remembered file with `remove`. An error for which `keep(error)` is true (a broken
   * connection) stops the sweep and is thrown, keeping the files not yet removed; any other error
   * (the file is gone, say) forgets that file.
   */
  async sweep(remove: (path: string) => Promise<void>, keep: (error: unknown) => boolean): Promise<void> {
    for (const path of [...this.#paths]) {
      try {
        await remove(path);
      } catch (error) {
        if (keep(error)) throw error;
      }
      this.#paths.delete(path);
    }
  }
}

/** A directory entry as a sweep sees it: its base name and, when the listing says, when it last changed. */
export interface SweepCandidate {
  name: string;
  /** Last modification as the server reports it; without it only the writer's process can be judged. */
  modified?: Date | number;
  /** False for a directory or link that happens to carry a temporary name: never removed. */
  isFile?: boolean;
}

export interface SweepDirectory {
  /** The entries of the directory (only temporary names matter; a missing directory lists as none). */
  list(): Promise<Iterable<SweepCandidate>>;
  /** Removes one entry by base name (a missing one counts as removed). */
  remove(name: string): Promise<void>;
}

/** Directories remembered as swept before the memory starts over (bounds it for huge trees). */
const SWEPT_REMEMBERED = 10_000;

/**
 * The first write into a directory (per repository) removes the temporary files that writers killed
 * before they could clean up left there (`kill -9`, a crash, a dropped host): every entry with one of
 * our temporary names that {@link isAbandonedTemp} calls abandoned. A file written by a process of
 * this host is removed as soon as that process is gone; a file written from another host (whose
 * processes cannot be checked from here) only once it has not changed for `maxAgeMs` (default
 * {@link TEMP_MAX_AGE_MS}, judged on the modification time the server reports), so a live writer's
 * file is never touched, even one behind a stalled link for hours. Each directory is swept once per
 * instance; a sweep that failed is tried again by the next write there. Drivers sweep after their
 * write landed, so that the listing never delays a transfer's first byte.
 */
export class AbandonedTemps {
  readonly #swept = new Set<string>();
  readonly #maxAgeMs: number | undefined;

  constructor(options: { maxAgeMs?: number } = {}) {
    this.#maxAgeMs = options.maxAgeMs;
  }

  /** Records `dir` as needing no sweep (the writer has just created it, so nothing was left there). */
  markSwept(dir: string): void {
    if (this.#swept.size >= SWEPT_REMEMBERED) this.#swept.clear();
    this.#swept.add(dir);
  }

  /**
   * Sweeps `dir` (any string naming the directory) unless it was swept already. Resolves with the
   * names removed. An error for which `fatal(error)` is true (a broken connection) is thrown and
   * leaves the directory to a later write; any other error only skips that entry (or the sweep).
   */
  async sweepOnce(dir: string, io: SweepDirectory, fatal: (error: unknown) => boolean): Promise<string[]> {
    if (this.#swept.has(dir)) return [];
    if (this.#swept.size >= SWEPT_REMEMBERED) this.#swept.clear();
    this.#swept.add(dir);
    const removed: string[] = [];
    try {
      const now = Date.now();
      const options = this.#maxAgeMs === undefined ? { now } : { now, maxAgeMs: this.#maxAgeMs };
      for (const entry of await io.list()) {
        if (entry.isFile === false || !isAbandonedTemp(entry.name, entry.modified, options)) continue;
        try {
          await io.remove(entry.name);
          removed.push(entry.name);
        } catch (error) {
          if (fatal(error)) throw error;
        }
      }
    } catch (error) {
      this.#swept.delete(dir);
      if (fatal(error)) throw error;
    }
    return removed;
  }
}

export interface AtomicReplaceSteps {
  /** Writes the whole new content to `temp`. */
  write(temp: string): Promise<void>;
  /** Renames `temp` over `target`, replacing any file there. */
  rename(temp: string, target: string): Promise<void>;
  /** Removes `temp` after a failure (it may not exist). Throwing leaves it to `orphans`. */
  remove(temp: string): Promise<void>;
}

/**
 * Replaces `target` (a POSIX path) atomically: write to a fresh temporary name beside it, rename it
 * into place, and on any failure (or an abort before the rename) remove the temporary file, so no
 * partial file is ever visible at `target`. A temporary file that cannot be removed is added to
 * `orphans` for a later sweep. Resolves with the temporary path used.
 */
export async function replaceAtomically(
  target: string,
  steps: AtomicReplaceSteps,
  options: { signal?: AbortSignal; orphans?: OrphanTemps; temp?: string } = {},
): Promise<string> {
  const temp = options.temp ?? tempPathFor(target);
  try {
    options.signal?.throwIfAborted();
    await steps.write(temp);
    options.signal?.throwIfAborted();
    await steps.rename(temp, target);
    return temp;
  } catch (error) {
    try {
      await steps.remove(temp);
    } catch {
      options.orphans?.add(temp);
    }
    throw error;
  }
}
