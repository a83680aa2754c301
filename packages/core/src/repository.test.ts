import { getEventListeners } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
import { ArtifactsError } from './errors.js';
import { createHasher } from './internal/checksum.js';
import { withTimeout } from './layers/timeout.js';
import { ArtifactRepository, type ProgressEvent } from './repository.js';
import { tempNameFor } from './temp-name.js';

let driver: MemoryDriver;
let repo: ArtifactRepository;
let work: string;

beforeEach(async () => {
  driver = new MemoryDriver();
  repo = new ArtifactRepository({ uri: 'mem://x', driver, maxConcurrency: 4, secrets: ['hunter2-secret'] });
  work = await mkdtemp(join(tmpdir(), 'core-test-'));
});

afterEach(async () => {
  await repo.close();
});

async function rejection(promise: Promise<unknown>): Promise<ArtifactsError> {
  try {
    await promise;
  } catch (error) {
    if (ArtifactsError.is(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('ArtifactRepository', () => {
  it('logs a file under <path>/<basename> and a directory keeping relative paths', async () => {
    await writeFile(join(work, 'model.pkl'), 'weights');
    await mkdir(join(work, 'plots', 'deep'), { recursive: true });
    await writeFile(join(work, 'plots', 'a.png'), 'a');
    await writeFile(join(work, 'plots', 'deep', 'b.png'), 'bb');
    await repo.logArtifact(join(work, 'model.pkl'), 'model');
    await repo.logArtifacts(join(work, 'plots'), 'plots');
    expect([...driver.objects.keys()].sort()).toEqual(['model/model.pkl', 'plots/a.png', 'plots/deep/b.png']);
    expect(await repo.listArtifacts('plots')).toEqual([
      { path: 'plots/a.png', isDir: false, fileSize: 1 },
      { path: 'plots/deep', isDir: true },
    ]);
  });

  it('hands a whole-file fast path the size from the walk and the guessed type when it asks', async () => {
    const calls: Array<{ key: string; size?: number; contentType?: string }> = [];
    const fast = Object.assign(new MemoryDriver(), {
      async writeFromFile(key: string, localPath: string, options: { size?: number; contentType?: string }) {
        calls.push({ key, size: options.size, contentType: options.contentType });
        await readFile(localPath);
        return undefined;
      },
    });
    const fastRepo = new ArtifactRepository({ uri: 'mem://y', driver: fast, maxConcurrency: 4, secrets: [] });
    await mkdir(join(work, 'up', 'sub'), { recursive: true });
    await writeFile(join(work, 'up', 'notes.txt'), 'hello');
    await writeFile(join(work, 'up', 'sub', 'w.bin'), Buffer.alloc(1234));
    await fastRepo.logArtifacts(join(work, 'up'), 'run');
    await fastRepo.close();
    expect(calls.sort((a, b) => a.key.localeCompare(b.key))).toEqual([
      { key: 'run/notes.txt', size: 5, contentType: 'text/plain' },
      { key: 'run/sub/w.bin', size: 1234, contentType: 'application/octet-stream' },
    ]);
  });

  it("hands a streamed write the guessed type, or the caller's", async () => {
    const types: Array<[string, string | undefined]> = [];
    const streamed = Object.assign(Object.create(driver) as MemoryDriver, {
      write(key: string, body: Readable, options: { contentType?: string }) {
        types.push([key, options.contentType]);
        return driver.write(key, body, options as never);
      },
    });
    const streamRepo = new ArtifactRepository({
      uri: 'mem://z',
      driver: streamed,
      maxConcurrency: 4,
      secrets: [],
    });
    await mkdir(join(work, 's'), { recursive: true });
    await writeFile(join(work, 's', 'notes.txt'), 'hello');
    await writeFile(join(work, 's', 'w.bin'), Buffer.alloc(10));
    await streamRepo.logArtifacts(join(work, 's'), 'run');
    await streamRepo.write('typed/notes.txt', 'hello', { contentType: 'text/markdown' });
    await streamRepo.close();
    expect(types.sort((a, b) => a[0].localeCompare(b[0]))).toEqual([
      ['run/notes.txt', 'text/plain'],
      ['run/w.bin', 'application/octet-stream'],
      ['typed/notes.txt', 'text/markdown'],
    ]);
  });

  it("guesses no type for a store that keeps none (contentTypes: false); the caller's still goes through", async () => {
    const types: Array<[string, string | undefined, boolean]> = [];
    const files = Object.assign(Object.create(driver) as MemoryDriver, {
      capabilities: { ...driver.capabilities, contentTypes: false },
      write(key: string, body: Readable, options: { contentType?: string }) {
        types.push([key, options.contentType, 'contentType' in options]);
        return driver.write(key, body, options as never);
      },
    });
    const filesRepo = new ArtifactRepository({
      uri: 'mem://f',
      driver: files,
      maxConcurrency: 4,
      secrets: [],
    });
    await mkdir(join(work, 'f'), { recursive: true });
    await writeFile(join(work, 'f', 'notes.txt'), 'hello');
    await filesRepo.logArtifacts(join(work, 'f'), 'run');
    await filesRepo.write('typed/notes.txt', 'hello', { contentType: 'text/markdown' });
    await filesRepo.close();
    expect(types.sort((a, b) => a[0].localeCompare(b[0]))).toEqual([
      ['run/notes.txt', undefined, false],
      ['typed/notes.txt', 'text/markdown', true],
    ]);
  });

  it('reports progress up to the totals', async () => {
    await mkdir(join(work, 'd'));
    await writeFile(join(work, 'd', 'x'), Buffer.alloc(3000));
    await writeFile(join(work, 'd', 'y'), Buffer.alloc(2000));
    const events: ProgressEvent[] = [];
    await repo.logArtifacts(join(work, 'd'), '', { onProgress: (e) => events.push(e) });
    expect(events.at(-1)).toMatchObject({ bytesDone: 5000, bytesTotal: 5000, filesDone: 2, filesTotal: 2 });
  });

  it('walks a wide tree: sizes, nested keys, linked files, empty directories; never a temporary file', async () => {
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'wide'), { recursive: true });
    await mkdir(join(tree, 'nested', 'deeper'), { recursive: true });
    await mkdir(join(tree, 'empty'));
    // More files in one directory than the walk stats at once.
    const wide = Array.from({ length: 150 }, (_, i) => `f${String(i).padStart(3, '0')}`);
    await Promise.all(wide.map((name, i) => writeFile(join(tree, 'wide', name), Buffer.alloc(i))));
    await writeFile(join(tree, 'nested', 'deeper', 'z.txt'), 'zz');
    await symlink(join(tree, 'nested', 'deeper', 'z.txt'), join(tree, 'nested', 'link.txt'));
    await symlink(join(tree, 'missing'), join(tree, 'nested', 'dangling'));
    await writeFile(join(tree, 'nested', tempNameFor('x.txt')), 'partial');
    const events: ProgressEvent[] = [];
    await repo.logArtifacts(tree, 'up', { onProgress: (e) => events.push(e) });
    const bytes = wide.reduce((sum, _, i) => sum + i, 0) + 4;
    expect([...driver.objects.keys()].sort()).toEqual(
      [...wide.map((name) => `up/wide/${name}`), 'up/nested/deeper/z.txt', 'up/nested/link.txt'].sort(),
    );
    expect(wide.every((name, i) => driver.objects.get(`up/wide/${name}`)!.length === i)).toBe(true);
    expect(events.at(-1)).toMatchObject({
      bytesDone: bytes,
      bytesTotal: bytes,
      filesDone: 152,
      filesTotal: 152,
    });
  });

  it('reports the bytes of a download whether or not the driver counts them', async () => {
    driver.objects.set('d/a', Buffer.alloc(3000));
    driver.objects.set('d/b', Buffer.alloc(700));
    const counting = Object.assign(Object.create(driver) as MemoryDriver, {
      readToFile: async (key: string, path: string, options: { onBytes?: (n: number) => void }) => {
        await writeFile(path, driver.objects.get(key)!);
        options.onBytes?.(driver.objects.get(key)!.length);
      },
    });
    const silent = Object.assign(Object.create(driver) as MemoryDriver, {
      readToFile: async (key: string, path: string) => writeFile(path, driver.objects.get(key)!),
    });
    for (const each of [counting, silent]) {
      const other = new ArtifactRepository({ uri: 'mem://y', driver: each, maxConcurrency: 2, secrets: [] });
      const events: ProgressEvent[] = [];
      const to = await mkdtemp(join(work, 'down-'));
      await other.downloadArtifacts('d', to, { onProgress: (e) => events.push(e) });
      expect(events.at(-1)).toMatchObject({ bytesDone: 3700, bytesTotal: 3700, filesDone: 2, filesTotal: 2 });
      expect((await readFile(join(to, 'd', 'a'))).length).toBe(3000);
      await other.close();
    }
  });

  it('refuses a directory where a file is expected and the reverse, before any I/O', async () => {
    await writeFile(join(work, 'f.txt'), 'x');
    expect((await rejection(repo.logArtifact(work))).code).toBe('failed_precondition');
    expect((await rejection(repo.logArtifacts(join(work, 'f.txt')))).code).toBe('failed_precondition');
    expect((await rejection(repo.logArtifact(join(work, 'missing.txt')))).code).toBe('not_found');
    expect(driver.objects.size).toBe(0);
  });

  it('gathers every failed file of a directory download into one error', async () => {
    driver.objects.set('d/ok.txt', Buffer.from('ok'));
    driver.objects.set('d/bad1.txt', Buffer.from('x'));
    driver.objects.set('d/bad2.txt', Buffer.from('y'));
    const read = driver.read.bind(driver);
    driver.read = async (key) => {
      if (key.includes('bad')) throw new ArtifactsError('unavailable', `server fell over on ${key}`);
      return read(key);
    };
    const error = await rejection(repo.downloadArtifacts('d', work));
    expect(error.code).toBe('partial_failure');
    expect(error.failures.map((f) => f.path).sort()).toEqual(['d/bad1.txt', 'd/bad2.txt']);
    expect(error.message).toContain('2 of 3 files failed to download');
    expect(await readFile(join(work, 'd', 'ok.txt'), 'utf8')).toBe('ok');
    expect((await readdir(join(work, 'd'))).sort()).toEqual(['ok.txt']);
  });

  it('downloads into a new temporary directory when no destination is given', async () => {
    driver.objects.set('a/b.txt', Buffer.from('hello'));
    const path = await repo.downloadArtifacts('a/b.txt');
    expect(path.startsWith(tmpdir())).toBe(true);
    expect(path.endsWith(join('a', 'b.txt'))).toBe(true);
    expect(await readFile(path, 'utf8')).toBe('hello');
  });

  it('maps a stalled transfer to code timeout and leaves nothing', async () => {
    await writeFile(join(work, 'f.txt'), 'x');
    driver.hooks.beforeWrite = () => new Promise((resolve) => setTimeout(resolve, 200));
    const timed = new ArtifactRepository({
      uri: 'mem://x',
      driver: withTimeout(driver, undefined),
      maxConcurrency: 4,
      secrets: [],
    });
    const error = await rejection(timed.logArtifact(join(work, 'f.txt'), '', { timeoutMs: 20 }));
    expect(error.code).toBe('timeout');
    expect(driver.objects.size).toBe(0);
  });

  it('downloads a 250-byte file name (the temporary name stays within NAME_MAX)', async () => {
    const name = `${'n'.repeat(246)}.bin`;
    await repo.write(`long/${name}`, 'long name');
    const dst = await mkdtemp(join(tmpdir(), 'core-long-'));
    const local = await repo.downloadArtifacts(`long/${name}`, dst);
    expect(await readFile(local, 'utf8')).toBe('long name');
    expect(await readdir(join(dst, 'long'))).toEqual([name]);
  });

  it('never uploads the temporary file of a killed download', async () => {
    await mkdir(join(work, 'd'), { recursive: true });
    await writeFile(join(work, 'd', 'a.txt'), 'a');
    await writeFile(join(work, 'd', tempNameFor('a.txt')), 'half');
    await repo.logArtifacts(join(work, 'd'), 'up');
    expect([...driver.objects.keys()]).toEqual(['up/a.txt']);
  });

  it('maps an AbortSignal to code aborted', async () => {
    const controller = new AbortController();
    const slow = new Readable({ read() {} });
    slow.push('first chunk');
    const pending = repo.write('big.bin', slow, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const error = await rejection(pending);
    expect(error.code).toBe('aborted');
    expect(driver.objects.has('big.bin')).toBe(false);
  });

  it('fails with integrity and removes the object when the store reports another checksum', async () => {
    driver.capabilities = { ...driver.capabilities, checksums: ['crc32c'] };
    driver.hooks.writeResult = () => ({ checksum: { algorithm: 'crc32c', value: 'AAAAAA==' } });
    const error = await rejection(repo.write('x.bin', 'payload'));
    expect(error.code).toBe('integrity');
    expect(driver.objects.has('x.bin')).toBe(false);
  });

  it('accepts a matching checksum', async () => {
    driver.capabilities = { ...driver.capabilities, checksums: ['md5'] };
    driver.hooks.writeResult = (_key, data) => {
      const h = createHasher('md5');
      h.update(data);
      return { checksum: { algorithm: 'md5', value: h.digest() } };
    };
    await repo.write('x.bin', 'payload');
    expect(driver.objects.get('x.bin')?.toString()).toBe('payload');
  });

  it("takes a hashing driver's checksum of what it sent instead of hashing again, and checks it", async () => {
    const crc = (data: Buffer) => {
      const h = createHasher('crc32');
      h.update(data);
      return h.digest();
    };
    driver.capabilities = { ...driver.capabilities, checksums: ['crc32'], hashesWrites: true };
    driver.hooks.writeResult = (_key, data) => ({
      checksum: { algorithm: 'crc32', value: crc(data) },
      sent: { checksum: { algorithm: 'crc32', value: crc(data) }, bytes: data.length },
    });
    await repo.write('ok.bin', 'payload');
    expect(driver.objects.get('ok.bin')?.toString()).toBe('payload');

    // The store kept other bytes than the driver sent.
    driver.hooks.writeResult = (_key, data) => ({
      checksum: { algorithm: 'crc32', value: crc(Buffer.from('other')) },
      sent: { checksum: { algorithm: 'crc32', value: crc(data) }, bytes: data.length },
    });
    expect((await rejection(repo.write('bad.bin', 'payload'))).code).toBe('integrity');
    expect(driver.objects.has('bad.bin')).toBe(false);

    // A driver that sent fewer bytes than the body had, or says nothing of what it sent.
    driver.hooks.writeResult = (_key, data) => ({
      sent: { checksum: { algorithm: 'crc32', value: crc(data) }, bytes: data.length - 1 },
    });
    expect((await rejection(repo.write('short.bin', 'payload'))).code).toBe('internal');
    expect(driver.objects.has('short.bin')).toBe(false);
    driver.hooks.writeResult = () => ({
      checksum: { algorithm: 'crc32', value: crc(Buffer.from('payload')) },
    });
    expect((await rejection(repo.write('silent.bin', 'payload'))).code).toBe('internal');
    expect(driver.objects.has('silent.bin')).toBe(false);
  });

  it('fails a download with integrity when the bytes do not match the checksum, writing nothing', async () => {
    driver.objects.set('m.bin', Buffer.from('payload'));
    driver.hooks.readResult = () => ({ checksum: { algorithm: 'sha256', value: 'bm90IHRoZSBoYXNo' } });
    const error = await rejection(repo.downloadArtifacts('m.bin', work));
    expect(error.code).toBe('integrity');
    expect(await readdir(work)).toEqual([]);
  });

  it('refuses hostile names returned by a listing', async () => {
    driver.objects.set('d/ok.txt', Buffer.from('ok'));
    driver.hooks.extraEntries = [{ key: 'd/../../etc/passwd', isDir: false, size: 1 }];
    expect((await rejection(repo.listArtifacts('d'))).code).toBe('invalid_argument');
    expect((await rejection(repo.downloadArtifacts('d', work))).code).toBe('invalid_argument');
    expect(await readdir(work)).toEqual([]);
  });

  it('refuses listing entries outside the listed directory', async () => {
    driver.objects.set('d/ok.txt', Buffer.from('ok'));
    driver.hooks.extraEntries = [{ key: 'other/x', isDir: false, size: 1 }];
    expect((await rejection(repo.listArtifacts('d'))).code).toBe('integrity');
  });

  it('scrubs driver secrets from error messages', async () => {
    driver.read = async () => {
      throw new Error('connect failed for user:hunter2-secret@host');
    };
    const error = await rejection(repo.openRead('x'));
    expect(error.message).not.toContain('hunter2-secret');
    expect(error.message).toContain('***');
  });

  it('slices ranges for drivers without native ranged reads', async () => {
    driver.objects.set('r.bin', Buffer.from('0123456789'));
    const read = async (range: { start: number; end?: number }) => {
      const chunks: Buffer[] = [];
      for await (const c of await repo.openRead('r.bin', { range })) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    expect(await read({ start: 2, end: 4 })).toBe('234');
    expect(await read({ start: 7 })).toBe('789');
    expect(await read({ start: 0, end: 0 })).toBe('0');
    expect((await rejection(repo.openRead('r.bin', { range: { start: 5, end: 2 } }))).code).toBe(
      'invalid_argument',
    );
  });

  it("openRead: a consumer that stops early stops the store's stream; a store's stream that breaks or closes early fails the read", async () => {
    driver.objects.set('r.bin', Buffer.from('0123456789'));
    const served: Readable[] = [];
    driver.hooks.readResult = () => {
      const stream = new Readable({ read() {} });
      stream.push(Buffer.from('01234'));
      served.push(stream);
      return { stream };
    };
    const early = await repo.openRead('r.bin');
    early.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(served[0]!.destroyed).toBe(true);

    const broken = await repo.openRead('r.bin');
    const brokenError = new Promise<Error>((resolve) => broken.once('error', resolve));
    broken.resume();
    served[1]!.destroy(new Error('connection reset by the store'));
    const error = await brokenError;
    expect(ArtifactsError.is(error)).toBe(true);
    expect(error.message).toContain('connection reset by the store');

    const closed = await repo.openRead('r.bin');
    const closedError = new Promise<Error>((resolve) => closed.once('error', resolve));
    closed.resume();
    served[2]!.destroy();
    expect(ArtifactsError.is(await closedError)).toBe(true);
  });

  it('fails a read whose store ends the stream before the announced length (never a short stream)', async () => {
    driver.objects.set('r.bin', Buffer.from('0123456789'));
    // The store announces the whole object (10 bytes) and closes cleanly after 6, as an FTP server
    // that closes its data connection early.
    driver.hooks.readResult = (_key, data) => ({ stream: Readable.from([data.subarray(0, 6)]) });
    const read = async (options: { range?: { start: number; end?: number } } = {}) => {
      const chunks: Buffer[] = [];
      for await (const c of await repo.openRead('r.bin', options)) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    const whole = await rejection(read());
    expect(whole.code).toBe('integrity');
    expect(whole.message).toContain('expected 10 bytes, received 6');
    const ranged = await rejection(read({ range: { start: 2, end: 8 } }));
    expect(ranged.code).toBe('integrity');
    expect(ranged.message).toContain('expected 7 bytes, received 4');
    // More than announced is refused too; a whole answer still reads whole.
    driver.hooks.readResult = (_key, data) => ({ stream: Readable.from([data, Buffer.from('!')]) });
    expect((await rejection(read())).message).toContain('expected 10 bytes, received 11');
    driver.hooks.readResult = undefined;
    expect(await read()).toBe('0123456789');
    expect(await read({ range: { start: 2, end: 8 } })).toBe('2345678');
  });

  it('bounds concurrent transfers by maxConcurrency', async () => {
    let active = 0;
    let peak = 0;
    driver.hooks.beforeWrite = async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setTimeout(resolve, 10));
      active--;
    };
    await mkdir(join(work, 'many'));
    await Promise.all(Array.from({ length: 30 }, (_, i) => writeFile(join(work, 'many', `f${i}`), 'x')));
    await repo.logArtifacts(join(work, 'many'));
    expect(driver.objects.size).toBe(30);
    expect(peak).toBe(4);
  });

  it('links many concurrent transfers to one caller signal through a single listener, removed after', async () => {
    // Node 20 and 22 warn (MaxListenersExceededWarning) past ten 'abort' listeners on one signal; a
    // directory transfer runs maxConcurrency (16 by default) calls on the caller's signal at once.
    const wide = new ArtifactRepository({ uri: 'mem://wide', driver, maxConcurrency: 16, secrets: [] });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const controller = new AbortController();
      const signal = controller.signal;
      let peak = 0;
      const watch = () => {
        peak = Math.max(peak, getEventListeners(signal, 'abort').length);
      };
      driver.hooks.beforeWrite = async () => {
        watch();
        await new Promise((resolve) => setTimeout(resolve, 5));
      };
      await mkdir(join(work, 'many'));
      await Promise.all(Array.from({ length: 60 }, (_, i) => writeFile(join(work, 'many', `f${i}`), `${i}`)));
      await wide.logArtifacts(join(work, 'many'), 'up', { signal, onProgress: watch });
      expect(driver.objects.size).toBe(60);
      await mkdir(join(work, 'back'));
      await wide.downloadArtifacts('up', join(work, 'back'), { signal, onProgress: watch });
      expect((await readdir(join(work, 'back', 'up'))).length).toBe(60);
      const streams = await Promise.all(
        Array.from({ length: 30 }, (_, i) => wide.openRead(`up/f${i}`, { signal })),
      );
      watch();
      const bodies = await Promise.all(
        streams.map(async (stream) => {
          const chunks: Buffer[] = [];
          for await (const chunk of stream) chunks.push(chunk as Buffer);
          return Buffer.concat(chunks).toString();
        }),
      );
      expect(bodies).toEqual(Array.from({ length: 30 }, (_, i) => `${i}`));
      await new Promise((resolve) => setImmediate(resolve));
      expect(peak).toBe(1);
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      expect(warnings.map((warning) => `${warning.name}: ${warning.message}`)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
      await wide.close();
    }
  });

  it('aborts every transfer of a directory linked to one signal', async () => {
    const controller = new AbortController();
    let started = 0;
    driver.hooks.beforeWrite = async () => {
      if (++started === 3) controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await mkdir(join(work, 'many'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeFile(join(work, 'many', `f${i}`), 'x')));
    const error = await rejection(repo.logArtifacts(join(work, 'many'), 'up', { signal: controller.signal }));
    expect(error.code).toBe('aborted');
    expect(driver.objects.size).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('answers multipart and presign requests with unsupported when the backend lacks them', async () => {
    const error = await rejection(repo.createMultipartUpload('big.bin', 3));
    expect(error.code).toBe('unsupported');
    expect(error.message).toBe('Multipart upload is not supported for the current artifact repository');
    expect((await rejection(repo.presignedUrl('a', 'GET'))).code).toBe('unsupported');
  });

  it('refuses calls after close and closes the driver once', async () => {
    await repo.close();
    await repo.close();
    expect(driver.closed).toBe(true);
    expect((await rejection(repo.listArtifacts())).code).toBe('failed_precondition');
  });
});
