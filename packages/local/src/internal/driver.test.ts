import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import {
  type ArtifactRepository,
  ArtifactsError,
  copyArtifacts,
  isTempFileName,
  openRepository,
} from '@artifacts/core';
import { dataStream, HOSTILE_PATHS, readAll } from '@artifacts/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalDriver } from './driver.js';
import '../index.js';

let base: string;
let root: string;
let outside: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'artifacts-local-test-'));
  root = join(base, 'store');
  outside = join(base, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'secret');
});

afterEach(() => rm(base, { recursive: true, force: true }));

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (ArtifactsError.is(error)) return error.code;
    throw error;
  }
  return 'resolved';
}

async function text(repo: ArtifactRepository, path: string): Promise<string> {
  return (await readAll(await repo.openRead(path))).toString('utf8');
}

/** Every entry below `dir`, including hidden ones, as relative paths. */
async function onDisk(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('opening', () => {
  it('does not create the root until the first write, and reads a missing root as empty', async () => {
    const repo = await openRepository(root);
    expect(await repo.listArtifacts()).toEqual([]);
    await repo.deleteArtifacts();
    expect(await codeOf(repo.stat('a.txt'))).toBe('not_found');
    expect(await readdir(base)).toEqual(['outside']);
    await repo.write('a.txt', 'A');
    expect(await readFile(join(root, 'a.txt'), 'utf8')).toBe('A');
  });

  it('serves plain absolute paths, relative paths and file: URIs (percent-decoded)', async () => {
    await (await openRepository(root)).write('abs.txt', 'abs');
    await (await openRepository(relative(process.cwd(), root))).write('rel.txt', 'rel');
    await (await openRepository(`file://${join(base, 'with space')}`.replace(' ', '%20'))).write(
      'uri.txt',
      'uri',
    );
    expect(await readdir(root)).toEqual(['abs.txt', 'rel.txt']);
    expect(await readFile(join(base, 'with space', 'uri.txt'), 'utf8')).toBe('uri');
  });

  it('follows a root that is itself a symbolic link', async () => {
    await mkdir(join(base, 'real-root'));
    await symlink(join(base, 'real-root'), root);
    const repo = await openRepository(root);
    await repo.write('a/b.txt', 'B');
    expect(await readFile(join(base, 'real-root', 'a', 'b.txt'), 'utf8')).toBe('B');
    expect(await repo.listArtifacts('a')).toEqual([{ path: 'a/b.txt', isDir: false, fileSize: 1 }]);
  });

  it('refuses an ARTIFACTS_LOCAL_FSYNC value that is not a boolean, and honours a valid one', async () => {
    process.env.ARTIFACTS_LOCAL_FSYNC = 'maybe';
    try {
      expect(await codeOf(openRepository(root))).toBe('invalid_argument');
      process.env.ARTIFACTS_LOCAL_FSYNC = 'true';
      const repo = await openRepository(root);
      await repo.write('synced.txt', 'durable');
      expect(await text(repo, 'synced.txt')).toBe('durable');
    } finally {
      delete process.env.ARTIFACTS_LOCAL_FSYNC;
    }
  });
});

describe('symbolic links never lead outside the root', () => {
  let repo: ArtifactRepository;

  beforeEach(async () => {
    await mkdir(join(root, 'real'), { recursive: true });
    await writeFile(join(root, 'real', 'inside.txt'), 'inside');
    await symlink(outside, join(root, 'out'));
    await symlink(join(outside, 'secret.txt'), join(root, 'outfile'));
    await symlink('../outside', join(root, 'relout'));
    await symlink(join(outside, 'not-yet'), join(root, 'dangling'));
    await symlink(join(root, 'real'), join(root, 'in'));
    await symlink('.', join(root, 'real', 'loop'));
    repo = await openRepository(root);
  });

  async function outsideUnchanged(): Promise<void> {
    expect(await onDisk(outside)).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  }

  it('reads, stats and lists through an escaping link are refused', async () => {
    for (const path of ['out/secret.txt', 'outfile', 'relout/secret.txt']) {
      expect(await codeOf(repo.openRead(path))).toBe('permission_denied');
      expect(await codeOf(repo.stat(path))).toBe('permission_denied');
      expect(await codeOf(repo.downloadArtifacts(path, outside))).toBe('permission_denied');
    }
    expect(await codeOf(repo.listArtifacts('out'))).toBe('permission_denied');
    expect(await codeOf(repo.listArtifacts('relout'))).toBe('permission_denied');
    expect(await codeOf(repo.stat('dangling'))).toBe('permission_denied');
    await outsideUnchanged();
  });

  it('listings leave escaping links out and follow links that stay inside, loops included', async () => {
    expect(await repo.listArtifacts()).toEqual([
      { path: 'in', isDir: true },
      { path: 'real', isDir: true },
    ]);
    expect(await repo.listArtifacts('in')).toEqual([
      { path: 'in/inside.txt', isDir: false, fileSize: 6 },
      { path: 'in/loop', isDir: true },
    ]);
    const all = (await repo.listArtifactsRecursive()).map((entry) => entry.path);
    expect(all).toContain('in/inside.txt');
    expect(all).toContain('real/inside.txt');
    expect(all.every((path) => !path.startsWith('out') && !path.startsWith('relout'))).toBe(true);
    expect(await text(repo, 'in/inside.txt')).toBe('inside');
  });

  it('lists a wide directory (more entries than one batch of stats) with sizes, links kept or left out', async () => {
    const wide = join(root, 'wide');
    await mkdir(join(wide, 'sub'), { recursive: true });
    const names = Array.from({ length: 150 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    await Promise.all(names.map((name, i) => writeFile(join(wide, name), Buffer.alloc(i))));
    await symlink(join(root, 'real', 'inside.txt'), join(wide, 'link-in'));
    await symlink(join(outside, 'secret.txt'), join(wide, 'link-out'));
    await symlink(join(root, 'real'), join(wide, 'dir-link'));
    const listed = await repo.listArtifacts('wide');
    expect(listed).toEqual(
      [
        ...names.map((name, i) => ({ path: `wide/${name}`, isDir: false, fileSize: i })),
        { path: 'wide/dir-link', isDir: true },
        { path: 'wide/link-in', isDir: false, fileSize: 6 },
        { path: 'wide/sub', isDir: true },
      ].sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
  });

  it('writes through an escaping link are refused and create nothing outside', async () => {
    for (const path of ['out/new.txt', 'outfile', 'relout/deeper/new.txt', 'dangling', 'dangling/x.txt']) {
      expect(await codeOf(repo.write(path, 'pwned'))).toBe('permission_denied');
    }
    const local = join(base, 'local.txt');
    await writeFile(local, 'pwned');
    expect(await codeOf(repo.logArtifact(local, 'out'))).toBe('permission_denied');
    await mkdir(join(base, 'src'));
    await writeFile(join(base, 'src', 'f.txt'), 'pwned');
    expect(await codeOf(repo.logArtifacts(join(base, 'src'), 'relout'))).toBe('partial_failure');
    await outsideUnchanged();
    expect(await readlink(join(root, 'outfile'))).toBe(join(outside, 'secret.txt'));
  });

  it('deleting a link removes the link only, never what it points to', async () => {
    expect(await codeOf(repo.deleteArtifacts('out/secret.txt'))).toBe('permission_denied');
    await outsideUnchanged();
    await repo.deleteArtifacts('out');
    await repo.deleteArtifacts('outfile');
    await repo.deleteArtifacts('in');
    await outsideUnchanged();
    expect(await readFile(join(root, 'real', 'inside.txt'), 'utf8')).toBe('inside');
    expect((await readdir(root)).sort()).toEqual(['dangling', 'real', 'relout']);
    await repo.deleteArtifacts();
    await outsideUnchanged();
    expect(await readdir(root)).toEqual([]);
  });

  it('a link created inside the root to an inside target is written through', async () => {
    await repo.write('in/through.txt', 'through');
    expect(await readFile(join(root, 'real', 'through.txt'), 'utf8')).toBe('through');
  });
});

describe('temporary files', () => {
  it('an aborted write leaves neither the artifact nor its temporary file', async () => {
    const repo = await openRepository(root);
    await repo.write('keep.txt', 'keep');
    const controller = new AbortController();
    const body = dataStream(64 * 1024 * 1024, {
      chunkSize: 64 * 1024,
      delayMs: 2,
      onBytes: (n) => {
        if (n >= 1024 * 1024) controller.abort();
      },
    });
    expect(await codeOf(repo.write('dir/big.bin', body, { signal: controller.signal }))).toBe('aborted');
    expect(await onDisk(root)).toEqual(['dir', 'keep.txt']);
  });

  it('a write whose source fails leaves neither the artifact nor its temporary file', async () => {
    const repo = await openRepository(root);
    await repo.write('dir/existing.bin', 'old');
    const failing = () => dataStream(4 * 1024 * 1024, { chunkSize: 64 * 1024, errorAfter: 1024 * 1024 });
    expect(await codeOf(repo.write('dir/new.bin', failing()))).not.toBe('resolved');
    expect(await codeOf(repo.write('dir/existing.bin', failing()))).not.toBe('resolved');
    expect(await onDisk(root)).toEqual(['dir', 'dir/existing.bin']);
    expect(await readFile(join(root, 'dir', 'existing.bin'), 'utf8')).toBe('old');
  });

  it('a write in progress is invisible: hidden temporary file, no artifact until renamed into place', async () => {
    const repo = await openRepository(root);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let sent = 0;
    async function* body() {
      yield Buffer.alloc(1000, 1);
      sent = 1000;
      await gate;
      yield Buffer.alloc(1000, 2);
    }
    const writing = repo.write('dir/slow.bin', Readable.from(body()));
    while (sent === 0 || (await onDisk(root).catch(() => [])).length < 2)
      await new Promise((r) => setTimeout(r, 5));
    const files = await readdir(join(root, 'dir'));
    expect(files).toHaveLength(1);
    expect(isTempFileName(files[0]!)).toBe(true);
    expect(files[0]!.startsWith('.slow.bin.')).toBe(true);
    expect(await repo.listArtifacts('dir')).toEqual([]);
    expect(await codeOf(repo.stat('dir/slow.bin'))).toBe('not_found');
    release();
    await writing;
    expect(await readdir(join(root, 'dir'))).toEqual(['slow.bin']);
    expect((await repo.stat('dir/slow.bin')).fileSize).toBe(2000);
  });

  it("the first write into a directory sweeps what killed writers left, never a live writer's file", async () => {
    const { spawnSync } = await import('node:child_process');
    const { tempNameFor } = await import('@artifacts/core');
    await mkdir(join(root, 'dir'), { recursive: true });
    // A process that has exited: its pid is in no live process (its temporary name says which it was).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const mine = tempNameFor('model.bin');
    const deadName = mine.replace(/\.([0-9a-z]+)-([0-9a-f]{8})-/, `.${Number(dead.stdout).toString(36)}-$2-`);
    const liveName = mine.replace(/\.([0-9a-z]+)-([0-9a-f]{8})-/, `.${process.ppid.toString(36)}-$2-`);
    await writeFile(join(root, 'dir', deadName), 'half of a model');
    await writeFile(join(root, 'dir', liveName), 'a live writer in another process');
    const repo = await openRepository(root);
    await repo.write('dir/other.txt', 'x');
    expect((await readdir(join(root, 'dir'))).sort()).toEqual([liveName, 'other.txt'].sort());
    expect(await repo.listArtifacts('dir')).toEqual([{ path: 'dir/other.txt', isDir: false, fileSize: 1 }]);
  });

  it('the sweep leaves a directory or a link carrying a dead writer’s temporary name, and sweeps a directory once', async () => {
    const { spawnSync } = await import('node:child_process');
    const { tempNameFor } = await import('@artifacts/core');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const deadName = (suffix: string) =>
      tempNameFor(`model-${suffix}.bin`).replace(
        /\.([0-9a-z]+)-([0-9a-f]{8})-/,
        `.${Number(dead.stdout).toString(36)}-$2-`,
      );
    const [asDir, asLink, late] = [deadName('dir'), deadName('link'), deadName('late')];
    await mkdir(join(root, 'dir', asDir), { recursive: true });
    await writeFile(join(root, 'target.txt'), 'kept');
    await symlink(join(root, 'target.txt'), join(root, 'dir', asLink));
    const repo = await openRepository(root);
    await repo.write('dir/a.txt', 'a');
    // Left after this repository swept the directory: the next sweep is another repository's.
    await writeFile(join(root, 'dir', late), 'half');
    await repo.write('dir/b.txt', 'b');
    expect((await readdir(join(root, 'dir'))).sort()).toEqual([asDir, asLink, late, 'a.txt', 'b.txt'].sort());
    expect(await readFile(join(root, 'target.txt'), 'utf8')).toBe('kept');
    await (await openRepository(root)).write('dir/c.txt', 'c');
    expect((await readdir(join(root, 'dir'))).sort()).toEqual(
      [asDir, asLink, 'a.txt', 'b.txt', 'c.txt'].sort(),
    );
  });

  it('temporary names stay under NAME_MAX for long names and are never mistaken for user files', async () => {
    const repo = await openRepository(root);
    const long = `${'é'.repeat(120)}.bin`;
    await repo.write(long, 'long');
    await repo.write('.hidden.tmp', 'hidden');
    await repo.write('.x.0123456789abcdef.tmp', 'lookalike');
    expect((await repo.listArtifacts()).map((e) => e.path).sort()).toEqual(
      ['.hidden.tmp', '.x.0123456789abcdef.tmp', long].sort(),
    );
  });

  it('writing a file where a directory is, or below a file, fails with failed_precondition and leaves nothing', async () => {
    const repo = await openRepository(root);
    await repo.write('dir/inner.txt', 'inner');
    await repo.write('file.txt', 'file');
    expect(await codeOf(repo.write('dir', 'x'))).toBe('failed_precondition');
    expect(await codeOf(repo.write('file.txt/below.txt', 'x'))).toBe('failed_precondition');
    expect(await onDisk(root)).toEqual(['dir', 'dir/inner.txt', 'file.txt']);
  });
});

describe('errors and hostile paths', () => {
  it('a missing artifact is not_found naming the path relative to the root', async () => {
    const repo = await openRepository(root);
    await repo.write('dir/present.txt', 'P');
    try {
      await repo.openRead('dir/missing.txt');
      expect.unreachable();
    } catch (error) {
      expect(ArtifactsError.is(error, 'not_found')).toBe(true);
      expect((error as Error).message).toContain('"dir/missing.txt"');
      expect((error as Error).message).not.toContain(root);
    }
  });

  it('hostile paths create, read and delete nothing next to or above the root', async () => {
    const repo = await openRepository(root);
    await repo.write('canary.txt', 'canary');
    const local = join(base, 'local.txt');
    await writeFile(local, 'local');
    const before = await onDisk(base);
    for (const path of HOSTILE_PATHS) {
      for (const attempt of [
        repo.write(path, 'x'),
        repo.logArtifact(local, path),
        repo.deleteArtifacts(path),
        repo.openRead(path),
        repo.listArtifacts(path),
        repo.downloadArtifacts(path, outside),
        repo.stat(path),
      ]) {
        expect(await codeOf(attempt)).toBe('invalid_argument');
      }
    }
    expect(await onDisk(base)).toEqual(before);
  });
});

describe('uploads of local files (logArtifacts)', () => {
  it('small files (copied synchronously) and large ones land whole with their modes, no temporary file left', async () => {
    const src = join(base, 'src');
    await mkdir(join(src, 'deep'), { recursive: true });
    const large = Buffer.alloc(300 * 1024, 7);
    await writeFile(join(src, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(src, 'run.sh'), 0o750);
    await writeFile(join(src, 'deep', 'large.bin'), large);
    await writeFile(join(src, 'deep', 'empty.txt'), '');
    const repo = await openRepository(root);
    await repo.logArtifacts(src, 'up');
    expect(await onDisk(root)).toEqual([
      'up',
      'up/deep',
      'up/deep/empty.txt',
      'up/deep/large.bin',
      'up/run.sh',
    ]);
    expect((await stat(join(root, 'up', 'run.sh'))).mode & 0o777).toBe(0o750);
    expect(await readFile(join(root, 'up', 'deep', 'large.bin'))).toEqual(large);
    expect((await stat(join(root, 'up', 'deep', 'empty.txt'))).size).toBe(0);
  });

  it('over an existing tree, a link at a name (inside the root) is written through, an escaping one refused', async () => {
    const src = join(base, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'new a');
    await writeFile(join(src, 'b.txt'), 'new b');
    await mkdir(join(root, 'up'), { recursive: true });
    await mkdir(join(root, 'real'));
    await writeFile(join(root, 'real', 'a.txt'), 'old a');
    await symlink(join(root, 'real', 'a.txt'), join(root, 'up', 'a.txt'));
    const repo = await openRepository(root);
    await repo.logArtifacts(src, 'up');
    expect(await readlink(join(root, 'up', 'a.txt'))).toBe(join(root, 'real', 'a.txt'));
    expect(await readFile(join(root, 'real', 'a.txt'), 'utf8')).toBe('new a');
    await rm(join(root, 'up', 'b.txt'));
    await symlink(join(outside, 'secret.txt'), join(root, 'up', 'b.txt'));
    expect(await codeOf(repo.logArtifact(join(src, 'b.txt'), 'up'))).toBe('permission_denied');
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });
});

describe('copyArtifacts between local roots', () => {
  it('lets the disk copy (copyFile, a reflink where offered): the tree arrives, no sibling, no temp file', async () => {
    const a = await openRepository(join(root, 'a'));
    await a.write('run/model.bin', 'weights');
    await a.write('run/deep/plot.png', 'png');
    await a.write('run2/other.txt', 'not me');
    const result = await copyArtifacts({ repo: a, path: 'run' }, join(root, 'b', 'copy'));
    expect(result).toEqual({ files: 2, bytes: 10, serverSide: 2 });
    expect(await onDisk(join(root, 'b'))).toEqual([
      'copy',
      'copy/deep',
      'copy/deep/plot.png',
      'copy/model.bin',
    ]);
    expect(await readFile(join(root, 'b', 'copy', 'deep', 'plot.png'), 'utf8')).toBe('png');
  });
});

describe('driver extras', () => {
  it('copy clones a file atomically; mkdir creates directories; close is a no-op', async () => {
    const driver = await LocalDriver.open(root);
    expect(driver.capabilities).toMatchObject({ directories: true, serverSideCopy: true, checksums: [] });
    const repo = await openRepository(root);
    await repo.write('a/source.bin', 'copied bytes');
    await driver.copy(driver.locate('a/source.bin'), 'b/c/target.bin', {});
    expect(await readFile(join(root, 'b', 'c', 'target.bin'), 'utf8')).toBe('copied bytes');
    expect(await codeOf(driver.copy(driver.locate('a/missing.bin'), 'b/x.bin', {}))).toBe('not_found');
    // Another root of the same disk: the source is resolved within its own root, never outside.
    const other = await LocalDriver.open(join(root, 'b'));
    await other.copy(driver.locate('a/source.bin'), 'd/copied.bin', {});
    expect(await readFile(join(root, 'b', 'd', 'copied.bin'), 'utf8')).toBe('copied bytes');
    expect(await codeOf(other.copy(driver.locate('b/missing.bin'), 'e.bin', {}))).toBe('not_found');
    expect(await onDisk(join(root, 'b'))).not.toContain('e.bin');
    await driver.mkdir('empty/nested', {});
    expect((await repo.stat('empty/nested')).isDir).toBe(true);
    expect(await codeOf(driver.mkdir('a/source.bin', {}))).toBe('failed_precondition');
    await driver.close();
  });

  it('ranged reads past the end are empty, and an empty file reads as empty', async () => {
    const driver = await LocalDriver.open(root);
    const repo = await openRepository(root);
    await repo.write('five.txt', '12345');
    await repo.write('empty.txt', '');
    const past = await driver.read('five.txt', { range: { start: 10 } });
    expect(past.size).toBe(0);
    expect((await readAll(past.stream)).length).toBe(0);
    const empty = await driver.read('empty.txt', {});
    expect(empty.totalSize).toBe(0);
    expect((await readAll(empty.stream)).length).toBe(0);
    const tail = await driver.read('five.txt', { range: { start: 3, end: 99 } });
    expect(tail.size).toBe(2);
    expect((await readAll(tail.stream)).toString()).toBe('45');
  });
});
