import { spawnSync } from 'node:child_process';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { ConnectionLife, ConnectionPool } from './connection-pool.js';
import type { DriverEntry, DriverWriteOptions } from './driver.js';
import { ArtifactsError } from './errors.js';
import {
  connectionErrorTest,
  deleteFilePath,
  type FileEntry,
  listFileTree,
  makeDirectories,
  NO_CONNECTIONS,
  type PathInfo,
  type PathKind,
  PooledFileDriver,
  RemoteFiles,
  type RemoteReplaceSteps,
  removeFileTree,
  renameOver,
} from './remote-files.js';
import { fileProtocolError } from './store-errors.js';
import { isTempName, tempNameFor } from './temp-name.js';

const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

describe('connectionErrorTest', () => {
  const test = connectionErrorTest({
    codes: ['ERR_STREAM_DESTROYED', 7],
    messages: /Channel not open/,
    match: (error) => (error as { level?: unknown }).level === 'client-socket',
  });

  it("knows core's signs and the protocol's own, through causes", () => {
    expect(test(reset())).toBe(true);
    expect(test(Object.assign(new Error('x'), { code: 'ERR_STREAM_DESTROYED' }))).toBe(true);
    expect(test(Object.assign(new Error('x'), { code: 7 }))).toBe(true);
    expect(test(new Error('Channel not open'))).toBe(true);
    expect(test(Object.assign(new Error('x'), { level: 'client-socket' }))).toBe(true);
    expect(test(new Error('wrapped', { cause: new Error('Channel not open') }))).toBe(true);
    expect(test(new ArtifactsError('unavailable', 'x', { cause: reset() }))).toBe(true);
  });

  it('says no to anything else', () => {
    expect(test(new Error('No such file'))).toBe(false);
    expect(test(Object.assign(new Error('x'), { code: 2 }))).toBe(false);
    // An ArtifactsError's own message is ours, not a library's: only its cause counts.
    expect(test(new ArtifactsError('not_found', 'Channel not open'))).toBe(false);
    expect(test(undefined)).toBe(false);
  });
});

describe('fileProtocolError', () => {
  it('says what failed, why, and the library message; temporary only when told', () => {
    const cause = reset();
    const error = fileProtocolError('unavailable', 'reading /a on ftp://u@h', cause, {
      protocol: 'FTP',
      temporary: true,
    });
    expect(error).toMatchObject({ code: 'unavailable', temporary: true, cause });
    expect(error.message).toBe('reading /a on ftp://u@h: the FTP connection failed (read ECONNRESET)');
    expect(fileProtocolError('not_found', 'w', 'gone', { protocol: 'SFTP' }).message).toBe(
      'w: no such file or directory (gone)',
    );
    expect(fileProtocolError('permission_denied', 'w', 'no', { protocol: 'SFTP' }).temporary).toBe(false);
    expect(fileProtocolError('unsupported', 'w', 'op', { protocol: 'SFTP' }).message).toBe('w failed (op)');
    expect(fileProtocolError('unavailable', 'w', 'x', { protocol: 'FTP', reason: 'busy' }).message).toBe(
      'w: busy (x)',
    );
  });
});

/** An in-memory file tree behind a pool of fake connections that can be killed. */
function fixture() {
  const files = new Map<string, string>();
  type Connection = { id: number; dead: boolean; life: ConnectionLife };
  const connections: Connection[] = [];
  const isConnectionError = connectionErrorTest({});
  const pool = new ConnectionPool(
    {
      create: async () => {
        const connection: Connection = { id: connections.length, dead: false, life: new ConnectionLife() };
        connections.push(connection);
        return connection;
      },
      destroy: (connection) => {
        connection.dead = true;
      },
      life: (connection) => connection.life,
      isConnectionError,
    },
    { maxConnections: 2, operationsPerConnection: 1, idleTimeoutMs: 0, label: 'mem://' },
  );
  const remote = new RemoteFiles(pool, {
    remove: async (connection, path) => {
      if (connection.dead) throw reset();
      files.delete(path);
    },
    list: async (_connection, dir) =>
      [...files.keys()]
        .filter((path) => path.startsWith(`${dir}/`) && !path.slice(dir.length + 1).includes('/'))
        .map((path) => ({ name: path.slice(dir.length + 1), isFile: true })),
    isConnectionError,
  });
  /** Steps that write `content` to the temporary file, failing as told. */
  const steps =
    (content: string, fail?: 'write' | 'write-and-die') =>
    (connection: Connection): RemoteReplaceSteps => ({
      // As the drivers do: drop the connection, which the pool then hears of.
      abort: () => {
        connection.dead = true;
        connection.life.die();
      },
      write: async (temp) => {
        files.set(temp, content.slice(0, 2));
        if (fail === 'write-and-die') connection.dead = true;
        if (fail) throw reset();
        files.set(temp, content);
      },
      rename: async (temp, target) => {
        files.set(target, files.get(temp)!);
        files.delete(temp);
      },
      remove: async (temp) => {
        if (connection.dead) throw reset();
        files.delete(temp);
      },
    });
  return { files, connections, pool, remote, steps };
}

describe('RemoteFiles', () => {
  it('writes through a temporary name and removes what a dead writer of this host left there', async () => {
    const { files, remote, steps, pool } = fixture();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const own = tempNameFor('a.bin');
    const dead = own.replace(/\.[0-9a-z]+-/, `.${Number(child.stdout.toString()).toString(36)}-`);
    files.set(`/d/${dead}`, 'left by kill -9');
    files.set(`/d/${own}`, 'a live writer of this process');
    await remote.write('/d/a.bin', {}, steps('whole'));
    expect([...files.keys()].sort()).toEqual([`/d/${own}`, '/d/a.bin'].sort());
    expect(files.get('/d/a.bin')).toBe('whole');
    await pool.close();
  });

  it('a failed write leaves nothing at the target and removes its temporary file', async () => {
    const { files, remote, steps, pool } = fixture();
    await expect(remote.write('/d/a.bin', {}, steps('whole', 'write'))).rejects.toThrow('ECONNRESET');
    expect([...files.keys()]).toEqual([]);
    await pool.close();
  });

  it('a temporary file its dead connection could not remove is removed over a fresh one', async () => {
    const { files, remote, steps, connections, pool } = fixture();
    await expect(remote.write('/d/a.bin', {}, steps('whole', 'write-and-die'))).rejects.toThrow();
    expect(connections.length).toBe(2);
    expect(remote.orphans).toBe(0);
    expect([...files.keys()]).toEqual([]);
    await pool.close();
  });

  it('leaves an orphan to the next operation when the sweep cannot run now, and never retries itself', async () => {
    const { files, remote, steps, pool } = fixture();
    const controller = new AbortController();
    const write = remote.write('/d/a.bin', { signal: controller.signal }, (connection) => {
      const s = steps('whole')(connection);
      return {
        ...s,
        write: async (temp) => {
          files.set(temp, 'pa');
          controller.abort(new Error('stalled'));
          throw reset();
        },
      };
    });
    await expect(write).rejects.toThrow('ECONNRESET');
    // Aborted: the connection was dropped, the temporary file is left for the next operation.
    expect(remote.orphans).toBe(1);
    let calls = 0;
    await remote.use(async () => {
      calls++;
    });
    expect(calls).toBe(1);
    expect(remote.orphans).toBe(0);
    expect([...files.keys()].filter((path) => isTempName(path))).toEqual([]);
    // A broken connection under `use` fails the call: core's retry layer is the one to repeat it.
    let tries = 0;
    await expect(
      remote.use(async () => {
        tries++;
        throw reset();
      }),
    ).rejects.toThrow('ECONNRESET');
    expect(tries).toBe(1);
    await pool.close();
  });

  it("takes only the signal from a caller's options: a retry in them never turns the pool's retry back on", async () => {
    const { remote, pool } = fixture();
    const controller = new AbortController();
    // A driver's write options carry core's retry policy (an object), a caller may pass a function.
    for (const retry of [() => true, { attempts: 3 }]) {
      let tries = 0;
      const options = { signal: controller.signal, retry };
      await expect(
        remote.use(async () => {
          tries++;
          throw reset();
          // @ts-expect-error: the type refuses a retry in the options (typecheck fails if it takes one)
        }, options),
      ).rejects.toThrow('ECONNRESET');
      expect(tries).toBe(1);
    }
    controller.abort(new Error('stop'));
    await expect(remote.use(async () => 1, { signal: controller.signal })).rejects.toThrow('stop');
    await pool.close();
  });
});

describe('removeFileTree', () => {
  /** A file tree in memory: directories are the paths some other path lies under. */
  function tree(paths: string[]) {
    const files = new Set(paths.filter((p) => !p.endsWith('/')));
    const dirs = new Set(paths.filter((p) => p.endsWith('/')).map((p) => p.slice(0, -1)));
    const log: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const io = {
      async list(dir: string) {
        const names = new Map<string, boolean>();
        for (const p of [...files, ...dirs]) {
          if (!p.startsWith(`${dir}/`)) continue;
          const rest = p.slice(dir.length + 1);
          const name = rest.split('/')[0]!;
          names.set(name, rest.includes('/') || dirs.has(`${dir}/${name}`));
        }
        // What a confused server might also list.
        return [
          ...[...names].map(([name, isDir]) => ({ name, isDir })),
          { name: '..', isDir: true },
          { name: 'x/../../etc', isDir: false },
        ];
      },
      async removeFile(path: string) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        log.push(`rm ${path}`);
        files.delete(path);
      },
      async removeDir(path: string) {
        if ([...files, ...dirs].some((p) => p.startsWith(`${path}/`)))
          throw new Error(`${path} is not empty`);
        log.push(`rmdir ${path}`);
        dirs.delete(path);
      },
    };
    return { io, files, dirs, log, maxInFlight: () => maxInFlight };
  }

  it('removes every file, then every directory after its children; the directory itself stays', async () => {
    const t = tree(['/r/a', '/r/b', '/r/d/c', '/r/d/e/f', '/r/d/e/g', '/r/empty/', '/rx/sibling']);
    await removeFileTree('/r', t.io, { concurrency: 3 });
    expect([...t.files]).toEqual(['/rx/sibling']);
    expect([...t.dirs]).toEqual([]);
    expect(t.log.filter((l) => l.startsWith('rmdir'))).toEqual([
      'rmdir /r/d/e',
      'rmdir /r/d',
      'rmdir /r/empty',
    ]);
    expect(t.maxInFlight()).toBe(3);
  });

  it('stops when the signal aborts, and at the first failure', async () => {
    const t = tree(['/r/a', '/r/b']);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(removeFileTree('/r', t.io, { concurrency: 1, signal: controller.signal })).rejects.toThrow(
      'stop',
    );
    expect(t.files.size).toBe(2);
    t.io.removeFile = async () => {
      throw new Error('denied');
    };
    await expect(removeFileTree('/r', t.io, { concurrency: 2 })).rejects.toThrow('denied');
  });
});

/** A file system in memory, as a file protocol's primitives see it (POSIX paths, no links). */
function memoryFs(paths: string[] = []) {
  const files = new Map<string, number>();
  const dirs = new Set<string>(['/']);
  const addParents = (path: string) => {
    for (
      let d = path.slice(0, path.lastIndexOf('/')) || '/';
      !dirs.has(d);
      d = d.slice(0, d.lastIndexOf('/')) || '/'
    )
      dirs.add(d);
  };
  for (const p of paths) {
    if (p.endsWith('/')) {
      dirs.add(p.slice(0, -1));
      addParents(p.slice(0, -1));
    } else {
      files.set(p, p.length);
      addParents(p);
    }
  }
  const parentOf = (path: string) => path.slice(0, path.lastIndexOf('/')) || '/';
  const kind = async (path: string): Promise<PathKind> =>
    dirs.has(path) ? 'dir' : files.has(path) ? 'file' : undefined;
  const calls: string[] = [];
  const io = {
    kind,
    isConnectionError: (error: unknown) => (error as { code?: string }).code === 'ECONNRESET',
    async mkdir(path: string) {
      calls.push(`mkdir ${path}`);
      if (!dirs.has(parentOf(path))) throw Object.assign(new Error('no such parent'), { code: 2 });
      if ((await kind(path)) !== undefined) throw new Error('failure');
      dirs.add(path);
    },
    async rename(from: string, to: string) {
      calls.push(`rename ${from} ${to}`);
      if ((await kind(to)) !== undefined && !io.replaces) throw new Error('failure');
      if (dirs.has(to)) throw new Error('failure');
      files.set(to, files.get(from)!);
      files.delete(from);
    },
    async remove(path: string) {
      calls.push(`remove ${path}`);
      files.delete(path);
    },
    replaces: false,
  };
  return { files, dirs, io, calls };
}

describe('listFileTree', () => {
  const listing: Record<string, FileEntry[]> = {
    '': [
      { name: 'a.txt', isDir: false, size: 1 },
      { name: 'd', isDir: true },
      { name: '.a.txt.1-0123abcd-0123456789ab.artifacts-tmp', isDir: false, size: 9 },
      { name: '..', isDir: true },
      { name: '', isDir: false },
      { name: 'x/../../etc', isDir: false },
    ],
    d: [
      { name: 'b.bin', isDir: false },
      { name: 'e', isDir: true },
    ],
    'd/e': [{ name: 'c', isDir: false, size: 3 }],
  };
  const collect = async (it: AsyncIterable<DriverEntry>) => {
    const out: DriverEntry[] = [];
    for await (const entry of it) out.push(entry);
    return out;
  };

  it('walks breadth first, never yielding temporary names, dot entries or names with a slash', async () => {
    const asked: string[] = [];
    const entries = await collect(
      listFileTree('', { recursive: true }, async (key) => {
        asked.push(key);
        return listing[key] ?? [];
      }),
    );
    expect(entries).toEqual([
      { key: 'a.txt', isDir: false, size: 1 },
      { key: 'd', isDir: true },
      { key: 'd/b.bin', isDir: false },
      { key: 'd/e', isDir: true },
      { key: 'd/e/c', isDir: false, size: 3 },
    ]);
    expect(asked).toEqual(['', 'd', 'd/e']);
    // Not recursive: one directory, below a prefix.
    expect(await collect(listFileTree('d', { recursive: false }, async (key) => listing[key] ?? []))).toEqual(
      [
        { key: 'd/b.bin', isDir: false },
        { key: 'd/e', isDir: true },
      ],
    );
  });

  it('sends each directory through the retry layer as one page, and takes paged listings as they come', async () => {
    let failures = 1;
    const pages: number[] = [];
    const page = async <T>(request: () => Promise<T>): Promise<T> => {
      pages.push(1);
      try {
        return await request();
      } catch {
        return request();
      }
    };
    const entries = await collect(
      listFileTree('', { recursive: true, page }, async (key) => {
        if (key === 'd' && failures-- > 0) throw new Error('temporary');
        return listing[key] ?? [];
      }),
    );
    expect(entries).toHaveLength(5);
    expect(pages).toHaveLength(3);
    async function* paged(key: string) {
      for (const entry of listing[key] ?? []) yield entry;
    }
    expect(await collect(listFileTree('', { recursive: true }, paged))).toEqual(entries);
  });
});

describe('makeDirectories', () => {
  it('makes a directory and its missing parents; says whether it made the directory itself', async () => {
    const fs = memoryFs(['/r/']);
    expect(await makeDirectories('/r/a/b/c', fs.io)).toBe(true);
    expect([...fs.dirs]).toEqual(expect.arrayContaining(['/r/a', '/r/a/b', '/r/a/b/c']));
    expect(await makeDirectories('/r/a/b', fs.io)).toBe(false);
    expect(await makeDirectories('/', fs.io)).toBe(false);
  });

  it('asks no kind where the protocol says the parent is missing', async () => {
    const fs = memoryFs(['/r/']);
    const kind = vi.fn(fs.io.kind);
    const io = {
      ...fs.io,
      kind,
      parentMissing: (error: unknown) => (error as { code?: unknown }).code === 2,
    };
    expect(await makeDirectories('/r/a/b', io)).toBe(true);
    expect(kind).not.toHaveBeenCalled();
  });

  it('a directory made meanwhile by another writer is fine; a file in the way is failed_precondition', async () => {
    const fs = memoryFs(['/r/']);
    const io = {
      ...fs.io,
      async mkdir(path: string) {
        fs.dirs.add(path);
        throw new Error('failure');
      },
    };
    expect(await makeDirectories('/r/a', io)).toBe(false);
    const withFile = memoryFs(['/r/a']);
    const error = await makeDirectories('/r/a/b', withFile.io).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'failed_precondition',
      message: 'cannot create directory /r/a: a file exists at that path',
    });
  });

  it('a broken connection fails at once, asking nothing more', async () => {
    const fs = memoryFs(['/r/']);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const io = { ...fs.io, kind: vi.fn(fs.io.kind), mkdir: async () => Promise.reject(reset) };
    await expect(makeDirectories('/r/a', io)).rejects.toBe(reset);
    expect(io.kind).not.toHaveBeenCalled();
  });
});

describe('renameOver', () => {
  it('replaces a file where the rename refuses to: removes it and renames again', async () => {
    const fs = memoryFs(['/r/t.tmp', '/r/t']);
    await renameOver('/r/t.tmp', '/r/t', fs.io);
    expect([...fs.files.keys()]).toEqual(['/r/t']);
    expect(fs.calls).toEqual(['rename /r/t.tmp /r/t', 'remove /r/t', 'rename /r/t.tmp /r/t']);
  });

  it('a rename that replaces by itself is never split into remove and rename', async () => {
    const fs = memoryFs(['/r/t.tmp', '/r/t']);
    fs.io.replaces = true;
    await renameOver('/r/t.tmp', '/r/t', fs.io);
    expect(fs.calls).toEqual(['rename /r/t.tmp /r/t']);
    const failing = { ...fs.io, rename: async () => Promise.reject(new Error('failure')) };
    fs.files.set('/r/u.tmp', 1);
    await expect(renameOver('/r/u.tmp', '/r/t', failing)).rejects.toThrow('failure');
    expect(fs.files.has('/r/t')).toBe(true);
  });

  it('a directory at the target is failed_precondition, and left alone', async () => {
    const fs = memoryFs(['/r/t.tmp', '/r/t/inner']);
    const error = await renameOver('/r/t.tmp', '/r/t', fs.io).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'failed_precondition',
      message: 'cannot write /r/t: a directory exists at that path',
    });
    expect(fs.calls).toEqual(['rename /r/t.tmp /r/t']);
  });
});

describe('deleteFilePath', () => {
  function io(fs: ReturnType<typeof memoryFs>) {
    return {
      kind: fs.io.kind,
      async list(dir: string) {
        const names = new Map<string, boolean>();
        for (const p of [...fs.files.keys(), ...fs.dirs]) {
          if (!p.startsWith(`${dir}/`)) continue;
          const [name, ...rest] = p.slice(dir.length + 1).split('/');
          names.set(name!, rest.length > 0 || fs.dirs.has(`${dir}/${name}`));
        }
        return [...names].map(([name, isDir]) => ({ name, isDir }));
      },
      async removeFile(path: string) {
        fs.files.delete(path);
      },
      async removeDir(path: string) {
        fs.dirs.delete(path);
      },
    };
  }

  it('deletes a file, a whole tree, or empties a kept directory; nothing there is no error', async () => {
    const fs = memoryFs(['/r/a', '/r/d/b', '/r/d/e/c', '/rx/sibling']);
    await deleteFilePath('/r/a', io(fs), { concurrency: 2 });
    expect(fs.files.has('/r/a')).toBe(false);
    await deleteFilePath('/r/d', io(fs), { concurrency: 2 });
    expect([...fs.files.keys()]).toEqual(['/rx/sibling']);
    expect(fs.dirs.has('/r/d')).toBe(false);
    await deleteFilePath('/r/missing', io(fs), { concurrency: 2 });
    const kept = memoryFs(['/r/a', '/r/d/b']);
    await deleteFilePath('/r', io(kept), { concurrency: 2, keep: true });
    expect([...kept.files.keys()]).toEqual([]);
    expect([...kept.dirs]).toEqual(expect.arrayContaining(['/r']));
    expect(kept.dirs.has('/r/d')).toBe(false);
  });
});

describe('RemoteFiles over NO_CONNECTIONS (a protocol whose client keeps its own connections)', () => {
  it('writes atomically and removes an orphaned temporary file before the next write', async () => {
    const fs = memoryFs(['/r/']);
    let unreachable = true;
    const files = new RemoteFiles(NO_CONNECTIONS, {
      remove: async (_, path) => {
        if (unreachable) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        fs.files.delete(path);
      },
      list: async () => [],
      isConnectionError: (error) => (error as { code?: string }).code === 'ECONNREFUSED',
    });
    const steps = (fail: boolean) => ({
      write: async (temp: string) => {
        fs.files.set(temp, 1);
        if (fail) throw new Error('the upload broke');
      },
      rename: (temp: string, target: string) => fs.io.rename(temp, target),
      remove: (temp: string) => files.io.remove(undefined, temp),
    });
    await expect(files.write('/r/a', {}, () => steps(true))).rejects.toThrow('the upload broke');
    expect(files.orphans).toBe(1);
    unreachable = false;
    await files.write('/r/a', {}, () => steps(false));
    expect([...fs.files.keys()]).toEqual(['/r/a']);
    expect(files.orphans).toBe(0);
    const aborted = AbortSignal.abort(new Error('stop'));
    await expect(files.use(async () => 1, { signal: aborted })).rejects.toThrow('stop');
  });
});

describe('PooledFileDriver', () => {
  const SETTINGS = {
    root: '/r',
    secrets: ['s3cret'],
    password: 's3cret',
    maxConnections: 2,
    idleTimeoutMs: 0,
    label: 'mem://',
  };
  type Connection = { life: ConnectionLife };
  /** A file tree in memory: `dirs`, `stored` (files' content), `links` (path → target), over one fake pool. */
  class MemoryFileDriver extends PooledFileDriver<Connection> {
    readonly dirs = new Set(['/r']);
    readonly stored = new Map<string, string>();
    readonly links = new Map<string, string>();
    protected readonly deleteConcurrency = 4;
    constructor(operationsPerConnection = 1) {
      super(
        {
          create: async () => ({ life: new ConnectionLife() }),
          destroy: () => undefined,
          life: (connection) => connection.life,
          isConnectionError: connectionErrorTest({}),
        },
        // A backend's settings, its password included, as the sftp and ftp drivers pass theirs.
        { ...SETTINGS, operationsPerConnection },
        {
          protocol: 'MEM',
          status: (error) => (/^EEXIST/.test((error as Error).message) ? 17 : undefined),
          codes: { 17: { code: 'failed_precondition', reason: 'exists' } },
        },
      );
    }
    protected async info(_c: Connection, path: string, follow: boolean): Promise<PathInfo | undefined> {
      const target = this.links.get(path);
      if (target !== undefined) return follow ? this.info(_c, target, true) : { isDir: false };
      if (this.dirs.has(path)) return { isDir: true };
      const content = this.stored.get(path);
      return content === undefined ? undefined : { isDir: false, size: content.length };
    }
    protected async entries(_c: Connection, path: string) {
      // Listing a link to a directory lists the directory, as a server does.
      const dir = this.links.get(path) ?? path;
      if (!this.dirs.has(dir)) return undefined;
      const children = [...this.dirs, ...this.stored.keys(), ...this.links.keys()].filter(
        (path) => posix.dirname(path) === dir && path !== dir,
      );
      return children.map((path) => ({
        name: posix.basename(path),
        isDir: this.dirs.has(path),
        isLink: this.links.has(path),
        size: this.stored.get(path)?.length,
      }));
    }
    protected async makeDirectory(_c: Connection, path: string) {
      if (!this.dirs.has(posix.dirname(path)) || this.stored.has(path)) throw new Error(`EEXIST ${path}`);
      this.dirs.add(path);
    }
    protected replaces() {
      return true;
    }
    protected async rename(_c: Connection, from: string, to: string) {
      this.stored.set(to, this.stored.get(from)!);
      this.stored.delete(from);
    }
    protected async removeFile(_c: Connection, path: string) {
      this.stored.delete(path);
      this.links.delete(path);
    }
    protected async removeDir(_c: Connection, path: string) {
      this.dirs.delete(path);
    }
    async read(): Promise<never> {
      throw new Error('not used');
    }
    async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
      const target = this.path(key);
      await this.run('writing', target, () =>
        this.files.write(target, options, (connection) => ({
          write: async (temp) => {
            await this.makeDirectories(connection, posix.dirname(target));
            this.stored.set(temp, String(body.read() ?? ''));
          },
          rename: (temp) => renameOver(temp, target, this.io(connection)),
          remove: (temp) => this.removeFile(connection, temp),
        })),
      );
      return undefined;
    }
  }

  it('stats, lists links as their targets, makes directories, deletes trees and keeps the root', async () => {
    const driver = new MemoryFileDriver();
    await driver.write('a/b/c.txt', Readable.from([Buffer.from('abc')]), {});
    await driver.mkdir('e/f', {});
    driver.stored.set(`/r/a/${tempNameFor('x')}`, 'a writer still at work');
    driver.links.set('/r/a/to-c', '/r/a/b/c.txt');
    driver.links.set('/r/a/to-e', '/r/e');
    driver.links.set('/r/a/dangling', '/r/nowhere');
    expect(await driver.stat('a/b/c.txt', {})).toEqual({ key: 'a/b/c.txt', isDir: false, size: 3 });
    expect(await driver.stat('e', {})).toEqual({ key: 'e', isDir: true });
    expect(await driver.stat('none', {})).toBeUndefined();
    const listed = [];
    for await (const entry of driver.list('a', { recursive: true })) listed.push(entry);
    expect(listed.sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a/b', isDir: true },
      { key: 'a/b/c.txt', isDir: false, size: 3 },
      { key: 'a/to-c', isDir: false, size: 3 },
      { key: 'a/to-e', isDir: true },
      { key: 'a/to-e/f', isDir: true },
    ]);
    // A link is removed, never followed: what it points to stays.
    await driver.delete('a', {});
    expect([...driver.stored.keys()]).toEqual([]);
    expect([...driver.links.keys()]).toEqual([]);
    expect([...driver.dirs].sort()).toEqual(['/r', '/r/e', '/r/e/f']);
    await driver.delete('', {});
    expect([...driver.dirs]).toEqual(['/r']);
    await driver.delete('none', {});
    await driver.close();
  });

  it('deletes over one connection where the protocol multiplexes requests, else over the whole pool', async () => {
    for (const [operationsPerConnection, connections] of [
      [8, 1],
      [1, 2],
    ] as const) {
      const driver = new MemoryFileDriver(operationsPerConnection);
      for (const name of ['a', 'b', 'c', 'd', 'e']) driver.stored.set(`/r/t/${name}`, name);
      driver.dirs.add('/r/t');
      await driver.delete('t', {});
      expect([...driver.stored.keys()]).toEqual([]);
      expect([...driver.dirs]).toEqual(['/r']);
      expect(driver.pool.openedConnections).toBe(connections);
      await driver.close();
    }
  });

  it('hands the pool only its own options, never the credentials beside them', async () => {
    const driver = new MemoryFileDriver();
    expect(driver.pool.options).toEqual({
      maxConnections: 2,
      operationsPerConnection: 1,
      idleTimeoutMs: 0,
      label: 'mem://',
    });
    expect(JSON.stringify(driver.pool.options)).not.toContain('s3cret');
    await driver.close();
  });

  it("maps a failure by the protocol's error table; a broken connection (the factory's test) is temporary", async () => {
    const driver = new MemoryFileDriver();
    const fail = (error: unknown) =>
      (driver as unknown as { fail(e: unknown, w: string): ArtifactsError }).fail(error, 'writing /r/a');
    const exists = fail(new Error('EEXIST /r/a'));
    expect([exists.code, exists.temporary, exists.message]).toEqual([
      'failed_precondition',
      false,
      'writing /r/a: exists (EEXIST /r/a)',
    ]);
    const dropped = fail(reset());
    expect([dropped.code, dropped.temporary, dropped.message]).toEqual([
      'unavailable',
      true,
      'writing /r/a: the MEM connection failed (read ECONNRESET)',
    ]);
    const odd = new Error('odd');
    expect(fail(odd)).toBe(odd);
    await driver.close();
  });

  it("names what was done to which path in a mapped failure; core's own errors pass as they are", async () => {
    const driver = new MemoryFileDriver();
    driver.stored.set('/r/file', 'x');
    await expect(driver.mkdir('file/sub', {})).rejects.toMatchObject({
      code: 'failed_precondition',
      message: 'cannot create directory /r/file: a file exists at that path',
    });
    driver.dirs.delete('/r');
    await expect(driver.mkdir('x', {})).rejects.toMatchObject({
      code: 'failed_precondition',
      message: 'creating directory /r/x on mem://: exists (EEXIST /r)',
    });
    await driver.close();
  });
});
