import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../test/memory-driver.js';
import { ArtifactsError } from '../errors.js';
import { createHasher } from '../internal/checksum.js';
import { FileBody } from '../internal/file-body.js';
import { Limiter } from '../internal/pool.js';
import { Progress } from './progress.js';
import { download, upload } from './transfers.js';

function md5(data: Buffer): string {
  const hasher = createHasher('md5');
  hasher.update(data);
  return hasher.digest();
}

describe('upload of a local file', () => {
  it('hands the driver the file itself, counted and hashed through one shared observer, and checks the checksum', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'core-transfers-'));
    const a = Buffer.from('first file');
    const b = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    await writeFile(join(dir, 'a'), a);
    await writeFile(join(dir, 'b'), b);
    const driver = new MemoryDriver();
    driver.capabilities = { ...driver.capabilities, checksums: ['md5'] };
    const bodies: Readable[] = [];
    const write = driver.write.bind(driver);
    driver.write = (key, body, options) => {
      bodies.push(body);
      return write(key, body, options);
    };
    let stored: (data: Buffer) => string = md5;
    driver.hooks.writeResult = (_key, data) => ({ checksum: { algorithm: 'md5', value: stored(data) } });
    const ctx = { driver, secrets: [], limiter: new Limiter(2), assertOpen: () => {} };
    const progress = new Progress(undefined);

    await upload(ctx, join(dir, 'a'), 'a', a.length, progress, {});
    await upload(ctx, join(dir, 'b'), 'b', b.length, progress, {});
    expect(driver.objects.get('a')).toEqual(a);
    expect(driver.objects.get('b')?.equals(b)).toBe(true);
    expect(progress.bytesDone).toBe(a.length + b.length);
    expect(progress.filesDone).toBe(2);
    // No stream per file in between, and no function made per file on the body (V8 keeps a body
    // with a fresh closure stored on it past its young-generation collections).
    expect(bodies.every((body) => body instanceof FileBody)).toBe(true);
    const [first, second] = bodies as FileBody[];
    expect(first!.observe).toBeTypeOf('function');
    expect(second!.observe).toBe(first!.observe);

    // The hash is of the bytes read: a store that kept other bytes fails the upload, which is removed.
    stored = () => md5(Buffer.from('other'));
    const error = await upload(ctx, join(dir, 'a'), 'c', a.length, progress, {}).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'integrity')).toBe(true);
    expect(driver.objects.has('c')).toBe(false);
  });
});

describe('upload of a small local file from a local disk', () => {
  it('reads the file synchronously when the caller says it lies on a local disk (no thread-pool round trip)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'core-transfers-sync-'));
    const data = Buffer.from('a small file');
    await writeFile(join(dir, 'a'), data);
    const driver = new MemoryDriver();
    const buffered: number[] = [];
    const write = driver.write.bind(driver);
    driver.write = (key, body, options) => {
      // What the body holds right after it is asked for bytes: all of them only when read synchronously.
      body.read(0);
      buffered.push(body.readableLength);
      return write(key, body, options);
    };
    const ctx = { driver, secrets: [], limiter: new Limiter(2), assertOpen: () => {} };
    const progress = new Progress(undefined);
    await upload(ctx, join(dir, 'a'), 'a', data.length, progress, {}, { localDisk: true });
    await upload(ctx, join(dir, 'a'), 'b', data.length, progress, {});
    expect(buffered).toEqual([data.length, 0]);
    expect(driver.objects.get('a')).toEqual(data);
    expect(driver.objects.get('b')).toEqual(data);
    expect(progress.bytesDone).toBe(2 * data.length);
  });
});

describe('download through a driver without readToFile (SFTP, FTP)', () => {
  /**
   * A store whose stream serves `first` and then waits for the test to end, break or close it; the
   * destination already holds an older file, which only a complete download may replace.
   */
  async function setup(first = Buffer.from('01234')) {
    const dir = await mkdtemp(join(tmpdir(), 'core-download-'));
    const target = join(dir, 'model.bin');
    await writeFile(target, 'the previous version');
    const driver = new MemoryDriver();
    driver.objects.set('model.bin', Buffer.from('0123456789'));
    const served: Readable[] = [];
    driver.hooks.readResult = () => {
      const stream = new Readable({ read() {} });
      stream.push(first);
      served.push(stream);
      return { stream };
    };
    const ctx = { driver, secrets: ['s3cr3t-token'], limiter: new Limiter(2), assertOpen: () => {} };
    const progress = new Progress(undefined);
    const run = (options = {}) =>
      download(ctx, 'model.bin', target, progress, options).catch((e: unknown) => e);
    // The temporary file is created and written by then (the store's first bytes went through).
    const started = async () => {
      while (served.length === 0 || (await readdir(dir)).length < 2)
        await new Promise((resolve) => setTimeout(resolve, 2));
      return served[served.length - 1]!;
    };
    const untouched = async () => {
      expect(await readdir(dir)).toEqual(['model.bin']);
      expect(await readFile(target, 'utf8')).toBe('the previous version');
    };
    return { dir, target, driver, served, progress, run, started, untouched };
  }

  it('writes the whole stream in place of the old file, through a temporary file that is gone after', async () => {
    const { dir, target, run, started, progress } = await setup();
    const done = run();
    const stream = await started();
    stream.push(Buffer.from('56789'));
    stream.push(null);
    expect(await done).toBeUndefined();
    expect(await readFile(target, 'utf8')).toBe('0123456789');
    expect(await readdir(dir)).toEqual(['model.bin']);
    expect(progress.bytesDone).toBe(10);
    expect(progress.filesDone).toBe(1);
  });

  it("maps a store's stream that breaks mid-way, removes the temporary file and leaves the destination as it was", async () => {
    const { run, started, untouched } = await setup();
    const done = run();
    (await started()).destroy(
      Object.assign(new Error('read ECONNRESET s3cr3t-token'), { code: 'ECONNRESET' }),
    );
    const error = await done;
    expect(ArtifactsError.is(error, 'unavailable')).toBe(true);
    expect((error as Error).message).toContain('downloading');
    expect((error as Error).message).not.toContain('s3cr3t-token');
    await untouched();
  });

  it("fails a store's stream that closes before its end (never a short file), and leaves the destination as it was", async () => {
    const { run, started, untouched } = await setup();
    const done = run();
    (await started()).destroy();
    const error = await done;
    expect(ArtifactsError.is(error)).toBe(true);
    expect((error as ArtifactsError).code).not.toBe('aborted');
    await untouched();
  });

  it("fails a stream that ends short of the store's announced size, and leaves the destination as it was", async () => {
    const { run, started, untouched } = await setup();
    const done = run();
    (await started()).push(null);
    expect(ArtifactsError.is(await done, 'integrity')).toBe(true);
    await untouched();
  });

  it("fails a stream whose bytes do not match the store's checksum, and leaves the destination as it was", async () => {
    const { driver, run, untouched } = await setup();
    driver.hooks.readResult = (_key, data) => ({
      stream: Readable.from([data]),
      checksum: { algorithm: 'md5', value: md5(Buffer.from('other bytes')) },
    });
    expect(ArtifactsError.is(await run(), 'integrity')).toBe(true);
    await untouched();
  });

  it("stops the store's stream when the local file cannot be written, with the file system's error", async () => {
    const { dir, driver, progress, served } = await setup();
    const ctx = { driver, secrets: [], limiter: new Limiter(2), assertOpen: () => {} };
    const error = await download(ctx, 'model.bin', join(dir, 'missing', 'model.bin'), progress, {}).catch(
      (e: unknown) => e,
    );
    expect(ArtifactsError.is(error, 'not_found')).toBe(true);
    expect(served[0]!.destroyed).toBe(true);
  });

  it("honours the caller's abort mid-way: `aborted`, the store's stream stopped, the destination as it was", async () => {
    const { run, started, untouched } = await setup();
    const controller = new AbortController();
    const done = run({ signal: controller.signal });
    const stream = await started();
    controller.abort();
    const error = await done;
    expect(ArtifactsError.is(error, 'aborted')).toBe(true);
    expect(stream.destroyed).toBe(true);
    await untouched();
  });
});

describe("a transfer's own signal", () => {
  it("is none when the caller gave none (nothing could abort it), and aborts with the caller's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'core-transfers-'));
    await writeFile(join(dir, 'a'), 'some bytes');
    const driver = new MemoryDriver();
    const seen: Array<AbortSignal | undefined> = [];
    const write = driver.write.bind(driver);
    driver.write = (key, body, options) => {
      seen.push(options.signal);
      return write(key, body, options);
    };
    const ctx = { driver, secrets: [], limiter: new Limiter(2), assertOpen: () => {} };
    const progress = new Progress(undefined);
    await upload(ctx, join(dir, 'a'), 'a', 10, progress, {});
    await download(ctx, 'a', join(dir, 'back'), progress, {});
    // No signal built per file for a caller without one: the layers and requests below link nothing.
    expect(seen).toEqual([undefined]);
    expect(await readFile(join(dir, 'back'), 'utf8')).toBe('some bytes');

    const caller = new AbortController();
    await upload(ctx, join(dir, 'a'), 'b', 10, progress, { signal: caller.signal });
    const own = seen[1]!;
    expect(own).toBeInstanceOf(AbortSignal);
    // The call's own signal, unlinked once the call ended: a later abort of the caller's reaches it no more.
    expect(own).not.toBe(caller.signal);
    caller.abort();
    expect(own.aborted).toBe(false);
    const error = await upload(ctx, join(dir, 'a'), 'c', 10, progress, { signal: caller.signal }).catch(
      (e: unknown) => e,
    );
    expect(ArtifactsError.is(error, 'aborted')).toBe(true);
  });
});
