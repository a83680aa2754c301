import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { DriverCopyOptions, DriverEntry, DriverStat, DriverWriteResult } from './driver.js';
import type { RangeSource } from './engines/ranged-read.js';
import { ArtifactsError } from './errors.js';
import type { ListPage } from './object-store.js';
import { type ObjectAddress, ObjectStoreDriver } from './object-store-driver.js';
import type { ObjectListing, ObjectListRequest } from './object-tree.js';

interface Stored {
  data: Buffer;
  version: number;
}

/** A bucket in memory behind the base class: only the primitives, as a store gives them. */
class MemoryStore extends ObjectStoreDriver {
  readonly capabilities = {
    rangeRead: true,
    directories: false,
    checksums: [],
    multipartUpload: false,
    presign: false,
    serverSideCopy: true,
  };
  readonly objects = new Map<string, Stored>();
  readonly mapped: Array<{ what: string; key: string | undefined }> = [];
  readonly pins: Array<string | undefined> = [];
  readonly copies: Array<{ from: ObjectAddress; to: ObjectAddress }> = [];
  /** Runs before each ranged GET is answered (a concurrent writer, say). */
  beforeRange: ((start: number) => void) | undefined;
  failStat: Error | undefined;
  readonly transport: { destroyed: number; destroy(): void };

  constructor(
    root: string,
    readonly pageSize = 2,
  ) {
    const transport = {
      destroyed: 0,
      destroy() {
        this.destroyed++;
      },
    };
    super({
      bucket: 'bkt',
      root,
      secrets: [],
      reads: { partSize: 4, concurrency: 1 },
      copyScope: 'memory',
      transport,
    });
    this.transport = transport;
  }

  put(name: string, text: string): void {
    const version = (this.objects.get(name)?.version ?? 0) + 1;
    this.objects.set(name, { data: Buffer.from(text), version });
  }

  protected mapError(error: unknown, what: string, key: string | undefined): unknown {
    this.mapped.push({ what, key });
    return error;
  }

  protected describe(key: string): string {
    return `mem://bkt/${this.names.name(key)}`;
  }

  protected rangeSource(key: string): RangeSource {
    const name = this.names.name(key);
    return {
      readRange: async (request) => {
        this.pins.push(request.pin);
        this.beforeRange?.(request.start);
        const object = this.objects.get(name);
        if (!object) throw ArtifactsError.notFound(name);
        if (request.pin !== undefined && request.pin !== String(object.version))
          throw new ArtifactsError('failed_precondition', `${name} changed`);
        const end = Math.min(request.end, object.data.length - 1);
        return {
          stream: Readable.from([object.data.subarray(request.start, end + 1)]),
          served: { start: request.start, end },
          totalSize: object.data.length,
          pin: String(object.version),
        };
      },
    };
  }

  protected async listPage(request: ObjectListRequest): Promise<ListPage<ObjectListing>> {
    const names = [...this.objects.keys()].filter((name) => name.startsWith(request.prefix)).sort();
    const objects: ObjectListing['objects'][number][] = [];
    const prefixes = new Set<string>();
    for (const name of names) {
      const rest = name.slice(request.prefix.length);
      const slash = rest.indexOf('/');
      if (!request.recursive && slash !== -1 && slash < rest.length - 1)
        prefixes.add(request.prefix + rest.slice(0, slash + 1));
      else objects.push({ name, size: this.objects.get(name)!.data.length });
    }
    const all = [...objects];
    const start = Number(request.token ?? 0);
    const size = request.limit ?? this.pageSize;
    const page = all.slice(start, start + size);
    const next = start + size < all.length ? String(start + size) : undefined;
    return { page: { objects: page, prefixes: start === 0 ? [...prefixes] : [] }, next };
  }

  protected async statObject(key: string): Promise<DriverStat | undefined> {
    if (this.failStat) throw this.failStat;
    const object = this.objects.get(this.names.name(key));
    return object ? { key, isDir: false, size: object.data.length, etag: String(object.version) } : undefined;
  }

  protected async deleteObjects(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.objects.delete(this.names.name(key));
  }

  protected async copyObject(from: ObjectAddress, to: ObjectAddress, _options: DriverCopyOptions) {
    this.copies.push({ from, to });
    const object = this.objects.get(from.name);
    if (!object) throw ArtifactsError.notFound(from.name);
    this.objects.set(to.name, { ...object });
  }

  async write(key: string, body: Readable): Promise<DriverWriteResult | undefined> {
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(chunk as Buffer);
    this.put(this.names.name(key), Buffer.concat(chunks).toString());
    return undefined;
  }
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function all(entries: AsyncIterable<DriverEntry>): Promise<DriverEntry[]> {
  const out: DriverEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

describe('ObjectStoreDriver', () => {
  it('deletes the key and everything under key/, never a sibling sharing the prefix', async () => {
    const store = new MemoryStore('root');
    // `foo//x` is a name no artifact path can have: listed as a marker only, and deleted with `foo`.
    for (const name of ['foo', 'foo/a', 'foo/b/c', 'foo/b/', 'foo//x', 'foobar', 'foo.txt', 'fo/o'])
      store.put(`root/${name}`, name);
    store.put('rootless', 'outside the root');
    await store.delete('foo', {});
    expect([...store.objects.keys()].sort()).toEqual([
      'root/fo/o',
      'root/foo.txt',
      'root/foobar',
      'rootless',
    ]);
  });

  it('stats an object, a directory (anything under key/), and nothing', async () => {
    const store = new MemoryStore('r');
    store.put('r/f.txt', 'hello');
    store.put('r/d/x', 'x');
    store.put('r/marked/', '');
    store.put('r/dd', 'not under d/');
    expect(await store.stat('f.txt', {})).toEqual({ key: 'f.txt', isDir: false, size: 5, etag: '1' });
    expect(await store.stat('d', {})).toEqual({ key: 'd', isDir: true });
    // An empty folder marker makes a directory too.
    expect(await store.stat('marked', {})).toEqual({ key: 'marked', isDir: true });
    // `d` holds `d/x`; `ddd` holds nothing, and `dd` (a file) is no directory of `d`'s.
    expect(await store.stat('ddd', {})).toBeUndefined();
    expect(await store.stat('', {})).toEqual({ key: '', isDir: true });
  });

  it('maps a failed stat with the operation and key', async () => {
    const store = new MemoryStore('r');
    store.failStat = new Error('refused');
    await expect(store.stat('k', {})).rejects.toThrow('refused');
    expect(store.mapped).toEqual([{ what: 'stat', key: 'k' }]);
  });

  it('reads in ranges pinned to the first answer: an object replaced mid-read fails, never mixes', async () => {
    const store = new MemoryStore('');
    store.put('a', 'abcdefghij');
    const whole = await store.read('a', {});
    expect(await text(whole.stream)).toBe('abcdefghij');
    // The first range names no version; every later one is pinned to the first answer's.
    expect(store.pins).toEqual([undefined, '1', '1']);

    store.pins.length = 0;
    store.beforeRange = (start) => {
      if (start === 4) store.put('a', 'ABCDEFGHIJ');
    };
    await expect(store.read('a', {}).then((result) => text(result.stream))).rejects.toMatchObject({
      code: 'failed_precondition',
      message: expect.stringContaining('the object changed while it was being read'),
    });
    expect(store.pins).toEqual([undefined, '1']);
  });

  it('lists direct children and, recursively, every file, across pages', async () => {
    const store = new MemoryStore('r', 2);
    for (const name of ['a.txt', 'd/x', 'd/y/z', 'd//w', 'e/', 'b.txt', 'c.txt'])
      store.put(`r/${name}`, name);
    const direct = await all(store.list('', { recursive: false }));
    expect(direct.map((e) => [e.key, e.isDir]).sort()).toEqual([
      ['a.txt', false],
      ['b.txt', false],
      ['c.txt', false],
      ['d', true],
      ['e', true],
    ]);
    const deep = await all(store.list('d', { recursive: true }));
    expect(deep.map((e) => e.key).sort()).toEqual(['d/x', 'd/y/z']);
  });

  it('copies within its scope by address, and closes its transport once', async () => {
    const store = new MemoryStore('r');
    store.put('r/src', 'data');
    const source = store.locate('src');
    expect(source).toEqual({ scope: 'memory', address: 'bkt/r/src' });
    await store.copy(source, 'dst', {});
    expect(store.copies).toEqual([
      { from: { bucket: 'bkt', name: 'r/src' }, to: { bucket: 'bkt', name: 'r/dst' } },
    ]);
    expect(store.objects.get('r/dst')?.data.toString()).toBe('data');
    await store.close();
    await store.close();
    expect(store.transport.destroyed).toBe(1);
  });
});
