import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AbandonedTemps,
  isAbandonedTemp,
  isTempName,
  OrphanTemps,
  replaceAtomically,
  TEMP_MAX_AGE_MS,
  tempAgeMatters,
  tempNameFor,
  tempOwner,
  tempPathFor,
} from './temp-name.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'temp-name-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (name: string) => Buffer.byteLength(name);

describe('tempNameFor', () => {
  it('keeps long names under NAME_MAX and creates them on a real file system (240-255 bytes)', async () => {
    for (const length of [240, 250, 255]) {
      const name = 'n'.repeat(length);
      const temp = tempNameFor(name);
      expect(bytes(temp)).toBeLessThanOrEqual(255);
      await writeFile(join(dir, temp), 'x');
      await rename(join(dir, temp), join(dir, name));
      expect(await readFile(join(dir, name), 'utf8')).toBe('x');
    }
  });

  it('cuts a multi-byte name between characters, never inside one', async () => {
    // 85 three-byte characters (255 bytes), then 63 four-byte characters (252 bytes).
    for (const name of ['€'.repeat(85), '😀'.repeat(63)]) {
      const temp = tempNameFor(name);
      expect(bytes(temp)).toBeLessThanOrEqual(255);
      expect(temp).not.toContain('\uFFFD');
      expect(Buffer.from(temp, 'utf8').toString('utf8')).toBe(temp);
      expect(temp.startsWith(`.${name.slice(0, 10)}`)).toBe(true);
      await writeFile(join(dir, temp), 'x');
    }
  });

  it('gives a fresh name each time, recognised as temporary', () => {
    const a = tempNameFor('model.bin');
    const b = tempNameFor('model.bin');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^\.model\.bin\.[0-9a-z]+-[0-9a-f]{8}-[0-9a-f]{12}\.artifacts-tmp$/);
    expect(isTempName(a)).toBe(true);
    expect(isTempName(tempNameFor(''))).toBe(true);
    expect(isTempName(tempNameFor('a\nb'))).toBe(true);
  });

  it('keeps names distinct across many (more than one draw of random bytes) and cuts at the byte limit', () => {
    const names = Array.from({ length: 2000 }, () => tempNameFor('f'));
    expect(new Set(names).size).toBe(2000);
    expect(names.every((name) => isTempName(name))).toBe(true);
    // 40 three-byte characters are the 120 bytes kept; one more is cut.
    expect(tempNameFor('€'.repeat(40)).startsWith(`.${'€'.repeat(40)}.`)).toBe(true);
    expect(tempNameFor('€'.repeat(41)).startsWith(`.${'€'.repeat(40)}.`)).toBe(true);
    expect(tempNameFor('a'.repeat(121)).startsWith(`.${'a'.repeat(120)}.`)).toBe(true);
  });

  it('puts the temporary path beside the target', () => {
    expect(tempPathFor('/srv/x/a/b.txt')).toMatch(/^\/srv\/x\/a\/\.b\.txt\..*\.artifacts-tmp$/);
    expect(tempPathFor('b.txt')).toMatch(/^\.b\.txt\..*\.artifacts-tmp$/);
    expect(isTempName(tempPathFor('/srv/x/a/b.txt'))).toBe(true);
  });
});

describe('isTempName', () => {
  it('refuses ordinary names, including look-alikes a user may really have', () => {
    for (const name of [
      'model.bin',
      '.hidden',
      '.model.bin.part',
      '.x.artifacts-tmp',
      'x.1-abcdef01-0123456789ab.artifacts-tmp', // no leading dot
      '.x.1-abcdef01-0123456789ab.artifacts-tmp.bak',
      '.x.1-ABCDEF01-0123456789ab.artifacts-tmp',
    ]) {
      expect(isTempName(name), name).toBe(false);
    }
  });
});

describe('abandoned temporary files', () => {
  it('names this process as the owner and never calls its own files abandoned', () => {
    const temp = tempNameFor('a');
    expect(tempOwner(temp)).toEqual({ pid: process.pid, sameHost: true });
    expect(isAbandonedTemp(temp, 0)).toBe(false);
  });

  it('calls a dead local process\u2019s file abandoned at once, a live one\u2019s only when old', () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    const own = tempNameFor('a');
    const dead = own.replace(/\.[0-9a-z]+-/, `.${deadPid.toString(36)}-`);
    expect(tempOwner(dead)?.pid).toBe(deadPid);
    expect(isAbandonedTemp(dead, Date.now())).toBe(true);

    // PID 1 runs on every host; a name from another host can only be judged by its age.
    const live = own.replace(/\.[0-9a-z]+-/, `.${(1).toString(36)}-`);
    const elsewhere = own.replace(/-[0-9a-f]{8}-/, '-00000000-');
    for (const name of [live, elsewhere]) {
      expect(isAbandonedTemp(name, Date.now())).toBe(false);
      expect(isAbandonedTemp(name, undefined)).toBe(false);
      expect(isAbandonedTemp(name, Date.now() - TEMP_MAX_AGE_MS - 1000)).toBe(true);
      expect(isAbandonedTemp(name, new Date(Date.now() - 5000), { maxAgeMs: 1000 })).toBe(true);
    }
    expect(isAbandonedTemp('model.bin', 0)).toBe(false);
  });

  it('needs a file\u2019s age only where the name cannot judge it (a sweep stats no other file)', () => {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const own = tempNameFor('a');
    const dead = own.replace(/\.[0-9a-z]+-/, `.${Number(child.stdout.toString()).toString(36)}-`);
    const live = own.replace(/\.[0-9a-z]+-/, `.${(1).toString(36)}-`);
    const elsewhere = own.replace(/-[0-9a-f]{8}-/, '-00000000-');
    // This process's own writes in flight, and a killed writer's file: judged by the name.
    expect(tempAgeMatters(own)).toBe(false);
    expect(tempAgeMatters(dead)).toBe(false);
    expect(tempAgeMatters('model.bin')).toBe(false);
    // A live writer's file, or another host's: removed only once old, so its age is needed.
    expect(tempAgeMatters(live)).toBe(true);
    expect(tempAgeMatters(elsewhere)).toBe(true);
    // What the name decides agrees with isAbandonedTemp whatever the age.
    for (const name of [own, dead, 'model.bin']) {
      expect(isAbandonedTemp(name, 0)).toBe(isAbandonedTemp(name, Date.now()));
    }
  });
});

describe('AbandonedTemps', () => {
  function names() {
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const own = tempNameFor('model.bin');
    return {
      own,
      dead: own.replace(/\.[0-9a-z]+-/, `.${Number(child.stdout.toString()).toString(36)}-`),
      live: own.replace(/\.[0-9a-z]+-/, `.${(1).toString(36)}-`),
      elsewhere: own.replace(/-[0-9a-f]{8}-/, '-00000000-'),
    };
  }

  it('removes what dead writers left and old files of other hosts, once per directory', async () => {
    const { own, dead, live, elsewhere } = names();
    const old = Date.now() - TEMP_MAX_AGE_MS - 60_000;
    const oldElsewhere = elsewhere.replace(/-[0-9a-f]{12}\./, '-000000000000.');
    const entries = [
      { name: 'model.bin', modified: old },
      { name: own, modified: old - 1 },
      { name: dead, modified: Date.now() },
      { name: live, modified: Date.now() },
      { name: elsewhere, modified: Date.now() },
      { name: elsewhere.replace(/-[0-9a-f]{12}\./, '-111111111111.') },
      { name: oldElsewhere, modified: new Date(old) },
      { name: dead.replace(/-[0-9a-f]{12}\./, '-222222222222.'), isFile: false },
    ];
    const removed: string[] = [];
    let listings = 0;
    const io = {
      list: async () => {
        listings++;
        return entries;
      },
      remove: async (name: string) => {
        removed.push(name);
      },
    };
    const sweeps = new AbandonedTemps();
    expect(await sweeps.sweepOnce('/a', io, () => false)).toEqual([dead, oldElsewhere]);
    expect(removed).toEqual([dead, oldElsewhere]);
    expect(await sweeps.sweepOnce('/a', io, () => false)).toEqual([]);
    expect(listings).toBe(1);
    await sweeps.sweepOnce('/b', io, () => false);
    expect(listings).toBe(2);
    // A shorter age limit for other hosts' files.
    const quick = new AbandonedTemps({ maxAgeMs: 1000 });
    const recent = [{ name: elsewhere, modified: Date.now() - 5000 }];
    expect(
      await quick.sweepOnce('/a', { list: async () => recent, remove: async () => undefined }, () => false),
    ).toEqual([elsewhere]);
  });

  it('throws a fatal error and sweeps again on the next write; skips other failures', async () => {
    const { dead } = names();
    const other = dead.replace(/-[0-9a-f]{12}\./, '-333333333333.');
    const broken = new Error('connection lost');
    let fail: Error | undefined = broken;
    const removed: string[] = [];
    const io = {
      list: async () => {
        if (fail) throw fail;
        return [{ name: dead }, { name: other }];
      },
      remove: async (name: string) => {
        if (name === dead) throw new Error('permission denied');
        removed.push(name);
      },
    };
    const fatal = (error: unknown) => error === broken;
    const sweeps = new AbandonedTemps();
    await expect(sweeps.sweepOnce('/a', io, fatal)).rejects.toBe(broken);
    fail = new Error('no such directory');
    expect(await sweeps.sweepOnce('/a', io, fatal)).toEqual([]);
    fail = undefined;
    expect(await sweeps.sweepOnce('/a', io, fatal)).toEqual([other]);
    expect(removed).toEqual([other]);
  });
});

describe('replaceAtomically', () => {
  const fsSteps = {
    rename: (from: string, to: string) => rename(from, to),
    remove: (path: string) => rm(path, { force: true }),
  };

  it('writes to a temporary name and renames it over the target', async () => {
    const target = join(dir, 'x'.repeat(250));
    await writeFile(target, 'old');
    const seen: string[] = [];
    const temp = await replaceAtomically(target, {
      ...fsSteps,
      write: async (path) => {
        seen.push(...(await readdir(dir)));
        await writeFile(path, 'new');
      },
    });
    expect(isTempName(temp)).toBe(true);
    expect(seen).toEqual(['x'.repeat(250)]);
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['x'.repeat(250)]);
  });

  it('removes the temporary file and keeps the old target when the write fails', async () => {
    const target = join(dir, 'a.txt');
    await writeFile(target, 'old');
    const failure = new Error('stream broke');
    await expect(
      replaceAtomically(target, {
        ...fsSteps,
        write: async (path) => {
          await writeFile(path, 'half');
          throw failure;
        },
      }),
    ).rejects.toBe(failure);
    expect(await readdir(dir)).toEqual(['a.txt']);
    expect(await readFile(target, 'utf8')).toBe('old');
  });

  it('does not rename after an abort that came during the write', async () => {
    const target = join(dir, 'a.txt');
    const controller = new AbortController();
    await expect(
      replaceAtomically(
        target,
        {
          ...fsSteps,
          write: async (path) => {
            await writeFile(path, 'all');
            controller.abort(new Error('stop'));
          },
        },
        { signal: controller.signal },
      ),
    ).rejects.toThrow('stop');
    expect(await readdir(dir)).toEqual([]);
  });

  it('remembers a temporary file it cannot remove, and a sweep removes it later', async () => {
    const orphans = new OrphanTemps();
    const target = join(dir, 'a.txt');
    await expect(
      replaceAtomically(
        target,
        {
          write: (path) => writeFile(path, 'half'),
          rename: async () => {
            throw new Error('connection lost');
          },
          remove: async () => {
            throw new Error('connection lost');
          },
        },
        { orphans },
      ),
    ).rejects.toThrow('connection lost');
    expect(orphans.size).toBe(1);
    const [left] = await readdir(dir);
    expect(isTempName(left!)).toBe(true);

    // A broken connection during the sweep keeps the file for the next one.
    const broken = new Error('still down');
    await expect(
      orphans.sweep(
        async () => {
          throw broken;
        },
        (error) => error === broken,
      ),
    ).rejects.toBe(broken);
    expect(orphans.size).toBe(1);

    await orphans.sweep(
      (path) => rm(path),
      () => false,
    );
    expect(orphans.size).toBe(0);
    expect(await readdir(dir)).toEqual([]);
    await expect(stat(join(dir, left!))).rejects.toThrow(/ENOENT/);
  });
});
