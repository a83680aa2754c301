import { mkdir, mkdtemp, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dir, HELD_DESCRIPTORS, resolveBeneath, resolveReal } from './beneath.js';

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
    expect([direct.trail, direct.name]).toEqual([['a', 'b'], 'f.txt']);
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
    expect([at.trail, at.name]).toEqual([['a', 'new', 'deeper'], 'x']);
    expect(await whereIs(at.dir)).toBe(join(root, 'a', 'new', 'deeper'));
    await at.dir.close();
  });
});
