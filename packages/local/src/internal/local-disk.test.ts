import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { LocalDriver } from './driver.js';

// Which directories are on a local disk is the kernel's answer (`statfs`), and mounting a network
// file system needs privileges a test run may lack: core's `onLocalDisk` answers here as if
// `<store>/net` were an NFS or FUSE mount inside a store on a local disk, and the synchronous
// copies the driver makes are recorded.
const seen = vi.hoisted(() => ({ sync: [] as string[] }));
vi.mock('@artifacts/core', async (importOriginal) => {
  const core = await importOriginal<typeof import('@artifacts/core')>();
  return {
    ...core,
    onLocalDisk: async (path: string) => !/[/\\]net(?:[/\\]|$)/.test(path),
    intoTempFileSync: (...args: Parameters<typeof core.intoTempFileSync>) => {
      seen.sync.push(basename(args[0]));
      return core.intoTempFileSync(...args);
    },
  };
});

let base: string;
beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'artifacts-local-disk-'));
  seen.sync.length = 0;
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
