import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../test/memory-driver.js';
import { ArtifactsError } from '../errors.js';
import { createHasher } from '../internal/checksum.js';
import { FileBody } from '../internal/file-body.js';
import { Limiter } from '../internal/pool.js';
import { Progress } from './progress.js';
import { upload } from './transfers.js';

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
