import {
  closeSync,
  constants,
  type Dirent,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lstatSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  type WriteStream,
  writeSync,
} from 'node:fs';
import { lstat, mkdir, mkdtemp, open, opendir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { ArtifactsError, type FailedFile, toArtifactsError } from '../errors.js';
import { baseName, joinKey, validateArtifactPath } from '../path-safety.js';
import { isTempFileName, trackTempFile } from '../temp-files.js';
import { type SweepCandidate, type SweepDirectory, tempAgeMatters, tempNameFor } from '../temp-name.js';

/** A local file to upload and the key it goes to. */
export interface LocalFile {
  path: string;
  key: string;
  size: number;
  /** Its directory is on a local disk (`onLocalDisk`): a small file is read synchronously. */
  localDisk?: boolean;
}

/** Resolves a local file or directory the user named, refusing the wrong kind with a clear message. */
export async function localStat(
  path: string,
  expect: 'file' | 'directory',
): Promise<{ path: string; size: number }> {
  if (typeof path !== 'string' || path === '')
    throw ArtifactsError.invalidArgument(`local ${expect} path must be a non-empty string`);
  if (path.includes('\0')) throw ArtifactsError.invalidArgument(`local ${expect} path contains a NUL byte`);
  const absolute = resolve(path);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(absolute);
  } catch (error) {
    throw toArtifactsError(error, `local ${expect} ${JSON.stringify(path)}`);
  }
  if (expect === 'file' && info.isDirectory()) {
    throw new ArtifactsError(
      'failed_precondition',
      `local path ${JSON.stringify(path)} is a directory; use logArtifacts to upload a directory`,
    );
  }
  if (expect === 'directory' && !info.isDirectory()) {
    throw new ArtifactsError(
      'failed_precondition',
      `local path ${JSON.stringify(path)} is not a directory; use logArtifact to upload a file`,
    );
  }
  if (expect === 'file' && !info.isFile())
    throw new ArtifactsError(
      'failed_precondition',
      `local path ${JSON.stringify(path)} is not a regular file`,
    );
  return { path: absolute, size: Number(info.size) };
}

/**
 * The files under a local directory with the keys they go to under `dir`, its empty directories'
 * keys, and the names that cannot be artifact paths (reported, not uploaded).
 */
export async function collectLocalTree(
  root: string,
  dir: string,
  /** Whether the tree is on a local disk (stat'ed synchronously); found out by `statfs` when not given. */
  local?: boolean,
): Promise<{ files: LocalFile[]; emptyDirs: string[]; failures: FailedFile[] }> {
  const files: LocalFile[] = [];
  const emptyDirs: string[] = [];
  const failures: FailedFile[] = [];
  await walkLocal(
    root,
    '',
    (absolute, rel, isDir, size, localDisk) => {
      let key: string;
      try {
        key = joinKey(dir, validateArtifactPath(rel, { label: 'local file name' }));
      } catch (error) {
        failures.push({
          path: absolute,
          error: toArtifactsError(error, `local file ${JSON.stringify(absolute)}`),
        });
        return;
      }
      if (isDir) {
        if (key !== '') emptyDirs.push(key);
      } else {
        files.push({ path: absolute, key, size, localDisk });
      }
    },
    local ?? (await onLocalDisk(root)),
  );
  return { files, emptyDirs, failures };
}

/** The directory a download goes into: `dstPath`, which must be a directory, or a new temporary one. */
export async function downloadRoot(dstPath: string | undefined): Promise<string> {
  if (dstPath === undefined) return mkdtemp(join(tmpdir(), 'artifacts-'));
  const info = await stat(dstPath).catch((error: unknown) => {
    throw toArtifactsError(error, `download destination ${JSON.stringify(dstPath)}`);
  });
  if (!info.isDirectory()) {
    throw new ArtifactsError(
      'failed_precondition',
      `download destination ${JSON.stringify(dstPath)} is not a directory`,
    );
  }
  return resolve(dstPath);
}

/**
 * Creates local directories (and their parents) for one download, each once however many files land
 * in it: a download of many small files pays one `mkdir` per directory, not per file.
 */
export function directoryMaker(): (path: string) => Promise<void> {
  const made = new Map<string, Promise<void>>();
  return (path) => {
    let making = made.get(path);
    if (!making) {
      making = mkdir(path, { recursive: true }).then(() => undefined);
      made.set(path, making);
    }
    return making;
  };
}

/**
 * Fills a temporary file beside `target` and renames it there; on failure the temporary file is
 * removed (never a partial `target`). `fill` hands over the file stream it opened, if any, so that
 * the removal waits for it to close. `fsync`: the file is flushed to stable storage before the
 * rename, so that a crash cannot leave an empty or torn file at `target`.
 */
export async function intoTempFile(
  target: string,
  fill: (temp: string, opened: (sink: WriteStream) => void) => Promise<void>,
  options: { fsync?: boolean } = {},
): Promise<void> {
  const temp = join(dirname(target), tempNameFor(baseName(target)));
  const untrack = trackTempFile(temp);
  let sink: WriteStream | undefined;
  try {
    await fill(temp, (opened) => {
      sink = opened;
    });
    if (options.fsync) {
      const handle = await open(temp, 'r+');
      await handle.sync().finally(() => handle.close());
    }
    await rename(temp, target);
  } catch (error) {
    // A file stream still opening when the pipeline failed creates the file after a quick `rm`:
    // wait for it to close first (seen on Node 20: an integrity failure left the temporary file).
    const opened = sink;
    if (opened && !opened.closed) await new Promise<void>((resolve) => opened.once('close', () => resolve()));
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  } finally {
    untrack();
  }
}

/**
 * A local directory (a path, or a held directory's `/proc/self/fd/N`) as `AbandonedTemps` sweeps it:
 * its temporary files, most judged by the name and the listing's entry type alone (this process's
 * writes in flight, a killed writer's file; Node's `Dir` stats an entry whose type the file system
 * does not report), a stat only where the file's age decides (`tempAgeMatters`).
 */
export function localSweepDirectory(dir: string): SweepDirectory {
  return {
    list: async () => {
      const entries: SweepCandidate[] = [];
      for await (const entry of await opendir(dir)) {
        if (!isTempFileName(entry.name)) continue;
        if (!tempAgeMatters(entry.name)) {
          entries.push({ name: entry.name, isFile: entry.isFile() });
          continue;
        }
        const info = await lstat(childPath(dir, entry.name)).catch(() => undefined);
        if (info) entries.push({ name: entry.name, modified: info.mtime, isFile: info.isFile() });
      }
      return entries;
    },
    remove: (name) => unlink(childPath(dir, name)).catch(() => undefined),
  };
}

/**
 * `intoTempFile` in one synchronous step, for a small file on a local disk (see `onLocalDisk`):
 * `fill` writes the temporary file beside `target`, which is renamed there, or removed on failure.
 * No other code runs in between, so nothing needs tracking for a process that exits meanwhile.
 */
export function intoTempFileSync(target: string, fill: (temp: string) => void): void {
  const temp = join(dirname(target), tempNameFor(baseName(target)));
  try {
    fill(temp);
    renameSync(temp, target);
  } catch (error) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // The failure that matters is the write's.
    }
    throw error;
  }
}

/** The one buffer of `copyFileSync`: a synchronous copy has the thread to itself. */
let copyBuffer: Buffer | undefined;
const COPY_BUFFER_BYTES = 128 * 1024;

/**
 * Copies the regular file `from` into the new file `to` (O_EXCL: never through a link planted
 * there) synchronously, through one reused buffer, with what libuv's `copyFile` keeps: the permission
 * bits, the owner where the process may set it, and the times (then the data, which sets the
 * modification time again unless the file is empty). For a small file on a local disk: no
 * thread-pool round trip. The source is opened O_NONBLOCK and refused unless it is a regular file,
 * so a FIFO swapped in cannot hang the thread.
 */
export function copyFileSync(from: string, to: string): void {
  const source = openSync(from, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const info = fstatSync(source);
    if (!info.isFile()) throw Object.assign(new Error(`${from} is not a regular file`), { code: 'EINVAL' });
    const mode = info.mode & 0o7777;
    const target = openSync(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      // The umask applied to the open; the source's bits are kept whatever it is.
      fchmodSync(target, mode);
      try {
        fchownSync(target, info.uid, info.gid);
      } catch (error) {
        if ((error as { code?: string }).code !== 'EPERM') throw error;
      }
      futimesSync(target, info.atime, info.mtime);
      copyBuffer ??= Buffer.allocUnsafe(COPY_BUFFER_BYTES);
      for (let read = readSync(source, copyBuffer); read > 0; read = readSync(source, copyBuffer)) {
        for (let written = 0; written < read; )
          written += writeSync(target, copyBuffer, written, read - written);
      }
    } finally {
      closeSync(target);
    }
  } finally {
    closeSync(source);
  }
}

/** Entries of one directory whose sizes are asked for at once (one thread-pool round, not one each). */
const STAT_BATCH = 64;

/**
 * File systems on a local device (Linux `statfs` magic numbers: ext2/3/4, XFS, Btrfs, tmpfs,
 * overlayfs, ZFS, F2FS): an `lstat` there is answered from the inode cache in microseconds, less
 * than the thread-pool round trip an asynchronous one costs, so a walk of such a tree stats its
 * files synchronously. A network or FUSE file system (NFS, SMB, sshfs…), whose stat may wait on the
 * network, and every other platform keep the asynchronous batches.
 */
const LOCAL_FILE_SYSTEMS = new Set([
  0xef53, 0x58465342, 0x9123683e, 0x01021994, 0x794c7630, 0x2fc12fc1, 0xf2f52010,
]);

/** Whether `path` lies on a file system of {@link LOCAL_FILE_SYSTEMS} (false when unsure). */
export async function onLocalDisk(path: string): Promise<boolean> {
  if (process.platform !== 'linux') return false;
  const info = await statfs(path).catch(() => undefined);
  return info !== undefined && LOCAL_FILE_SYSTEMS.has(Number(info.type));
}

/** A child's path: the walk's directories are absolute and normalised already (no `join` per entry). */
function childPath(dir: string, name: string): string {
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}

/**
 * Walks a local directory depth-first without following directory symlinks (no loops, no escape);
 * symlinked files are uploaded as the file they point to, as MLflow does. `visit` gets each file
 * (and each empty directory) with its path relative to the walk's root, `/`-separated. `local`: the
 * directory is on a local disk, whose regular files are stat'ed synchronously (see `onLocalDisk`); a
 * link is always followed asynchronously (its target may lie anywhere). A subdirectory on another
 * device than its parent (a mount point: NFS or FUSE inside a tree on a local disk) is asked again.
 */
async function walkLocal(
  dir: string,
  rel: string,
  visit: (path: string, rel: string, isDir: boolean, size: number, local: boolean) => void,
  local: boolean,
  device?: number,
): Promise<void> {
  const entries: Dirent[] = [];
  let count = 0;
  if (local) device ??= Number((await lstat(dir)).dev);
  for await (const entry of await opendir(dir, { bufferSize: 128 })) {
    count++;
    // What an interrupted transfer left behind (a `kill -9`) is never uploaded.
    if (!isTempFileName(entry.name)) entries.push(entry);
  }
  for (let at = 0; at < entries.length; at += STAT_BATCH) {
    const batch = entries.slice(at, at + STAT_BATCH);
    // A file's size; on a local disk, a subdirectory's device too (asked with the batch, not alone).
    const sizes = await Promise.all(
      batch.map((entry) => {
        const path = childPath(dir, entry.name);
        if (entry.isFile())
          return local ? Number(lstatSync(path).size) : lstat(path).then((info) => Number(info.size));
        if (entry.isDirectory()) return local ? lstat(path).then((info) => Number(info.dev)) : undefined;
        if (!entry.isSymbolicLink()) return undefined;
        return stat(path).then(
          (info) => (info.isFile() ? Number(info.size) : undefined),
          () => undefined,
        );
      }),
    );
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      const path = childPath(dir, entry.name);
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        // On another device than this directory, it is a mount: asked again (nothing in it has been
        // stat'ed synchronously yet).
        const onDisk = local && (sizes[i] === device || (await onLocalDisk(path)));
        await walkLocal(path, name, visit, onDisk, sizes[i]);
      } else if (sizes[i] !== undefined) visit(path, name, false, sizes[i]!, local);
    }
  }
  if (count === 0) visit(dir, rel, true, 0, local);
}
