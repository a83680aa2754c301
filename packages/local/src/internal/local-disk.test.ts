import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { LocalDriver } from './driver.js';

// Which directories are on a local disk is the kernel's answer (`statfs`), and mounting a network
// file system needs privileges a test run may lack: core's `onLocalDisk` answers here as if
// `<store>/net` were an NFS or FUSE mount inside a store on a local disk, and the synchronous
// copies and stats the driver makes are recorded.
const seen = vi.hoisted(() => ({
  sync: [] as string[],
  copied: [] as string[],
  stats: [] as string[],
  dirs: 0,
}));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const lstatSync = ((path: string, ...rest: []) => {
    seen.stats.push(basename(path));
    return fs.lstatSync(path, ...rest);
  }) as typeof fs.lstatSync;
  const readdirSync = ((...args: Parameters<typeof fs.readdirSync>) => {
    seen.dirs++;
    return fs.readdirSync(...args);
  }) as typeof fs.readdirSync;
  return { ...fs, default: { ...fs, lstatSync, readdirSync }, lstatSync, readdirSync };
});
vi.mock('@artifacts/core', async (importOriginal) => {
  const core = await importOriginal<typeof import('@artifacts/core')>();
  return {
    ...core,
    onLocalDisk: async (path: string) => !/[/\\]net(?:[/\\]|$)/.test(path),
    intoTempFileSync: (...args: Parameters<typeof core.intoTempFileSync>) => {
      seen.sync.push(basename(args[0]));
      return core.intoTempFileSync(...args);
    },
    copyFileSync: (from: string, to: string) => {
      seen.copied.push(basename(to));
      return core.copyFileSync(from, to);
    },
  };
});

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'artifacts-local-disk-'));
  seen.sync.length = 0;
  seen.copied.length = 0;
  seen.stats.length = 0;
  seen.dirs = 0;
});
afterEach(() => rm(base, { recursive: true, force: true }));

it('a small file is copied synchronously only into a directory on a local disk, not into a network mount inside the store', async () => {
  const source = join(base, 'source.txt');
  await writeFile(source, 'small');
  await mkdir(join(base, 'store', 'net', 'deeper'), { recursive: true });
  const driver = await LocalDriver.open(join(base, 'store'));
  for (const key of ['a.txt', 'net/b.txt', 'net/deeper/c.txt', 'local/d.txt'])
    await driver.writeFromFile(key, source, { size: 5 });
  // The mount's files went through the thread pool; the local disk's were copied inline.
  expect(seen.sync.sort()).toEqual(['a.txt', 'd.txt']);
  for (const key of ['a.txt', 'net/b.txt', 'net/deeper/c.txt', 'local/d.txt'])
    expect(await readFile(join(base, 'store', key), 'utf8')).toBe('small');
  await driver.close?.();
});

it('a small file is downloaded synchronously only from a local disk into a local disk; links, large files and FIFOs keep their rules', async () => {
  const store = join(base, 'store');
  await mkdir(join(store, 'net'), { recursive: true });
  await mkdir(join(base, 'net'));
  await writeFile(join(store, 'a.txt'), 'small a');
  await writeFile(join(store, 'net', 'b.txt'), 'small b');
  await writeFile(join(store, 'large.bin'), Buffer.alloc(200 * 1024, 3));
  await symlink('a.txt', join(store, 'link.txt'));
  await writeFile(join(base, 'secret.txt'), 'secret');
  await symlink(join(base, 'secret.txt'), join(store, 'out.txt'));
  execFileSync('mkfifo', [join(store, 'fifo')]);
  const driver = await LocalDriver.open(store);
  const into = (to: string) => join(base, to);
  await driver.readToFile('a.txt', into('a.copy'), {});
  await driver.readToFile('net/b.txt', into('b.copy'), {});
  await driver.readToFile('a.txt', into('net/a.copy'), {});
  await driver.readToFile('large.bin', into('large.copy'), {});
  await driver.readToFile('link.txt', into('link.copy'), {});
  // Only the small files between two local disks were copied on the thread (a link by its target).
  expect(seen.copied).toEqual(['a.copy', 'link.copy']);
  expect(await readFile(into('a.copy'), 'utf8')).toBe('small a');
  expect(await readFile(into('b.copy'), 'utf8')).toBe('small b');
  expect(await readFile(into('net/a.copy'), 'utf8')).toBe('small a');
  expect(await readFile(into('large.copy'))).toEqual(Buffer.alloc(200 * 1024, 3));
  expect(await readFile(into('link.copy'), 'utf8')).toBe('small a');
  await expect(driver.readToFile('out.txt', into('out.copy'), {})).rejects.toMatchObject({
    code: 'permission_denied',
  });
  await expect(driver.readToFile('fifo', into('fifo.copy'), {})).rejects.toMatchObject({ code: 'not_found' });
  await expect(driver.readToFile('missing', into('missing.copy'), {})).rejects.toMatchObject({
    code: 'not_found',
  });
  await driver.close?.();
});

it("a listing reads a local disk's directories and stats their files synchronously, a network mount's off the thread", async () => {
  const store = join(base, 'store');
  await mkdir(join(store, 'net'), { recursive: true });
  await writeFile(join(store, 'a.txt'), 'a');
  await writeFile(join(store, 'net', 'b.txt'), 'bb');
  const driver = await LocalDriver.open(store);
  const listed = [];
  for await (const entry of driver.list('', { recursive: true })) if (!entry.isDir) listed.push(entry);
  expect(listed.map(({ key, size }) => [key, size]).sort()).toEqual([
    ['a.txt', 1],
    ['net/b.txt', 2],
  ]);
  expect(seen.stats).toEqual(['a.txt']);
  expect(seen.dirs).toBe(1);
  await driver.close?.();
});
