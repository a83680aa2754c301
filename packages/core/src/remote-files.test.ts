import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConnectionLife, ConnectionPool } from './connection-pool.js';
import { ArtifactsError } from './errors.js';
import {
  connectionErrorTest,
  fileProtocolError,
  RemoteFiles,
  type RemoteReplaceSteps,
  removeFileTree,
} from './remote-files.js';
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
