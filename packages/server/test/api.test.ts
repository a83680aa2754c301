import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Fixture, filesUnder, startFixture } from './helpers.js';

const PREFIXES = ['/api/2.0', '/ajax-api/2.0'];
const MPU_MESSAGE = 'Multipart upload is not supported for the current artifact repository';

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ auth: { allowUnauthenticated: true } });
});
afterAll(() => f.close());

describe.each(PREFIXES)('the mlflow-artifacts routes under %s', (prefix) => {
  const A = `${prefix}/mlflow-artifacts/artifacts`;
  const run = prefix.replace(/\W/g, '');

  it('PUT stores the body at the path and answers {}', async () => {
    const answer = await call(f.url, 'PUT', `${A}/${run}/model/weights.bin`, { body: 'weights' });
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({});
    expect(await readFile(join(f.destination, run, 'model', 'weights.bin'), 'utf8')).toBe('weights');
  });

  it('GET streams the file back with its headers; HEAD gives the same headers and no body', async () => {
    await call(f.url, 'PUT', `${A}/${run}/notes.txt`, { body: 'hello notes' });
    const get = await call(f.url, 'GET', `${A}/${run}/notes.txt`);
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe('hello notes');
    expect(get.headers['content-length']).toBe('11');
    expect(get.headers['content-type']).toMatch(/^text\/plain/);
    expect(get.headers['content-disposition']).toBe('attachment; filename="notes.txt"');
    expect(get.headers['x-content-type-options']).toBe('nosniff');
    const head = await call(f.url, 'HEAD', `${A}/${run}/notes.txt`);
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe('11');
  });

  it('a local file has an ETag (size and modification time): the same on HEAD, GET and ranges, another once it is replaced', async () => {
    await call(f.url, 'PUT', `${A}/${run}/v.bin`, { body: 'version one' });
    const asks = [
      call(f.url, 'HEAD', `${A}/${run}/v.bin`),
      call(f.url, 'GET', `${A}/${run}/v.bin`),
      call(f.url, 'GET', `${A}/${run}/v.bin`, { headers: { range: 'bytes=0-' } }),
      call(f.url, 'GET', `${A}/${run}/v.bin`, { headers: { range: 'bytes=2-4' } }),
    ];
    const tags = (await Promise.all(asks)).map((answer) => answer.headers.etag);
    expect(tags[0]).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(tags).toEqual(tags.map(() => tags[0]));
    const pinned = { range: 'bytes=8-', 'if-match': String(tags[0]) };
    expect((await call(f.url, 'GET', `${A}/${run}/v.bin`, { headers: pinned })).body.toString()).toBe('one');
    // Replaced (a rename over it, as a writer does) by as many bytes, a second later.
    const file = join(f.destination, run, 'v.bin');
    await writeFile(`${file}.new`, 'version two');
    const later = new Date(Date.now() + 1000);
    await utimes(`${file}.new`, later, later);
    await rename(`${file}.new`, file);
    const stale = await call(f.url, 'GET', `${A}/${run}/v.bin`, { headers: pinned });
    expect([stale.status, stale.json().error_code]).toEqual([412, 'RESOURCE_CONFLICT']);
    const fresh = await call(f.url, 'HEAD', `${A}/${run}/v.bin`);
    expect(fresh.headers.etag).not.toBe(tags[0]);
    expect((await call(f.url, 'HEAD', `${A}/${run}/v.bin`, { headers: { 'if-match': '*' } })).status).toBe(
      200,
    );
  });

  it('GET ?path= lists direct children by base name, with sizes for files; {} when empty or missing', async () => {
    await call(f.url, 'PUT', `${A}/${run}/list/a.txt`, { body: 'aaa' });
    await call(f.url, 'PUT', `${A}/${run}/list/sub/b.txt`, { body: 'b' });
    const listed = await call(f.url, 'GET', `${A}?path=${run}/list`);
    expect(listed.status).toBe(200);
    expect(listed.json()).toEqual({
      files: [
        { path: 'a.txt', is_dir: false, file_size: 3 },
        { path: 'sub', is_dir: true },
      ],
    });
    expect((await call(f.url, 'GET', `${A}?path=${run}/nothing-here`)).json()).toEqual({});
    expect((await call(f.url, 'GET', `${A}?path=${run}/list/a.txt`)).json()).toEqual({});
  });

  it('DELETE removes the path and everything under it, never a sibling sharing the prefix; deleting nothing is fine', async () => {
    await call(f.url, 'PUT', `${A}/${run}/del/foo/x.txt`, { body: 'x' });
    await call(f.url, 'PUT', `${A}/${run}/del/foobar.txt`, { body: 'keep' });
    const answer = await call(f.url, 'DELETE', `${A}/${run}/del/foo`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({});
    expect((await call(f.url, 'GET', `${A}?path=${run}/del`)).json()).toEqual({
      files: [{ path: 'foobar.txt', is_dir: false, file_size: 4 }],
    });
    expect((await call(f.url, 'DELETE', `${A}/${run}/del/foo`)).status).toBe(200);
  });

  it('GET of a missing artifact is 404 RESOURCE_DOES_NOT_EXIST without naming where the server keeps files', async () => {
    const answer = await call(f.url, 'GET', `${A}/${run}/missing.bin`);
    expect(answer.status).toBe(404);
    expect(answer.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    expect(answer.body.toString()).not.toContain(f.destination);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
  });

  it('GET presigned/<path> on a destination without presigned URLs answers 501 with MLflow message', async () => {
    await call(f.url, 'PUT', `${A}/${run}/p.bin`, { body: 'p' });
    const answer = await call(f.url, 'GET', `${prefix}/mlflow-artifacts/presigned/${run}/p.bin`);
    expect(answer.status).toBe(501);
    expect(answer.json()).toEqual({
      error_code: 'NOT_IMPLEMENTED',
      message: 'Multipart download is not supported for the current artifact repository',
    });
  });

  it('server-info (MLflow 3) says multipart is off for a local destination', async () => {
    const answer = await call(f.url, 'GET', `${prefix.replace('2.0', '3.0')}/mlflow/server-info`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toMatchObject({
      multipart_uploads_enabled: false,
      multipart_downloads_enabled: false,
    });
  });

  it.each(['create', 'complete', 'abort'])(
    'mpu/%s on a destination without multipart answers 501 NOT_IMPLEMENTED with MLflow message',
    async (action) => {
      const answer = await call(f.url, 'POST', `${prefix}/mlflow-artifacts/mpu/${action}/${run}/big`, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          path: '/home/me/big.bin',
          num_parts: 3,
          upload_id: 'u1',
          parts: [{ part_number: 1, etag: '"e1"', url: 'http://storage/x' }],
        }),
      });
      expect(answer.status).toBe(501);
      expect(answer.json()).toEqual({ error_code: 'NOT_IMPLEMENTED', message: MPU_MESSAGE });
    },
  );
});

describe('requests the API refuses', () => {
  const A = '/api/2.0/mlflow-artifacts/artifacts';

  it('an unknown route is 404 ENDPOINT_NOT_FOUND in MLflow error JSON', async () => {
    const answer = await call(f.url, 'GET', '/api/2.0/mlflow-artifacts/nope');
    expect(answer.status).toBe(404);
    expect(answer.json().error_code).toBe('ENDPOINT_NOT_FOUND');
  });

  it('deleting the whole destination is refused', async () => {
    await call(f.url, 'PUT', `${A}/keep/me.txt`, { body: 'me' });
    const answer = await call(f.url, 'DELETE', `${A}/`);
    expect(answer.status).toBe(400);
    expect(existsSync(join(f.destination, 'keep', 'me.txt'))).toBe(true);
  });

  it('GET of a directory is 404, not a listing or a server error', async () => {
    await call(f.url, 'PUT', `${A}/dir-get/a.txt`, { body: 'a' });
    const answer = await call(f.url, 'GET', `${A}/dir-get`);
    expect(answer.status).toBe(404);
    expect(answer.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('a malformed JSON body on the mpu routes is 400 BAD_REQUEST', async () => {
    const answer = await call(f.url, 'POST', '/api/2.0/mlflow-artifacts/mpu/create/x', {
      headers: { 'content-type': 'application/json' },
      body: '{"path": ',
    });
    expect(answer.status).toBe(400);
    expect(answer.json().error_code).toBe('BAD_REQUEST');
  });

  it('mpu/create needs a path and an integer num_parts', async () => {
    const post = (body: unknown) =>
      call(f.url, 'POST', '/api/2.0/mlflow-artifacts/mpu/create/x', {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const body of [
      { num_parts: 2 },
      { path: 'a.bin', num_parts: 'two' },
      { path: 3, num_parts: 2 },
      [1],
    ]) {
      const answer = await post(body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.json().error_code).toBe('INVALID_PARAMETER_VALUE');
    }
  });

  it('a repeated ?path= is refused rather than guessed', async () => {
    const answer = await call(f.url, 'GET', `${A}?path=a&path=b`);
    expect(answer.status).toBe(400);
  });
});

describe('ranged downloads', () => {
  const A = '/api/2.0/mlflow-artifacts/artifacts';
  const text = '0123456789abcdefghij';
  beforeAll(async () => {
    await call(f.url, 'PUT', `${A}/range/data.txt`, { body: text });
  });
  const get = (range: string, extra: Record<string, string> = {}) =>
    call(f.url, 'GET', `${A}/range/data.txt`, { headers: { range, ...extra } });

  it('bytes=a-b answers 206 with exactly those bytes, Content-Range and Content-Length', async () => {
    const answer = await get('bytes=2-5');
    expect(answer.status).toBe(206);
    expect(answer.body.toString()).toBe('2345');
    expect(answer.headers['content-range']).toBe('bytes 2-5/20');
    expect(answer.headers['content-length']).toBe('4');
    expect(answer.headers['accept-ranges']).toBe('bytes');
  });

  it('open-ended and suffix ranges', async () => {
    expect((await get('bytes=15-')).body.toString()).toBe('fghij');
    const suffix = await get('bytes=-3');
    expect(suffix.status).toBe(206);
    expect(suffix.body.toString()).toBe('hij');
    expect(suffix.headers['content-range']).toBe('bytes 17-19/20');
  });

  it('a range past the end is 416 with Content-Range: bytes */size', async () => {
    const answer = await get('bytes=20-30');
    expect(answer.status).toBe(416);
    expect(answer.headers['content-range']).toBe('bytes */20');
  });

  it('several ranges, a malformed header or a stale If-Range get the whole file (200)', async () => {
    for (const [range, extra] of [
      ['bytes=0-1,5-6', {}],
      ['bytes=x-y', {}],
      ['bytes=0-1', { 'if-range': 'Thu, 01 Jan 1970 00:00:00 GMT' }],
    ] as const) {
      const answer = await get(range, extra);
      expect(answer.status, range).toBe(200);
      expect(answer.body.toString()).toBe(text);
    }
  });
});

describe('download headers', () => {
  const A = '/api/2.0/mlflow-artifacts/artifacts';

  it('a non-ASCII file name is sent as an RFC 6266 filename* with an ASCII fallback', async () => {
    await call(f.url, 'PUT', `${A}/names/${encodeURIComponent('données été.csv')}`, { body: 'a,b' });
    const answer = await call(f.url, 'GET', `${A}/names/${encodeURIComponent('données été.csv')}`);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-disposition']).toBe(
      `attachment; filename="donn?es ?t?.csv"; filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9.csv`,
    );
    expect(answer.headers['content-type']).toMatch(/^text\/csv/);
  });

  it('quotes in a file name cannot break out of the header', async () => {
    await call(f.url, 'PUT', `${A}/names/${encodeURIComponent('a"b.html')}`, { body: '<script>x</script>' });
    const answer = await call(f.url, 'GET', `${A}/names/${encodeURIComponent('a"b.html')}`);
    expect(answer.headers['content-disposition']).toBe('attachment; filename="a\\"b.html"');
    // HTML is still served as a download that a browser neither sniffs nor runs.
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['content-security-policy']).toContain("default-src 'none'");
  });
});

describe('upload limits', () => {
  let limited: Fixture;
  beforeAll(async () => {
    limited = await startFixture({ auth: { allowUnauthenticated: true }, limits: { maxUploadBytes: 1000 } });
  });
  afterAll(() => limited.close());
  const A = '/api/2.0/mlflow-artifacts/artifacts';

  it('a declared Content-Length over the limit is 413 at once, and nothing is stored', async () => {
    const answer = await call(limited.url, 'PUT', `${A}/big.bin`, { body: Buffer.alloc(5000) });
    expect(answer.status).toBe(413);
    expect(await filesUnder(limited.destination)).toEqual([]);
  });

  it('a chunked body that grows past the limit is cut with 413 and leaves nothing behind', async () => {
    const { Readable } = await import('node:stream');
    const body = Readable.from([Buffer.alloc(600), Buffer.alloc(600)]);
    const answer = await call(limited.url, 'PUT', `${A}/chunked.bin`, { body });
    expect(answer.status).toBe(413);
    // Never at the key; the temporary file may go a moment after the answer.
    await expectNothingLeft(limited.destination);
  });

  it('a body within the limit is stored', async () => {
    const answer = await call(limited.url, 'PUT', `${A}/small.bin`, { body: Buffer.alloc(1000, 7) });
    expect(answer.status).toBe(200);
    expect((await readFile(join(limited.destination, 'small.bin'))).length).toBe(1000);
  });
});

/**
 * Nothing is ever at a key under `destination`, and its temporary files are gone: waited for (at most
 * 10 s) rather than a guessed delay, as the server removes them once it has seen the failure, which
 * takes longer on a busy machine.
 */
async function expectNothingLeft(destination: string): Promise<void> {
  let left = await filesUnder(destination);
  for (const started = Date.now(); left.length > 0 && Date.now() - started < 10_000; ) {
    expect(left.filter((file) => !file.includes('.artifacts-tmp'))).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    left = await filesUnder(destination);
  }
  expect(left).toEqual([]);
}

describe('health', () => {
  it('GET /health answers OK', async () => {
    const answer = await call(f.url, 'GET', '/health');
    expect(answer.status).toBe(200);
    expect(answer.body.toString()).toBe('OK');
  });
});

describe('an upload whose client disconnects half-way', () => {
  it('leaves nothing at the key', async () => {
    const isolated = await startFixture({ auth: { allowUnauthenticated: true } });
    try {
      const net = await import('node:net');
      const url = new URL(isolated.url);
      const socket = net.connect(Number(url.port), url.hostname);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write(
        'PUT /api/2.0/mlflow-artifacts/artifacts/cut/model.bin HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4000000\r\n\r\n',
      );
      socket.write(Buffer.alloc(1_000_000, 1));
      await new Promise((resolve) => setTimeout(resolve, 200));
      socket.destroy();
      // Never at the key; the temporary file goes once the server has seen the disconnect.
      await expectNothingLeft(isolated.destination);
      const answer = await call(isolated.url, 'GET', '/api/2.0/mlflow-artifacts/artifacts?path=cut');
      expect(answer.json()).toEqual({});
    } finally {
      await isolated.close();
    }
  });
});

describe('the destination holds only what was uploaded', () => {
  it('files written by this suite are all under the destination', async () => {
    const outside = join(f.parent, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'sentinel'), 'untouched');
    const A = '/api/2.0/mlflow-artifacts/artifacts';
    const answer = await call(f.url, 'PUT', `${A}/..%2foutside%2fsentinel`, { body: 'evil' });
    expect(answer.status).toBe(400);
    expect(await readFile(join(outside, 'sentinel'), 'utf8')).toBe('untouched');
  });
});
