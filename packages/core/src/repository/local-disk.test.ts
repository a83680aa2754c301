import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { collectLocalTree, onLocalDisk } from './local-files.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Mounts a ramfs at `dir` — not a file system `onLocalDisk` counts as a local disk, as an NFS or
 * FUSE mount would not be — where this process may mount (root on Linux); false elsewhere.
 */
function mountRamfs(dir: string): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'ramfs', 'none', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  cleanups.push(async () => void execFileSync('umount', [dir], { stdio: 'ignore' }));
  return true;
}

it("a mount inside a tree is asked again (its device differs from its parent's): files on it are not read synchronously; the rest keep the root's answer", async () => {
  const tree = await mkdtemp(join(tmpdir(), 'artifacts-mount-tree-'));
  cleanups.push(() => rm(tree, { recursive: true, force: true }));
  await mkdir(join(tree, 'plain'));
  await mkdir(join(tree, 'net'));
  // Where mounting is not allowed, `net` stays a plain directory: only the second half is tested.
  const mounted = mountRamfs(join(tree, 'net'));
  await mkdir(join(tree, 'net', 'deeper'));
  for (const file of ['a.txt', 'plain/b.txt', 'net/c.txt', 'net/deeper/d.txt'])
    await writeFile(join(tree, file), 'x');
  const local = await onLocalDisk(tree);
  const { files } = await collectLocalTree(tree, '', local);
  const onDisk = Object.fromEntries(files.map((file) => [file.key, file.localDisk]));
  const inMount = mounted ? false : local;
  expect(onDisk).toEqual({
    'a.txt': local,
    'plain/b.txt': local,
    'net/c.txt': inMount,
    'net/deeper/d.txt': inMount,
  });
  // Sizes are right whichever way each file was stat'ed.
  expect(files.every((file) => file.size === 1)).toBe(true);
  // The test is about a tree on a local disk with a mount in it.
  if (mounted) expect(local).toBe(true);
});
