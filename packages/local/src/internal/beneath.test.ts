import { mkdir, mkdtemp, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dir, HELD_DESCRIPTORS, resolveBeneath, resolveReal, SharedDirs } from './beneath.js';

let base: string;
let root: string;

beforeEach(async () => {
  base = await resolveReal(await mkdtemp(join(tmpdir(), 'artifacts-beneath-test-')));
  root = join(base, 'store');
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await mkdir(join(base, 'outside', 'b'), { recursive: true });
  await writeFile(join(root, 'a', 'b', 'f.txt'), 'inside');
});

afterEach(() => rm(base, { recursive: true, force: true }));

/** The real path of a held directory, as the kernel names it. */
async function whereIs(dir: Dir): Promise<string> {
  return dir.location.startsWith('/proc/') ? readlink(dir.location) : dir.location;
}

describe.runIf(HELD_DESCRIPTORS)("opening a key's directories in one step (Dir.openDirect)", () => {
  it('holds a plain directory of the store', async () => {
    const dir = await Dir.openDirect(root, ['a', 'b']);
    expect(dir).toBeDefined();
    expect(await whereIs(dir!)).toBe(join(root, 'a', 'b'));
    await dir!.close();
  });

  it('declines every path with a link on it, inside the store or out, and missing or odd paths', async () => {
    await symlink(join(root, 'a'), join(root, 'inner'));
    await symlink(join(base, 'outside'), join(root, 'evil'));
    await symlink('../outside', join(root, 'a', 'rel'));
    for (const parts of [
      ['inner', 'b'],
      ['evil', 'b'],
      ['evil'],
      ['a', 'rel', 'b'],
      ['missing'],
      ['a', '..', 'a'],
      ['a', '.', 'b'],
      ['a', '', 'b'],
      ['a', 'b', 'f.txt'],
    ]) {
      expect(await Dir.openDirect(root, parts), parts.join('/')).toBeUndefined();
    }
  });
});

describe('resolving a key (resolveBeneath)', () => {
  it('resolves through links inside the store as the walk always did, and refuses links out', async () => {
    await symlink('a', join(root, 'inner'));
    await symlink(join(base, 'outside'), join(root, 'evil'));
    const direct = await resolveBeneath(root, 'a/b/f.txt', ['a', 'b', 'f.txt']);
    expect([direct.trail, direct.name, direct.created]).toEqual([['a', 'b'], 'f.txt', false]);
    expect(await whereIs(direct.dir)).toBe(join(root, 'a', 'b'));
    await direct.dir.close();
    const linked = await resolveBeneath(root, 'inner/b/f.txt', ['inner', 'b', 'f.txt']);
    expect([linked.trail, linked.name]).toEqual([['a', 'b'], 'f.txt']);
    await linked.dir.close();
    await expect(resolveBeneath(root, 'evil/b/x', ['evil', 'b', 'x'])).rejects.toMatchObject({
      code: 'permission_denied',
    });
  });

  it('creates missing directories for a write and holds the new one', async () => {
    const at = await resolveBeneath(root, 'a/new/deeper/x', ['a', 'new', 'deeper', 'x'], { create: true });
    expect([at.trail, at.name, at.created]).toEqual([['a', 'new', 'deeper'], 'x', true]);
    expect(await whereIs(at.dir)).toBe(join(root, 'a', 'new', 'deeper'));
    await at.dir.close();
  });
});

describe.runIf(HELD_DESCRIPTORS)('directories shared by overlapping operations (SharedDirs)', () => {
  /** Descriptors this process holds on `path`. */
  async function held(path: string): Promise<number> {
    let count = 0;
    for (const fd of await readdir('/proc/self/fd')) {
      if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) count++;
    }
    return count;
  }

  it('resolves a directory once for the operations in it at the same time, and closes it after the last', async () => {
    const shared = new SharedDirs();
    const path = join(root, 'a', 'b');
    const [first, second] = await Promise.all([
      shared.open(root, ['a', 'b'], false),
      shared.open(root, ['a', 'b'], false),
    ]);
    expect(first.dir.location).toBe(second.dir.location);
    expect(await held(path)).toBe(1);
    await first.dir.close();
    expect(await held(path)).toBe(1);
    await second.dir.close();
    expect(await held(path)).toBe(0);
    // A later operation resolves it afresh: a directory replaced meanwhile is the new one.
    await rm(path, { recursive: true });
    await mkdir(path);
    const third = await shared.open(root, ['a', 'b'], false);
    expect(await readdir(third.dir.location)).toEqual([]);
    await third.dir.close();
  });

  it('creates a missing directory once for concurrent writes, and keeps no failed resolution', async () => {
    const shared = new SharedDirs();
    await expect(shared.open(root, ['a', 'new'], false)).rejects.toMatchObject({ code: 'ENOENT' });
    const writes = await Promise.all([1, 2, 3].map(() => shared.open(root, ['a', 'new', 'deeper'], true)));
    expect(new Set(writes.map((at) => at.dir.location)).size).toBe(1);
    expect(writes.map((at) => [at.trail, at.created])).toEqual(
      [1, 2, 3].map(() => [['a', 'new', 'deeper'], true]),
    );
    expect(await whereIs(writes[0]!.dir)).toBe(join(root, 'a', 'new', 'deeper'));
    for (const at of writes) await at.dir.close();
    const read = await shared.open(root, ['a', 'new'], false);
    expect([await whereIs(read.dir), read.created]).toEqual([join(root, 'a', 'new'), false]);
    await read.dir.close();
  });

  it('walks a path with a link on it, confined, and refuses one that leads out', async () => {
    await symlink('a', join(root, 'inner'));
    await symlink(join(base, 'outside'), join(root, 'evil'));
    const shared = new SharedDirs();
    const inner = await shared.open(root, ['inner', 'b'], false);
    expect([inner.trail, await whereIs(inner.dir)]).toEqual([['a', 'b'], join(root, 'a', 'b')]);
    await inner.dir.close();
    await expect(shared.open(root, ['evil', 'b'], true)).rejects.toMatchObject({ code: 'permission_denied' });
  });
});
