import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemoryDriver } from '../../test/memory-driver.js';
import type {
  DriverReadOptions,
  DriverReadResult,
  DriverRetryPolicy,
  DriverWriteOptions,
  OpenContext,
  ReadToFileOptions,
} from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { FileBody } from '../internal/file-body.js';
import { type RetryEvent, type RetryOptions, withRetry } from '../layers/retry.js';
import { openRepository } from '../open.js';
import { registerBackend } from '../registry.js';
import { chunkedUpload, engineOptions } from './chunked-upload.js';
import { type RangeRequest, rangedRead, rangedReadToFile } from './ranged-read.js';

function bytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

const PART = 100;

/**
 * An object store in memory whose writes and reads go through core's engines (parts and ranges of
 * 100 bytes), as a real object-store driver's do; `failPart` / `failRange` may fail a request.
 */
class EngineStore extends MemoryDriver {
  partAttempts = new Map<number, number>();
  rangeAttempts = new Map<number, number>();
  failPart: (part: number, attempt: number) => Error | undefined = () => undefined;
  failRange: (start: number, attempt: number) => Error | undefined = () => undefined;
  retryPolicy: DriverRetryPolicy | undefined;
  /** Parts in flight at once. */
  concurrency = 2;

  constructor(
    readonly context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>,
    retryPolicy?: DriverRetryPolicy,
  ) {
    super();
    this.retryPolicy = retryPolicy;
  }

  override async write(key: string, body: Readable, options: DriverWriteOptions) {
    const parts = new Map<number, Buffer>();
    await chunkedUpload(
      body,
      {
        create: async () => undefined,
        uploadPart: async (request) => {
          const attempt = (this.partAttempts.get(request.partNumber) ?? 0) + 1;
          this.partAttempts.set(request.partNumber, attempt);
          const error = this.failPart(request.partNumber, attempt);
          if (error) throw error;
          parts.set(request.partNumber, Buffer.from(request.data));
          return request.partNumber;
        },
        complete: async (numbers) => {
          this.objects.set(key, Buffer.concat(numbers.map((n) => parts.get(n)!)));
        },
        abort: async () => undefined,
      },
      {
        partSize: PART,
        concurrency: this.concurrency,
        limits: { maxParts: 1000, minPartSize: 1, maxPartSize: PART },
        what: `uploading ${JSON.stringify(key)}`,
        ...engineOptions(this.context, options),
      },
    );
    return undefined;
  }

  #source(key: string) {
    return {
      readRange: async (request: RangeRequest) => {
        const data = this.objects.get(key);
        if (!data) throw ArtifactsError.notFound(key);
        const attempt = (this.rangeAttempts.get(request.start) ?? 0) + 1;
        this.rangeAttempts.set(request.start, attempt);
        const error = this.failRange(request.start, attempt);
        if (error) throw error;
        const end = Math.min(request.end, data.length - 1);
        return {
          stream: Readable.from([data.subarray(request.start, end + 1)]),
          served: { start: request.start, end },
          totalSize: data.length,
          pin: 'v1',
        };
      },
    };
  }

  override async read(key: string, options: DriverReadOptions = {}): Promise<DriverReadResult> {
    return rangedRead(this.#source(key), {
      partSize: PART,
      concurrency: 2,
      range: options.range,
      what: `reading ${JSON.stringify(key)}`,
      ...engineOptions(this.context, options),
    });
  }

  async readToFile(key: string, localPath: string, options: ReadToFileOptions): Promise<void> {
    await rangedReadToFile(this.#source(key), localPath, {
      partSize: PART,
      concurrency: 2,
      what: `reading ${JSON.stringify(key)}`,
      ...engineOptions(this.context, options),
    });
  }
}

const temporary = (retryAfterMs?: number) =>
  new ArtifactsError('unavailable', 'busy', {
    temporary: true,
    ...(retryAfterMs === undefined ? {} : { context: { retryAfterMs } }),
  });

async function drain(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

/** The store behind core's retry layer, as `openRepository` composes it. */
function layered(store: EngineStore, options: RetryOptions) {
  return withRetry(store, { ...options, random: () => 0.5 });
}

describe('engines: a part or a range is retried by the retry layer’s policy, not a rule of its own', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-retry-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a part takes the policy's attempts, waits (whole step plus jitter) and reporter", async () => {
    const store = new EngineStore({ maxRetries: 9 });
    store.failPart = (part) => (part === 2 ? temporary() : undefined);
    const events: RetryEvent[] = [];
    const driver = layered(store, {
      maxAttempts: 3,
      baseDelayMs: 20,
      maxDelayMs: 1000,
      jitterMs: 10,
      onRetry: (event) => events.push(event),
    });
    await expect(driver.write('a.bin', Readable.from([bytes(250)]), {})).rejects.toThrow('busy');
    // The policy's 3 attempts, not the repository's maxRetries (9) + 1, nor an engine default.
    expect(store.partAttempts.get(2)).toBe(3);
    expect(events.map((e) => [e.operation, e.key, e.request, e.attempt, e.maxAttempts, e.delayMs])).toEqual([
      ['write', 'a.bin', 'uploading "a.bin": part 2', 1, 3, 25],
      ['write', 'a.bin', 'uploading "a.bin": part 2', 2, 3, 45],
    ]);
    // The part, by number and bytes, for a `--verbose` line.
    expect(events.map((e) => e.part)).toEqual([
      { number: 2, start: 100, end: 199 },
      { number: 2, start: 100, end: 199 },
    ]);
    expect(store.objects.size).toBe(0);
  });

  it('a range honours Retry-After and reports its retry; the read still returns every byte', async () => {
    const store = new EngineStore({});
    const data = bytes(350);
    store.objects.set('b.bin', data);
    store.failRange = (start, attempt) => (start === 200 && attempt === 1 ? temporary(70) : undefined);
    const events: RetryEvent[] = [];
    const driver = layered(store, { baseDelayMs: 1, jitterMs: 0, onRetry: (event) => events.push(event) });
    const read = await driver.read('b.bin', {});
    expect((await drain(read.stream)).equals(data)).toBe(true);
    expect(events.map((e) => [e.operation, e.request, e.delayMs, e.part])).toEqual([
      ['read', 'reading "b.bin": bytes 200-299', 70, { number: 3, start: 200, end: 299 }],
    ]);
  });

  it('a download to a file retries its ranges by the same policy', async () => {
    const store = new EngineStore({});
    const data = bytes(320);
    store.objects.set('c.bin', data);
    store.failRange = (start, attempt) => (start === 100 && attempt <= 2 ? temporary() : undefined);
    const events: RetryEvent[] = [];
    const driver = layered(store, { baseDelayMs: 5, jitterMs: 0, onRetry: (event) => events.push(event) });
    const path = join(dir, 'c.bin');
    await driver.readToFile!('c.bin', path, {});
    expect((await readFile(path)).equals(data)).toBe(true);
    expect(events.map((e) => [e.operation, e.key, e.delayMs, e.part])).toEqual([
      ['read', 'c.bin', 5, { number: 2, start: 100, end: 199 }],
      ['read', 'c.bin', 10, { number: 2, start: 100, end: 199 }],
    ]);
  });

  it("parts spend the repository's retry budget: a store that keeps failing is not retried forever", async () => {
    const store = new EngineStore({});
    store.failPart = (_part, attempt) => (attempt === 1 ? temporary() : undefined);
    store.concurrency = 1;
    const driver = layered(store, { baseDelayMs: 1, maxAttempts: 5, budget: 1 });
    // Part 1 spends the only retry; part 2's first failure finds the budget empty.
    await expect(driver.write('d.bin', Readable.from([bytes(250)]), {})).rejects.toThrow('busy');
    expect(store.partAttempts.get(1)).toBe(2);
    expect(store.partAttempts.get(2)).toBe(1);
    expect(store.objects.size).toBe(0);
  });

  it('a part that failed with an error that is not temporary is not retried', async () => {
    const store = new EngineStore({});
    store.failPart = (part) => (part === 1 ? new ArtifactsError('permission_denied', 'no') : undefined);
    const events: RetryEvent[] = [];
    const driver = layered(store, { baseDelayMs: 1, onRetry: (event) => events.push(event) });
    await expect(driver.write('e.bin', Readable.from([bytes(150)]), {})).rejects.toThrow('no');
    expect(store.partAttempts.get(1)).toBe(1);
    expect(events).toEqual([]);
  });

  it('a download whose range fails after others were written leaves no file, partial or temporary', async () => {
    let opened: EngineStore | undefined;
    registerBackend({
      name: 'engine-partial',
      schemes: ['enginepartial'],
      open: (_location, _options, context) => {
        opened = new EngineStore(context);
        return opened;
      },
    });
    const repo = await openRepository('enginepartial://bucket/root', { maxRetries: 0, timeoutMs: -1 });
    const dst = await mkdtemp(join(dir, 'partial-'));
    try {
      const data = bytes(1_000);
      opened!.objects.set('g.bin', data);
      // Ranges 0-499 reach the temporary file first (2 at a time); 500-599 fails for good.
      opened!.failRange = (start) =>
        start === 500 ? new ArtifactsError('permission_denied', 'denied') : undefined;
      await expect(repo.downloadArtifacts('g.bin', dst)).rejects.toThrow('denied');
      expect(opened!.rangeAttempts.get(400)).toBe(1);
      expect(await readdir(dst)).toEqual([]);
      // The same download with every range answered lands whole.
      opened!.failRange = () => undefined;
      const path = await repo.downloadArtifacts('g.bin', dst);
      expect((await readFile(path)).equals(data)).toBe(true);
      expect(await readdir(dst)).toEqual(['g.bin']);
    } finally {
      await repo.close();
    }
  });

  it('logArtifact: the file goes straight into the parts through the retry and timeout layers; a part retried resends its bytes', async () => {
    let opened: EngineStore | undefined;
    registerBackend({
      name: 'engine-file',
      schemes: ['enginefile'],
      open: (_location, _options, context) => {
        opened = new EngineStore(context);
        return opened;
      },
    });
    // A stall timeout puts the timeout layer's view over the retry layer's, as by default.
    const repo = await openRepository('enginefile://bucket/root', { maxRetries: 2, timeoutMs: 5_000 });
    const streamed = vi.spyOn(FileBody.prototype, '_read');
    try {
      const data = bytes(1_050);
      const local = join(dir, 'local.bin');
      await writeFile(local, data);
      opened!.failPart = (part, attempt) => (part === 4 && attempt === 1 ? temporary() : undefined);
      const done: number[] = [];
      await repo.logArtifact(local, 'up', { onProgress: (event) => done.push(event.bytesDone) });
      expect(opened!.objects.get('up/local.bin')?.equals(data)).toBe(true);
      expect(opened!.partAttempts.get(4)).toBe(2);
      // Read with positional reads only, never as a stream; every byte counted once.
      expect(streamed).not.toHaveBeenCalled();
      expect(done.at(-1)).toBe(1_050);
    } finally {
      streamed.mockRestore();
      await repo.close();
    }
  });

  it("openRepository: a driver's retryPolicy (http's MLflow schedule) governs its engine's parts", async () => {
    const policy: DriverRetryPolicy = { maxRetries: 1, baseDelayMs: 15, maxDelayMs: 1000, jitterMs: 0 };
    let opened: EngineStore | undefined;
    registerBackend({
      name: 'engine-retry',
      schemes: ['engineretry'],
      open: (_location, _options, context) => {
        opened = new EngineStore(context, policy);
        return opened;
      },
    });
    const events: RetryEvent[] = [];
    // The repository's maxRetries (4) is what the driver's context says; the driver's own policy wins.
    const repo = await openRepository('engineretry://bucket/root', {
      maxRetries: 4,
      timeoutMs: -1,
      onRetry: (event) => events.push(event),
    });
    try {
      opened!.failPart = (part) => (part === 3 ? temporary() : undefined);
      await expect(repo.write('f.bin', Readable.from([bytes(300)]))).rejects.toThrow('busy');
    } finally {
      await repo.close();
    }
    expect(opened!.partAttempts.get(3)).toBe(2);
    expect(events.map((e) => [e.request, e.delayMs])).toEqual([['uploading "f.bin": part 3', 15]]);
  });
});
