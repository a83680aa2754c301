import { describe, expect, it } from 'vitest';
import { MemoryDriver } from '../test/memory-driver.js';
import { checkCapabilities } from './capabilities.js';
import { copyArtifacts, planCopy } from './copy.js';
import type { CopySource, DriverCopyOptions, DriverReadResult } from './driver.js';
import { ArtifactsError } from './errors.js';
import { registerBackend } from './registry.js';
import { ArtifactRepository, type ProgressEvent } from './repository.js';

/** A memory store whose drivers of one `scope` share the objects and copy between each other. */
class CopyingDriver extends MemoryDriver {
  reads = 0;
  copies: Array<{ from: string; to: string; size?: number }> = [];
  failCopyOf?: string;

  constructor(
    readonly scope: string,
    shared?: Map<string, Buffer>,
  ) {
    super();
    this.capabilities = { ...this.capabilities, serverSideCopy: true };
    if (shared) Object.defineProperty(this, 'objects', { value: shared });
  }

  override async read(key: string): Promise<DriverReadResult> {
    this.reads++;
    return super.read(key);
  }

  locate(key: string): CopySource {
    return { scope: this.scope, address: key };
  }

  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    if (source.address === this.failCopyOf) throw new ArtifactsError('unavailable', 'the store said no');
    const data = this.objects.get(source.address);
    if (!data) throw ArtifactsError.notFound(`object ${source.address}`);
    this.copies.push({
      from: source.address,
      to: toKey,
      ...(options.size === undefined ? {} : { size: options.size }),
    });
    this.objects.set(toKey, data);
  }
}

function repoOn(driver: MemoryDriver): ArtifactRepository {
  return new ArtifactRepository({ uri: 'mem://x', driver, maxConcurrency: 4, secrets: [] });
}

function fill(driver: MemoryDriver, files: Record<string, string>): void {
  for (const [key, text] of Object.entries(files)) driver.objects.set(key, Buffer.from(text));
}

describe('copyArtifacts', () => {
  it('copies as many files at once as the repositories allow (their maxConcurrency), not a fixed 16', async () => {
    const objects = new Map<string, Buffer>();
    let running = 0;
    let most = 0;
    class SlowCopy extends CopyingDriver {
      override async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return super.copy(source, toKey, options);
      }
    }
    const a = new SlowCopy('store-1', objects);
    const b = new SlowCopy('store-1', objects);
    fill(a, Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`in/f${i}`, 'x'])));
    const wide = (driver: MemoryDriver) =>
      new ArtifactRepository({ uri: 'mem://x', driver, maxConcurrency: 40, secrets: [] });
    const saved = process.env.ARTIFACTS_MAX_CONCURRENCY;
    delete process.env.ARTIFACTS_MAX_CONCURRENCY;
    try {
      const result = await copyArtifacts({ repo: wide(a), path: 'in' }, { repo: wide(b), path: 'out' });
      expect(result).toEqual({ files: 100, bytes: 100, serverSide: 100 });
      expect(most).toBe(40);
    } finally {
      if (saved !== undefined) process.env.ARTIFACTS_MAX_CONCURRENCY = saved;
    }
  });

  it('lets the store copy a directory between two roots of one store: no byte is read, no sibling copied', async () => {
    const objects = new Map<string, Buffer>();
    const a = new CopyingDriver('store-1', objects);
    const b = new CopyingDriver('store-1', objects);
    fill(a, { 'plots/x.png': 'xx', 'plots/deep/y.png': 'yyy', 'plots2/z.png': 'not me' });
    const events: ProgressEvent[] = [];
    const result = await copyArtifacts(
      { repo: repoOn(a), path: 'plots' },
      { repo: repoOn(b), path: 'out' },
      { onProgress: (event) => events.push(event) },
    );
    expect(result).toEqual({ files: 2, bytes: 5, serverSide: 2 });
    expect(a.reads + b.reads).toBe(0);
    expect(b.copies.sort((p, q) => p.from.localeCompare(q.from))).toEqual([
      { from: 'plots/deep/y.png', to: 'out/deep/y.png', size: 3 },
      { from: 'plots/x.png', to: 'out/x.png', size: 2 },
    ]);
    expect(objects.get('out/deep/y.png')?.toString()).toBe('yyy');
    expect([...objects.keys()].filter((key) => key.startsWith('out/')).sort()).toEqual([
      'out/deep/y.png',
      'out/x.png',
    ]);
    expect(events.at(-1)).toMatchObject({ bytesDone: 5, bytesTotal: 5, filesDone: 2, filesTotal: 2 });
  });

  it('streams between stores of different scopes, and to or from a store without copy', async () => {
    const a = new CopyingDriver('store-1');
    const b = new CopyingDriver('store-2');
    const plain = new MemoryDriver();
    fill(a, { 'm/w.bin': 'weights', 'm/c.json': '{}' });
    expect(await copyArtifacts({ repo: repoOn(a), path: 'm' }, { repo: repoOn(b), path: 'n' })).toEqual({
      files: 2,
      bytes: 9,
      serverSide: 0,
    });
    expect(a.reads).toBe(2);
    expect(b.copies).toEqual([]);
    expect(b.objects.get('n/w.bin')?.toString()).toBe('weights');
    await copyArtifacts({ repo: repoOn(b), path: 'n' }, repoOn(plain));
    expect(plain.objects.get('c.json')?.toString()).toBe('{}');
  });

  it('copies one file to the destination path itself, filters a tree, and refuses a missing source', async () => {
    const a = new CopyingDriver('s');
    fill(a, { 'd/keep.txt': 'k', 'd/skip.log': 's' });
    const repo = repoOn(a);
    await copyArtifacts({ repo, path: 'd/keep.txt' }, { repo, path: 'e/renamed.txt' });
    expect(a.objects.get('e/renamed.txt')?.toString()).toBe('k');
    const plan = await planCopy(
      { repo, path: 'd' },
      { repo, path: 'f' },
      { filter: (rel) => rel.endsWith('.txt') },
    );
    expect(plan.map((file) => [file.fromPath, file.toPath, file.size])).toEqual([
      ['d/keep.txt', 'f/keep.txt', 1],
    ]);
    const missing = await copyArtifacts({ repo, path: 'nope' }, { repo, path: 'x' }).catch((error) => error);
    expect(ArtifactsError.is(missing, 'not_found')).toBe(true);
    const root = await copyArtifacts({ repo, path: 'd/keep.txt' }, repo).catch((error) => error);
    expect(ArtifactsError.is(root, 'invalid_argument')).toBe(true);
  });

  it('gathers failures into one partial_failure naming each file, after copying the others', async () => {
    const a = new CopyingDriver('s');
    fill(a, { 'd/1': 'a', 'd/2': 'b', 'd/3': 'c' });
    a.failCopyOf = 'd/2';
    const repo = repoOn(a);
    const error = await copyArtifacts({ repo, path: 'd' }, { repo, path: 'e' }).catch((e) => e);
    expect(ArtifactsError.is(error, 'partial_failure')).toBe(true);
    expect((error as ArtifactsError).message).toContain('1 of 3 files failed to copy: d/2');
    expect([...a.objects.keys()].filter((key) => key.startsWith('e/')).sort()).toEqual(['e/1', 'e/3']);
  });

  it('opens URIs through the registry and closes them afterwards', async () => {
    const opened: CopyingDriver[] = [];
    registerBackend({
      name: 'copy-test',
      schemes: ['copytest'],
      open: (location) => {
        const driver = new CopyingDriver(location.host ?? '');
        if (location.host === 'a') fill(driver, { 'f.txt': 'f' });
        opened.push(driver);
        return driver;
      },
    });
    const result = await copyArtifacts('copytest://a/', 'copytest://b/');
    expect(result).toEqual({ files: 1, bytes: 1, serverSide: 0 });
    expect(opened[1]?.objects.get('f.txt')?.toString()).toBe('f');
    expect(opened.map((driver) => driver.closed)).toEqual([true, true]);
  });
});

describe('capabilities derived from members', () => {
  it('refuses a driver whose declared capability disagrees with its members', () => {
    const declaredOnly = new MemoryDriver();
    declaredOnly.capabilities = { ...declaredOnly.capabilities, serverSideCopy: true };
    expect(() => checkCapabilities(declaredOnly, 'x')).toThrow(/declares serverSideCopy true but lacks/);
    const undeclared = new CopyingDriver('s');
    undeclared.capabilities = { ...undeclared.capabilities, serverSideCopy: false };
    expect(() => checkCapabilities(undeclared, 'x')).toThrow(/declares serverSideCopy false but implements/);
    expect(() => checkCapabilities(new CopyingDriver('s'), 'x')).not.toThrow();
    expect(() => checkCapabilities(new MemoryDriver(), 'x')).not.toThrow();
  });
});
