import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chunkedUpload } from '../engines/chunked-upload.js';
import { directBody, FileBody, SYNC_READ_MAX } from './file-body.js';
import { PullStream } from './pull-stream.js';

function bytes(n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
}

async function fileOf(data: Buffer): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'file-body-')), 'data.bin');
  await writeFile(path, data);
  return path;
}

/** Descriptors this process has open (Linux), to see a body close its file. */
const openFiles = async () => (await readdir('/proc/self/fd')).length;

const ended = (stream: Readable) =>
  new Promise<void>((resolve, reject) => {
    if (stream.readableEnded) resolve();
    stream.once('end', resolve);
    stream.once('error', reject);
  });

describe('FileBody: a local file as an upload body', () => {
  it('read directly: fills each buffer whole, every byte observed once in order, then ends and closes the file', async () => {
    const data = bytes(2_500_000);
    const path = await fileOf(data);
    const before = await openFiles();
    const body = new FileBody(path, data.length);
    const seen: Buffer[] = [];
    body.observe = (chunk) => seen.push(Buffer.from(chunk));
    expect(directBody(body)).toBe(body);
    const got: Buffer[] = [];
    const sizes: number[] = [];
    for (;;) {
      const buffer = Buffer.alloc(1_000_000);
      const n = await body.readInto(buffer);
      sizes.push(n);
      got.push(buffer.subarray(0, n));
      if (body.ended) break;
    }
    expect(sizes).toEqual([1_000_000, 1_000_000, 500_000]);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
    expect(body.bytes).toBe(data.length);
    await ended(body);
    await new Promise((resolve) => body.once('close', resolve));
    expect(await openFiles()).toBe(before);
  });

  it('as a stream: chunks of at most 1 MiB, sized to what is left; never more than `size` bytes', async () => {
    const data = bytes(2 * 1024 * 1024 + 10);
    const path = await fileOf(data);
    const body = new FileBody(path, data.length - 4);
    let observed = 0;
    body.observe = (chunk) => {
      observed += chunk.length;
    };
    const sizes: number[] = [];
    const got: Buffer[] = [];
    for await (const chunk of body) {
      sizes.push((chunk as Buffer).length);
      got.push(chunk as Buffer);
    }
    expect(sizes).toEqual([1024 * 1024, 1024 * 1024, 6]);
    expect(Buffer.concat(got).equals(data.subarray(0, data.length - 4))).toBe(true);
    expect(observed).toBe(data.length - 4);
    // Streamed: it can no longer be read directly.
    expect(directBody(body)).toBeUndefined();
  });

  it('a file shorter than announced ends at its end (both ways); an empty file ends at once', async () => {
    const path = await fileOf(bytes(1000));
    const direct = new FileBody(path, 5000);
    const buffer = Buffer.alloc(4096);
    expect(await direct.readInto(buffer)).toBe(1000);
    expect(direct.ended).toBe(true);
    const streamed: Buffer[] = [];
    for await (const chunk of new FileBody(path, 5000)) streamed.push(chunk as Buffer);
    expect(Buffer.concat(streamed).length).toBe(1000);
    const empty = new FileBody(await fileOf(Buffer.alloc(0)), 0);
    expect(await empty.readInto(Buffer.alloc(1))).toBe(0);
    expect(empty.ended).toBe(true);
    await ended(empty);
  });

  it('a missing file fails the read and the stream', async () => {
    const body = new FileBody(join(tmpdir(), 'no-such-dir-file-body', 'x'), 10);
    const failed = new Promise<Error>((resolve) => body.once('error', resolve));
    await expect(body.readInto(Buffer.alloc(10))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(((await failed) as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it("through core's layers' views: read directly, counted as pulled, and each view ends", async () => {
    const data = bytes(300_000);
    const body = new FileBody(await fileOf(data), data.length);
    const chunksSeen: number[] = [];
    const retryView = new PullStream(body, { ownSource: false });
    const timeoutView = new PullStream(retryView, { ownSource: true, onChunk: (n) => chunksSeen.push(n) });
    const direct = directBody(timeoutView);
    expect(direct).toBeDefined();
    const buffer = Buffer.alloc(200_000);
    expect(await direct!.readInto(buffer)).toBe(200_000);
    expect(direct!.ended).toBe(false);
    expect(await direct!.readInto(buffer)).toBe(100_000);
    expect(direct!.ended).toBe(true);
    expect(retryView.pulled).toBe(300_000);
    expect(timeoutView.pulled).toBe(300_000);
    expect(chunksSeen).toEqual([200_000, 100_000]);
    await Promise.all([ended(timeoutView), ended(retryView), ended(body)]);
  });

  it('syncReads (a local disk): a small file is opened, read and closed in the call that asks for it, a larger one is not', async () => {
    const small = bytes(16_000);
    const smallPath = await fileOf(small);
    const before = await openFiles();
    const body = new FileBody(smallPath, small.length, { syncReads: true });
    let observed = 0;
    body.observe = (chunk) => {
      observed += chunk.length;
    };
    // No thread-pool round trip: the bytes are buffered when `read(0)` returns.
    body.read(0);
    expect(body.readableLength).toBe(small.length);
    expect(observed).toBe(small.length);
    const got: Buffer[] = [];
    for await (const chunk of body) got.push(chunk as Buffer);
    expect(Buffer.concat(got).equals(small)).toBe(true);
    expect(body.closed).toBe(true);
    expect(await openFiles()).toBe(before);
    // Without the option, or above SYNC_READ_MAX, the read is asynchronous as before.
    const plain = new FileBody(smallPath, small.length);
    plain.read(0);
    expect(plain.readableLength).toBe(0);
    const large = bytes(SYNC_READ_MAX + 1);
    const largeBody = new FileBody(await fileOf(large), large.length, { syncReads: true });
    largeBody.read(0);
    expect(largeBody.readableLength).toBe(0);
    const largeGot: Buffer[] = [];
    for await (const chunk of largeBody) largeGot.push(chunk as Buffer);
    expect(Buffer.concat(largeGot).equals(large)).toBe(true);
    for await (const _ of plain);
  });

  it('syncReads, read directly (the chunked-upload engine): a small file is opened, read and closed in the call', async () => {
    const small = bytes(16_000);
    const smallPath = await fileOf(small);
    const before = await openFiles();
    const body = new FileBody(smallPath, small.length, { syncReads: true });
    let observed = 0;
    body.observe = (chunk) => {
      observed += chunk.length;
    };
    const closed = new Promise<void>((resolve) => body.once('close', resolve));
    const target = Buffer.alloc(64 * 1024);
    // No thread-pool round trip: every byte is in the buffer (and observed) when `readInto` returns.
    const reading = body.readInto(target);
    expect(observed).toBe(small.length);
    expect(body.ended).toBe(true);
    expect(await reading).toBe(small.length);
    expect(target.subarray(0, small.length).equals(small)).toBe(true);
    await closed;
    expect(await openFiles()).toBe(before);
    // Without the option, or above SYNC_READ_MAX, the read is asynchronous as before.
    const plain = new FileBody(smallPath, small.length);
    const plainReading = plain.readInto(Buffer.alloc(64 * 1024));
    expect(plain.bytes).toBe(0);
    expect(await plainReading).toBe(small.length);
    const large = bytes(SYNC_READ_MAX + 1);
    const largeBody = new FileBody(await fileOf(large), large.length, { syncReads: true });
    const largeTarget = Buffer.alloc(large.length);
    const largeReading = largeBody.readInto(largeTarget);
    expect(largeBody.bytes).toBe(0);
    expect(await largeReading).toBe(large.length);
    expect(largeTarget.equals(large)).toBe(true);
    // A missing file rejects the read and fails the body.
    const missing = new FileBody(join(tmpdir(), 'no-such-dir-file-body', 'x'), 10, { syncReads: true });
    const failed = new Promise<Error>((resolve) => missing.once('error', resolve));
    await expect(missing.readInto(Buffer.alloc(10))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(((await failed) as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('syncReads: a file shorter than announced ends at its end; a missing one fails the stream', async () => {
    const path = await fileOf(bytes(1000));
    const streamed: Buffer[] = [];
    for await (const chunk of new FileBody(path, 5000, { syncReads: true })) streamed.push(chunk as Buffer);
    expect(Buffer.concat(streamed).equals(bytes(1000))).toBe(true);
    const missing = new FileBody(join(tmpdir(), 'no-such-dir-file-body', 'x'), 10, { syncReads: true });
    const failed = new Promise<Error>((resolve) => missing.once('error', resolve));
    missing.resume();
    expect(((await failed) as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('a view read as a stream is not read directly (and any other stream never is)', async () => {
    const body = new FileBody(await fileOf(bytes(10)), 10);
    const view = new PullStream(body, { ownSource: false });
    const got: Buffer[] = [];
    for await (const chunk of view) got.push(chunk as Buffer);
    expect(Buffer.concat(got).length).toBe(10);
    expect(directBody(view)).toBeUndefined();
    expect(directBody(Readable.from([Buffer.from('x')]))).toBeUndefined();
  });
});

describe('the chunked-upload engine with a local file', () => {
  it('reads the file straight into its pooled part buffers: no stream chunk, no copy, one buffer per slot', async () => {
    const partSize = 64 * 1024;
    const data = bytes(partSize * 20 + 123);
    const body = new FileBody(await fileOf(data), data.length);
    // A stream read would go through `_read`: it must never be called.
    body._read = () => {
      throw new Error('the file was read as a stream');
    };
    const buffers = new Set<ArrayBufferLike>();
    const parts = new Map<number, Buffer>();
    const result = await chunkedUpload(
      body,
      {
        create: async () => undefined,
        uploadPart: async (request) => {
          buffers.add(request.data.buffer);
          parts.set(request.partNumber, Buffer.from(request.data));
          await new Promise((resolve) => setTimeout(resolve, 1));
          return request.partNumber;
        },
        complete: async (numbers) => Buffer.concat(numbers.map((n) => parts.get(n)!)),
        abort: async () => undefined,
      },
      {
        partSize,
        concurrency: 3,
        limits: { maxParts: 10_000, minPartSize: 1, maxPartSize: 1 << 30 },
        what: 'test',
      },
    );
    expect(result.equals(data)).toBe(true);
    expect(parts.size).toBe(21);
    // concurrency + 1 buffers, reused for all 21 parts.
    expect(buffers.size).toBeLessThanOrEqual(4);
  });

  it('a file of exactly one part (or smaller) is one whole request', async () => {
    for (const size of [0, 1000, 4096]) {
      const data = bytes(size);
      const body = new FileBody(await fileOf(data), size);
      let whole: Buffer | undefined;
      await chunkedUpload(
        body,
        {
          putWhole: async (request) => {
            whole = Buffer.from(request.data);
            return 'whole';
          },
          create: async () => {
            throw new Error('multipart for a single part');
          },
          uploadPart: async () => 0,
          complete: async () => 'multipart',
          abort: async () => undefined,
        },
        {
          partSize: 4096,
          concurrency: 2,
          size,
          limits: { maxParts: 10_000, minPartSize: 1, maxPartSize: 1 << 30 },
          what: 'test',
        },
      );
      expect(whole?.equals(data)).toBe(true);
    }
  });
});

describe('FileBody: memory of a streamed upload (issue 11: flat, whatever the file size)', () => {
  it("through the retry layer's view, a consumer that waits gets each 1 MiB read as it is, never two joined in a new buffer", async () => {
    const data = bytes(8 * 1024 * 1024 + 5);
    const body = new FileBody(await fileOf(data), data.length);
    const read: Buffer[] = [];
    body.observe = (chunk) => read.push(chunk);
    const got: Buffer[] = [];
    for await (const chunk of new PullStream(body, { ownSource: false })) {
      got.push(chunk as Buffer);
      // A socket that takes its time: the file's next read completes meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(got.map((c) => c.length)).toEqual([...Array(8).fill(1024 * 1024), 5]);
    // The very buffers that were read, not copies.
    expect(got.every((chunk, i) => chunk === read[i])).toBe(true);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });
});
