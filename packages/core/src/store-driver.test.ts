import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import type { RangeRequest } from './engines/ranged-read.js';
import {
  deleteEach,
  mapBodyErrors,
  partCredentials,
  splitAddress,
  statFromHeaders,
  storeRange,
} from './store-driver.js';
import { StoreHttp } from './store-http.js';

const OBJECTS: Record<string, string> = { '/full': 'hello world', '/empty': '' };
const seenRanges: Array<string | undefined> = [];
let server: Server;
let http: StoreHttp;

afterEach(async () => {
  http?.destroy();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  seenRanges.length = 0;
});

/** A real server answering ranged GETs as object stores do (416 for any range of an empty object). */
async function store(): Promise<StoreHttp> {
  server = createServer((req, res) => {
    const body = OBJECTS[req.url ?? ''] ?? '';
    const range = req.headers.range;
    seenRanges.push(range);
    const headers = {
      etag: '"v1"',
      'last-modified': 'Tue, 01 Dec 2026 03:00:00 GMT',
      'content-type': 'text/plain',
    };
    if (!range) return res.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
    const [start, end] = range.slice('bytes='.length).split('-').map(Number) as [number, number];
    // With a length, as object stores frame these answers (node:http's server would send them
    // chunked, which core's own client leaves to node:http: the GET would be sent twice).
    if (start >= body.length) return res.writeHead(416, { 'content-length': 0 }).end();
    const last = Math.min(end, body.length - 1);
    const part = body.slice(start, last + 1);
    res.writeHead(206, {
      ...headers,
      'content-range': `bytes ${start}-${last}/${body.length}`,
      'content-length': Buffer.byteLength(part),
    });
    res.end(part);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  http = new StoreHttp({ endpoint: `http://127.0.0.1:${port}`, store: 'the test store', connections: 2 });
  return http;
}

const request = (start: number, end: number): RangeRequest =>
  ({ start, end, whole: start === 0, pin: undefined, signal: new AbortController().signal }) as RangeRequest;

describe('storeRange', () => {
  it('gives the engine the range served, of what total, the version to pin and the date', async () => {
    const http = await store();
    const get = (range: string | undefined) =>
      http.send({ method: 'GET', path: '/full', headers: range ? { range } : {} });
    const { response } = await storeRange(request(2, 5), get);
    expect(await text(response.stream)).toBe('llo ');
    expect(response).toMatchObject({
      served: { start: 2, end: 5 },
      totalSize: 11,
      pin: '"v1"',
      contentType: 'text/plain',
      lastModified: new Date('2026-12-01T03:00:00Z'),
    });
    expect(response.rangesHonoured).toBeUndefined();
  });

  it('reads an empty object whole when its range is unsatisfiable (416)', async () => {
    const http = await store();
    const get = (range: string | undefined) =>
      http.send({ method: 'GET', path: '/empty', headers: range ? { range } : {} });
    const { response } = await storeRange(request(0, 1023), get);
    expect(seenRanges).toEqual(['bytes=0-1023', undefined]);
    expect(await text(response.stream)).toBe('');
    expect(response).toMatchObject({ served: { start: 0, end: -1 }, totalSize: 0 });
  });

  it('whole: asks without a Range and says later ranges will be honoured; pins to the header named', async () => {
    const http = await store();
    const get = (range: string | undefined) =>
      http.send({ method: 'GET', path: '/full', headers: range ? { range } : {} });
    const { response } = await storeRange(request(0, 3), get, { whole: true, pinHeader: 'content-type' });
    expect(seenRanges).toEqual([undefined]);
    expect(await text(response.stream)).toBe('hello world');
    expect(response).toMatchObject({
      served: { start: 0, end: 10 },
      totalSize: 11,
      rangesHonoured: true,
      pin: 'text/plain',
    });
  });
});

describe('deleteEach', () => {
  it('deletes every key, `limit` at once; a key already gone is deleted; another failure rejects after all settled', async () => {
    const done: string[] = [];
    let inFlight = 0;
    let most = 0;
    const remove = async (key: string) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      if (key === 'gone') throw Object.assign(new Error('not found'), { status: 404 });
      if (key === 'bad') throw new Error('refused');
      done.push(key);
    };
    const gone = (error: unknown) => (error as { status?: number }).status === 404;
    await deleteEach(['a', 'gone', 'b', 'c'], 2, remove, gone);
    expect(done.sort()).toEqual(['a', 'b', 'c']);
    expect(most).toBe(2);
    done.length = 0;
    await expect(deleteEach(['bad', 'x', 'y'], 2, remove, gone)).rejects.toThrow('refused');
    expect(done.sort()).toEqual(['x', 'y']);
  });
});

describe('splitAddress', () => {
  it('splits at the first slash: the name keeps its own', () => {
    expect(splitAddress('bucket/a/b c')).toEqual({ bucket: 'bucket', name: 'a/b c' });
  });
});

describe('statFromHeaders', () => {
  it('reads length, version, date, type and the given checksum from an answer', () => {
    const headers = {
      'content-length': '42',
      etag: '"abc"',
      'x-goog-generation': '17',
      'last-modified': 'Tue, 01 Dec 2026 06:00:00 GMT',
      'content-type': 'text/plain',
    };
    expect(statFromHeaders('a/b', { headers }, { checksum: { algorithm: 'md5', value: 'bWQ1' } })).toEqual({
      key: 'a/b',
      isDir: false,
      size: 42,
      etag: '"abc"',
      lastModified: new Date('2026-12-01T06:00:00Z'),
      contentType: 'text/plain',
      checksum: { algorithm: 'md5', value: 'bWQ1' },
    });
    // The store's own version header instead of the ETag (GCS's generation).
    expect(statFromHeaders('k', { headers }, { version: 'x-goog-generation' }).etag).toBe('17');
  });

  it('leaves out what the answer does not say, and a length that is no length', () => {
    expect(statFromHeaders('k', { headers: { 'content-length': 'x', 'last-modified': 'never' } })).toEqual({
      key: 'k',
      isDir: false,
    });
  });
});

describe('partCredentials', () => {
  it('signs parts 1 to count in order, each with its own copy of the headers', async () => {
    const signed: number[] = [];
    const credentials = await partCredentials(
      3,
      async (n) => {
        signed.push(n);
        return `https://store/part?n=${n}`;
      },
      { 'x-key': 'v' },
    );
    expect(signed).toEqual([1, 2, 3]);
    expect(credentials.map((c) => [c.partNumber, c.url])).toEqual([
      [1, 'https://store/part?n=1'],
      [2, 'https://store/part?n=2'],
      [3, 'https://store/part?n=3'],
    ]);
    expect(credentials[0]!.headers).not.toBe(credentials[1]!.headers);
  });
});

describe('mapBodyErrors', () => {
  it("maps a body's error in its own destroy path, with one shared destroy function for every body", async () => {
    await store();
    const { port } = server.address() as AddressInfo;
    const answer = () =>
      new Promise<IncomingMessage>((resolve, reject) =>
        get(`http://127.0.0.1:${port}/full`, resolve).once('error', reject),
      );
    const bodies = [await answer(), await answer()].map((body, n) =>
      mapBodyErrors(body, (error) => new Error(`body ${n}: ${error.message}`)),
    );
    const errors = bodies.map((body) => new Promise<Error>((resolve) => body.once('error', resolve)));
    bodies[0]!.destroy(new Error('connection reset'));
    bodies[1]!.destroy(new Error('socket hang up'));
    expect((await errors[0]!).message).toBe('body 0: connection reset');
    expect((await errors[1]!).message).toBe('body 1: socket hang up');
    // A function made per body and stored on it would keep it past V8's young-generation collections.
    expect(bodies[0]!._destroy).toBe(bodies[1]!._destroy);
  });
});
