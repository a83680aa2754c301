import { describe, expect, it } from 'vitest';
import { deleteTree } from './delete.js';
import type { DriverEntry, DriverListOptions, OperationOptions, StorageDriver } from './driver.js';
import { ArtifactsError } from './errors.js';
import { ObjectNames } from './object-store.js';
import { mappedCalls, type ObjectListRequest, ObjectTree } from './object-tree.js';

/** A bucket of names (a folder flag for Azure-style folder blobs), listed two objects a page. */
function bucket(root: string, names: Record<string, boolean>) {
  const objects = new Map(Object.entries(names));
  const requests: ObjectListRequest[] = [];
  const tree = new ObjectTree(new ObjectNames(root), async (request) => {
    requests.push(request);
    const under = [...objects.keys()].filter((name) => name.startsWith(request.prefix)).sort();
    const items: { name: string; size: number; folder: boolean }[] = [];
    const prefixes = new Set<string>();
    for (const name of under) {
      const rest = name.slice(request.prefix.length);
      const slash = rest.indexOf('/');
      if (!request.recursive && slash !== -1 && slash < rest.length - 1)
        prefixes.add(request.prefix + rest.slice(0, slash + 1));
      else if (!request.recursive && slash === rest.length - 1 && rest !== '')
        prefixes.add(request.prefix + rest);
      else items.push({ name, size: name.length, folder: objects.get(name)! });
    }
    const start = Number(request.token ?? 0);
    const size = request.limit ?? 2;
    const next = start + size < items.length ? String(start + size) : undefined;
    // Every prefix on every page, as fake-gcs-server does.
    return { page: { objects: items.slice(start, start + size), prefixes: [...prefixes] }, next };
  });
  const driver = {
    list: (key: string, options: DriverListOptions) => tree.list(key, options),
    delete: async () => {},
    deleteMany: async (keys: readonly string[], _o: OperationOptions) => {
      deleted.push([...keys]);
      for (const key of keys) objects.delete(`${root}/${key}`);
    },
  } as unknown as StorageDriver;
  const deleted: string[][] = [];
  return { tree, objects, requests, driver, deleted };
}

const collect = async (entries: AsyncIterable<DriverEntry>) => {
  const out: string[] = [];
  for await (const e of entries) out.push(`${e.key}${e.isDir ? '/' : ''}${e.marker ? ' (marker)' : ''}`);
  return out.sort();
};

describe('ObjectTree', () => {
  const names = {
    'r/run': true,
    'r/run/': false,
    'r/run/a.txt': false,
    'r/run/empty': true,
    'r/run/sub/': false,
    'r/run/sub/b.txt': false,
    'r/run2/keep.txt': false,
    'r/': false,
  };

  it('lists folder markers as directories (once), never as files, and recursive listings as files only', async () => {
    const { tree } = bucket('r', names);
    expect(await collect(tree.list('', { recursive: false }))).toEqual(['run/', 'run2/']);
    expect(await collect(tree.list('run', { recursive: false }))).toEqual([
      'run/a.txt',
      'run/empty/',
      'run/sub/',
    ]);
    expect(await collect(tree.list('', { recursive: true }))).toEqual([
      'run/a.txt',
      'run/sub/b.txt',
      'run2/keep.txt',
    ]);
    expect(await collect(tree.list('run', { recursive: true, markers: true }))).toEqual([
      'run/ (marker)',
      'run/a.txt',
      'run/empty (marker)',
      'run/sub/ (marker)',
      'run/sub/b.txt',
    ]);
  });

  it('hasChildren probes one object under key/, a marker counting', async () => {
    const { tree, requests } = bucket('r', names);
    expect(await tree.hasChildren('run/sub', 'stat')).toBe(true);
    expect(await tree.hasChildren('run/empty', 'stat')).toBe(false);
    expect(requests.at(-1)).toMatchObject({
      what: 'stat',
      prefix: 'r/run/empty/',
      recursive: true,
      limit: 1,
    });
  });

  it('deleteTree removes the markers after the files, the deepest first, never a sibling', async () => {
    const { objects, driver, deleted } = bucket('r', names);
    await deleteTree(driver, 'run', {});
    expect([...objects.keys()].sort()).toEqual(['r/', 'r/run2/keep.txt']);
    expect(deleted).toEqual([['run', 'run/a.txt', 'run/sub/b.txt'], ['run/empty', 'run/sub/'], ['run/']]);
  });
});

describe('mappedCalls', () => {
  it("replaces a call's failure by the mapping's error, naming what and which key", async () => {
    const run = mappedCalls(
      async (error, what, key) => new ArtifactsError('unavailable', `${what} ${key}: ${String(error)}`),
    );
    expect(await run('stat', 'a', async () => 1)).toBe(1);
    await expect(
      run('stat', 'a', async () => {
        throw 'boom';
      }),
    ).rejects.toThrow('stat a: boom');
  });
});
