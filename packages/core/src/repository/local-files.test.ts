import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempNameFor } from '../temp-name.js';
import { collectLocalTree, onLocalDisk } from './local-files.js';

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
    const sorted = (r: typeof sync) => ({
      files: [...r.files].sort((x, y) => x.key.localeCompare(y.key)),
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
