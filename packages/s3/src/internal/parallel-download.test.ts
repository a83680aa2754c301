import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parallelDownload } from './parallel-download.js';

const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

function slowStream(bytes: Buffer, pieces = 3, delayMs = 1): Readable {
  const size = Math.ceil(bytes.length / pieces);
  return Readable.from(
    (async function* () {
      for (let i = 0; i < bytes.length; i += size) {
        await new Promise((r) => setTimeout(r, delayMs));
        yield bytes.subarray(i, i + size);
      }
    })(),
  );
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

// The ranged GETs are faked here: the point is the stitching, ordering, bounds and error paths;
// the real GETs run against MinIO in the integration suite.
describe('parallelDownload', () => {
  it('stitches the ranges in order, whatever order they finish in', async () => {
    const fetched: Array<[number, number]> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const stream = parallelDownload({
      first: slowStream(data, 10),
      size: data.length,
      chunkSize: 128,
      concurrency: 3,
      what: 'test',
      fetchRange: async (start, end) => {
        fetched.push([start, end]);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Later ranges answer sooner, to prove ordering does not follow completion.
        await new Promise((r) => setTimeout(r, 20 - (start / 128) * 2));
        inFlight--;
        return slowStream(data.subarray(start, end + 1), 2);
      },
    });
    expect((await readAll(stream)).equals(data)).toBe(true);
    expect(fetched[0]).toEqual([128, 255]);
    expect(fetched.at(-1)).toEqual([896, 999]);
    expect(fetched).toHaveLength(7);
    expect(maxInFlight).toBeLessThanOrEqual(2);
  });

  it('retries a range whose body failed half-way', async () => {
    let failures = 0;
    const stream = parallelDownload({
      first: Readable.from([data]),
      size: data.length,
      chunkSize: 500,
      concurrency: 2,
      what: 'test',
      fetchRange: async (start, end) => {
        if (failures++ === 0) {
          return Readable.from(
            (async function* () {
              yield data.subarray(start, start + 10);
              throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
            })(),
          );
        }
        return Readable.from([data.subarray(start, end + 1)]);
      },
    });
    expect((await readAll(stream)).equals(data)).toBe(true);
    expect(failures).toBe(2);
  });

  it('fails (and does not retry) when S3 answers with an error, aborting the other ranges', async () => {
    const signals: AbortSignal[] = [];
    const stream = parallelDownload({
      first: slowStream(data, 4, 5),
      size: data.length,
      chunkSize: 100,
      concurrency: 4,
      what: 'test',
      fetchRange: async (start, end, signal) => {
        signals.push(signal);
        if (start === 200) {
          throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
            name: 'PreconditionFailed',
            $metadata: { httpStatusCode: 412 },
          });
        }
        return Readable.from([data.subarray(start, end + 1)]);
      },
    });
    await expect(readAll(stream)).rejects.toThrow(/pre-conditions/);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('fails when a range is short', async () => {
    const stream = parallelDownload({
      first: Readable.from([data]),
      size: data.length,
      chunkSize: 500,
      concurrency: 2,
      attempts: 1,
      what: 's3://b/k',
      fetchRange: async (start) => Readable.from([data.subarray(start, start + 3)]),
    });
    await expect(readAll(stream)).rejects.toThrow(
      /s3:\/\/b\/k: a ranged GET returned 3 bytes instead of 500/,
    );
  });

  it('stops every request when the consumer destroys the stream', async () => {
    const signals: AbortSignal[] = [];
    const first = slowStream(data, 100, 5);
    const stream = parallelDownload({
      first,
      size: data.length,
      chunkSize: 100,
      concurrency: 3,
      what: 'test',
      fetchRange: async (start, end, signal) => {
        signals.push(signal);
        return slowStream(data.subarray(start, end + 1), 5, 5);
      },
    });
    for await (const _chunk of stream) break;
    await new Promise((r) => setTimeout(r, 20));
    expect(signals.length).toBeGreaterThan(0);
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(first.destroyed).toBe(true);
  });
});
