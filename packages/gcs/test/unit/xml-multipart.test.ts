import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArtifactUri } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GcsDriver } from '../../src/internal/driver.js';
import { createGcsClient } from '../../src/internal/lean.js';
import { resolveGcsConfig } from '../../src/internal/settings.js';

// fake-gcs-server has no XML multipart API, so these tests record the requests the driver sends to a
// local server that answers as the XML API documents. The OAuth token is left out (the auth client
// gives no headers): everything else is what GCS would receive.
const key = JSON.parse(
  readFileSync(new URL('./fixtures/conformance-service-account.json', import.meta.url), 'utf8'),
);

interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let endpoint: string;
let recorded: Recorded[];
let answer: (req: Recorded) => { status: number; body: string };
let savedEmulator: string | undefined;

beforeEach(async () => {
  savedEmulator = process.env.STORAGE_EMULATOR_HOST;
  delete process.env.STORAGE_EMULATOR_HOST;
  recorded = [];
  answer = () => ({ status: 200, body: '' });
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    recorded.push(entry);
    const { status, body: out } = answer(entry);
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  if (savedEmulator !== undefined) process.env.STORAGE_EMULATOR_HOST = savedEmulator;
  vi.restoreAllMocks();
  await new Promise((resolve) => server.close(resolve));
});

async function signingDriver(uri = 'gs://my-bucket/exp/1') {
  const config = resolveGcsConfig(parseArtifactUri(uri), {
    endpoint,
    anonymous: false,
    credentials: { client_email: key.client_email, private_key: key.private_key },
  });
  const client = await createGcsClient(config);
  vi.spyOn((await client.credentials())!.authClient, 'getRequestHeaders').mockResolvedValue(
    new Headers() as never,
  );
  return new GcsDriver(config, client);
}

describe('XML-API multipart upload (request shapes)', () => {
  it('create: POST <bucket>/<object>?uploads, then one signed PUT URL per part', async () => {
    answer = () => ({
      status: 200,
      body: '<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>my-bucket</Bucket><Key>exp/1/m o/d.bin</Key><UploadId>UP-123</UploadId></InitiateMultipartUploadResult>',
    });
    const driver = await signingDriver();
    const upload = await driver.multipart!.create('m o/d.bin', { numParts: 3, expiresInSeconds: 600 });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.method).toBe('POST');
    expect(recorded[0]!.url).toBe('/my-bucket/exp/1/m%20o/d.bin?uploads');
    expect(recorded[0]!.headers['content-type']).toBe('application/octet-stream');
    expect(upload.uploadId).toBe('UP-123');
    expect(upload.credentials.map((c) => c.partNumber)).toEqual([1, 2, 3]);
    const url = new URL(upload.credentials[1]!.url);
    expect(url.origin).toBe(endpoint);
    expect(url.pathname).toBe('/my-bucket/exp/1/m%20o/d.bin');
    expect(url.searchParams.get('partNumber')).toBe('2');
    expect(url.searchParams.get('uploadId')).toBe('UP-123');
    expect(url.searchParams.get('X-Goog-Expires')).toBe('600');
    expect(url.searchParams.get('X-Goog-Signature')).toMatch(/^[0-9a-f]+$/);
  });

  it("create: the object's path RFC 3986-encoded, !'()* too (the bytes GCS signs and decodes)", async () => {
    answer = () => ({
      status: 200,
      body: '<?xml version="1.0"?><InitiateMultipartUploadResult><UploadId>UP-1</UploadId></InitiateMultipartUploadResult>',
    });
    const driver = await signingDriver();
    await driver.multipart!.create("it's (1)/*new*!+é.bin", { numParts: 1, expiresInSeconds: 600 });
    expect(recorded[0]!.url).toBe('/my-bucket/exp/1/it%27s%20%281%29/%2Anew%2A%21%2B%C3%A9.bin?uploads');
  });

  it('complete: POST ?uploadId= with the parts in part order and their ETags, quoted', async () => {
    const driver = await signingDriver();
    await driver.multipart!.complete('d.bin', 'UP 1', [
      { partNumber: 2, etag: 'e2' },
      { partNumber: 1, etag: '"e1"' },
    ]);
    expect(recorded[0]!.method).toBe('POST');
    expect(recorded[0]!.url).toBe('/my-bucket/exp/1/d.bin?uploadId=UP%201');
    expect(recorded[0]!.headers['content-type']).toBe('application/xml');
    // S3's document (core's xml-multipart.ts), which the XML API takes from S3 clients; an ETag
    // given without its quotes is listed as the store sent it, quoted.
    expect(recorded[0]!.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>"e1"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"e2"</ETag></Part></CompleteMultipartUpload>',
    );
  });

  it('abort: DELETE ?uploadId=; an upload already gone (404) is not an error', async () => {
    const driver = await signingDriver();
    await driver.multipart!.abort('d.bin', 'UP-1');
    expect(recorded[0]!.method).toBe('DELETE');
    expect(recorded[0]!.url).toBe('/my-bucket/exp/1/d.bin?uploadId=UP-1');
    answer = () => ({ status: 404, body: '<Error><Code>NoSuchUpload</Code></Error>' });
    await driver.multipart!.abort('d.bin', 'UP-1');
  });

  it('errors of the XML API are mapped, and a missing upload id is refused', async () => {
    answer = () => ({ status: 403, body: '<Error><Code>AccessDenied</Code></Error>' });
    const driver = await signingDriver();
    await expect(driver.multipart!.create('d.bin', { numParts: 1 })).rejects.toMatchObject({
      code: 'permission_denied',
    });
    await expect(
      driver.multipart!.complete('d.bin', null, [{ partNumber: 1, etag: 'x' }]),
    ).rejects.toMatchObject({
      code: 'invalid_argument',
    });
  });
});
