import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempNameFor } from '../temp-name.js';
import {
  collectLocalTree,
  copyFileSync,
  intoTempFile,
  intoTempFileSync,
  localSweepDirectory,
  onLocalDisk,
} from './local-files.js';

let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'local-files-'));
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('collectLocalTree', () => {
  it('finds the same files, sizes, empty directories and refusals with synchronous and asynchronous stats', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'a', 'deep'), { recursive: true });
    await mkdir(join(tree, 'empty'));
    await mkdir(join(work, 'outside'));
    await writeFile(join(work, 'outside', 'target.bin'), Buffer.alloc(7));
    await writeFile(join(tree, 'top.txt'), 'hello');
    await writeFile(join(tree, 'a', 'deep', 'w.bin'), Buffer.alloc(1234));
    // Many entries in one directory: more than one batch of stats.
    for (let i = 0; i < 150; i++) await writeFile(join(tree, 'a', `f${i}`), Buffer.alloc(i));
    await writeFile(join(tree, 'a', tempNameFor('half.bin')), 'left by a killed writer');
    await symlink(join(work, 'outside', 'target.bin'), join(tree, 'linked.bin'));
    await symlink(join(work, 'missing'), join(tree, 'dangling'));
    await symlink(join(work, 'outside'), join(tree, 'dirlink'));
    await writeFile(join(tree, 'bad\\name'), 'x');

    const sync = await collectLocalTree(tree, 'up', true);
    const async = await collectLocalTree(tree, 'up', false);
    // Each file says how its directory was stat'ed (its reads follow); the rest is the same.
    expect(sync.files.every((f) => f.localDisk === true)).toBe(true);
    expect(async.files.every((f) => f.localDisk === false)).toBe(true);
    const sorted = (r: typeof sync) => ({
      files: r.files.map(({ localDisk: _, ...f }) => f).sort((x, y) => x.key.localeCompare(y.key)),
      emptyDirs: [...r.emptyDirs].sort(),
      failures: r.failures.map((f) => f.path).sort(),
    });
    expect(sorted(sync)).toEqual(sorted(async));
    const { files, emptyDirs, failures } = sorted(sync);
    expect(files).toHaveLength(153);
    expect(files.find((f) => f.key === 'up/a/deep/w.bin')).toEqual({
      path: join(tree, 'a', 'deep', 'w.bin'),
      key: 'up/a/deep/w.bin',
      size: 1234,
    });
    expect(files.find((f) => f.key === 'up/a/f149')?.size).toBe(149);
    // A link to a file is uploaded as that file; a dangling link and a link to a directory are not.
    expect(files.find((f) => f.key === 'up/linked.bin')?.size).toBe(7);
    expect(files.some((f) => /dangling|dirlink|artifacts-tmp/.test(f.key))).toBe(false);
    expect(emptyDirs).toEqual(['up/empty']);
    expect(failures).toEqual([join(tree, 'bad\\name')]);
  });

  it('keeps asynchronous stats wherever the file system is not known to be a local disk', async () => {
    // procfs is no disk; a path that does not exist says nothing.
    expect(await onLocalDisk('/proc')).toBe(false);
    expect(await onLocalDisk(join(work, 'missing'))).toBe(false);
  });
});

describe('copyFileSync and intoTempFileSync', () => {
  it('copies content and permission bits whatever the umask, larger than its buffer too, into a new file only', async () => {
    const small = join(work, 'small.sh');
    await writeFile(small, '#!/bin/sh\n');
    await chmod(small, 0o751);
    const big = join(work, 'big.bin');
    const bytes = Buffer.from(Array.from({ length: 300 * 1024 + 7 }, (_, i) => (i * 31) % 251));
    await writeFile(big, bytes);
    const before = process.umask(0o077);
    try {
      copyFileSync(small, join(work, 'small.copy'));
      copyFileSync(big, join(work, 'big.copy'));
    } finally {
      process.umask(before);
    }
    expect((await stat(join(work, 'small.copy'))).mode & 0o7777).toBe(0o751);
    // The times as libuv's copyFile keeps them: an empty file keeps the source's modification time.
    const empty = join(work, 'empty.txt');
    await writeFile(empty, '');
    await utimes(empty, new Date('2020-01-02T03:04:05Z'), new Date('2021-02-03T04:05:06Z'));
    copyFileSync(empty, join(work, 'empty.copy'));
    expect((await stat(join(work, 'empty.copy'))).mtime.toISOString()).toBe('2021-02-03T04:05:06.000Z');
    expect(await readFile(join(work, 'big.copy'))).toEqual(bytes);
    await writeFile(join(work, 'taken'), 'kept');
    expect(() => copyFileSync(small, join(work, 'taken'))).toThrow(
      expect.objectContaining({ code: 'EEXIST' }),
    );
    expect(await readFile(join(work, 'taken'), 'utf8')).toBe('kept');
  });

  it('refuses a FIFO or a directory as its source at once (never hangs), creating nothing', async () => {
    const fifo = join(work, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(() => copyFileSync(fifo, join(work, 'from-fifo'))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => copyFileSync(work, join(work, 'from-dir'))).toThrow();
    expect((await readdir(work)).sort()).toEqual(['fifo']);
  });

  it('renames the filled temporary file into place, replacing the target; a failed fill leaves nothing', async () => {
    const target = join(work, 'model.bin');
    await writeFile(target, 'old');
    let seen = '';
    intoTempFileSync(target, (temp) => {
      seen = temp;
      copyFileSync(target, temp);
    });
    expect(seen).not.toBe(target);
    expect(await readdir(work)).toEqual(['model.bin']);
    expect(() =>
      intoTempFileSync(target, (temp) => {
        writeFileSync(temp, 'half');
        throw new Error('disk full');
      }),
    ).toThrow('disk full');
    expect(await readdir(work)).toEqual(['model.bin']);
    expect(await readFile(target, 'utf8')).toBe('old');
  });

  it('intoTempFile flushes the file before the rename when asked (fsync), and lands the same file', async () => {
    const target = join(work, 'synced.bin');
    await intoTempFile(target, (temp) => writeFile(temp, 'durable'), { fsync: true });
    expect(await readFile(target, 'utf8')).toBe('durable');
    await expect(
      intoTempFile(join(work, 'never.bin'), async () => {}, { fsync: true }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readdir(work)).toEqual(['synced.bin']);
  });
});

describe('localSweepDirectory', () => {
  it('lists only temporary names, with the age only where it decides, and removes by name', async () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const mine = tempNameFor('model.bin');
    const deadName = mine.replace(/\.([0-9a-z]+)-([0-9a-f]{8})-/, `.${Number(dead.stdout).toString(36)}-$2-`);
    const otherHost = mine.replace(/-([0-9a-f]{8})-/, '-00000000-');
    await writeFile(join(work, mine), 'in flight');
    await writeFile(join(work, deadName), 'left');
    await writeFile(join(work, otherHost), 'elsewhere');
    const dirName = tempNameFor('dir');
    await mkdir(join(work, dirName));
    await writeFile(join(work, 'model.bin'), 'a user file');
    const sweep = localSweepDirectory(work);
    const listed = [...(await sweep.list())];
    expect(listed.map((entry) => entry.name).sort()).toEqual([mine, deadName, otherHost, dirName].sort());
    for (const entry of listed) {
      // Another host's writer is judged by its age; this process's and a dead one's by the name.
      expect(entry.modified !== undefined).toBe(entry.name === otherHost);
      expect(entry.isFile).toBe(entry.name !== dirName);
    }
    await sweep.remove(deadName);
    await sweep.remove('already-gone');
    expect((await readdir(work)).includes(deadName)).toBe(false);
    expect((await readdir(work)).includes('model.bin')).toBe(true);
  });
});
