import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactsError } from '@artifacts/core';
import { selfSignedCert } from '@artifacts/integration/certs';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConnectionString } from '../../src/internal/connection-string.js';
import { blobPath, createClients, parseBlobList } from '../../src/internal/lean.js';
import { resolveAzureConfig } from '../../src/internal/settings.js';
import { SharedKey } from '../../src/internal/shared-key.js';
import { parseAzureUri } from '../../src/internal/uri.js';

const KEY = Buffer.alloc(64, 5).toString('base64');

/** Our request path for account `acct` at `endpoint`, with `options`' credential. */
async function clientsAt(endpoint: string, options: Record<string, unknown>, timeoutMs?: number) {
  const location = parseAzureUri('wasbs://models@acct.blob.core.windows.net/');
  return createClients(resolveAzureConfig(location, { endpoint, ...options }), 4, timeoutMs);
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** A listener that records each request and answers 200 with an empty body (or a listing). */
async function recorder(): Promise<{ server: Server; seen: Seen[]; url: string }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => {
      const listing = /comp=list/.test(req.url ?? '');
      const body = listing
        ? '<?xml version="1.0"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>'
        : '';
      res.writeHead(req.method === 'PUT' ? 201 : 200, {
        'content-length': String(Buffer.byteLength(body)),
        etag: '"0x1"',
        'last-modified': new Date().toUTCString(),
        'x-ms-request-id': 'r',
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/acct` };
}

/** The Shared Key authorization our signer gives a request as it arrived. */
function ours(request: Seen): string {
  const url = new URL(request.url, 'http://x');
  const query = [...url.searchParams.entries()] as [string, string][];
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === 'string') headers[name] = value;
  }
  return new SharedKey('acct', KEY).sign(request.method, url.pathname, query, headers);
}

describe('Shared Key signatures', () => {
  let rec: Awaited<ReturnType<typeof recorder>>;
  beforeAll(async () => {
    rec = await recorder();
  });
  afterAll(() => new Promise((resolve) => rec.server.close(resolve)));

  it("equal the SDK's for every request this package sends (Put Blob, Put Block, block list, ranged GET, HEAD, listing, delete)", async () => {
    const service = new BlobServiceClient(rec.url, new StorageSharedKeyCredential('acct', KEY), {
      retryOptions: { maxTries: 1 },
    });
    const container = service.getContainerClient('models');
    const blob = container.getBlockBlobClient('exp/1/a b+c%d(é).bin');
    const data = Buffer.from('some bytes');
    await blob.upload(data, data.length, {
      transactionalContentMD5: Buffer.alloc(16, 1),
      blobHTTPHeaders: { blobContentType: 'text/plain' },
    });
    await blob.stageBlock(Buffer.from('id-000001').toString('base64'), data, data.length, {
      transactionalContentMD5: Buffer.alloc(16, 2),
    });
    await blob.commitBlockList([Buffer.from('id-000001').toString('base64')], {
      blobHTTPHeaders: { blobContentMD5: Buffer.alloc(16, 3), blobContentType: 'application/x' },
    });
    await blob.download(5, 100, { conditions: { ifMatch: '"0x1"' } }).catch(() => undefined);
    await blob.getProperties();
    // The recorder's minimal answers do not satisfy the SDK's parser: only the requests matter.
    await container
      .listBlobsByHierarchy('/', { prefix: 'exp/1/', includeMetadata: true })
      .byPage({ maxPageSize: 7, continuationToken: 'token/with=odd&chars' })
      .next()
      .catch(() => undefined);
    await blob.delete({ deleteSnapshots: 'include' }).catch(() => undefined);
    expect(rec.seen.map((r) => r.method)).toEqual(['PUT', 'PUT', 'PUT', 'GET', 'HEAD', 'GET', 'DELETE']);
    for (const request of rec.seen) {
      expect(ours(request), `${request.method} ${request.url}`).toBe(request.headers.authorization);
    }
  });

  it('our own requests carry a signature our signer and the service agree on (same recorder)', async () => {
    rec.seen.length = 0;
    const { http } = await clientsAt(rec.url, { accountKey: KEY });
    const body = Buffer.from('x');
    await http.send({
      method: 'PUT',
      path: blobPath('models', 'a/b c.bin'),
      query: [
        ['comp', 'block'],
        ['blockid', 'YWJj+/=='],
      ],
      headers: { 'content-length': '1', 'content-md5': 'AAAA' },
      body,
    });
    await http.send({
      method: 'GET',
      path: blobPath('models'),
      query: [
        ['comp', 'list'],
        ['restype', 'container'],
      ],
    });
    http.destroy();
    expect(rec.seen).toHaveLength(2);
    expect(rec.seen[0]!.url).toBe('/acct/models/a/b%20c.bin?comp=block&blockid=YWJj%2B%2F%3D%3D');
    for (const request of rec.seen) expect(ours(request)).toBe(request.headers.authorization);
  });
});

describe('connection strings, parsed as the SDK parses them', () => {
  const cases = [
    'UseDevelopmentStorage=true',
    `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`,
    `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;`,
    `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.chinacloudapi.cn`,
    'BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2024&sig=abc',
    'BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;SharedAccessSignature=?sv=2024&sig=abc',
  ];
  it.each(cases)('%s', (text) => {
    const ours = parseConnectionString(text);
    const sdk = BlobServiceClient.fromConnectionString(text);
    expect(ours.url).toBe(sdk.url.replace(/\?.*$/, '').replace(/\/$/, ''));
    expect(ours.accountName).toBe(sdk.accountName);
    const credential = sdk.credential;
    if (credential instanceof StorageSharedKeyCredential) {
      expect(ours.accountKey).toBeDefined();
      expect(credential.computeHMACSHA256('x')).toBe(
        new StorageSharedKeyCredential('a', ours.accountKey!).computeHMACSHA256('x'),
      );
    } else {
      expect(ours.sas).toBe(new URL(sdk.url).search.slice(1));
    }
  });

  it('refuses what is neither, without echoing a value', () => {
    for (const text of [
      'nonsense SECRET',
      'AccountKey=SECRET',
      'DefaultEndpointsProtocol=ftp;AccountName=a;AccountKey=SECRET',
    ]) {
      expect(() => parseConnectionString(text)).toThrow();
      try {
        parseConnectionString(text);
      } catch (error) {
        expect((error as Error).message).not.toContain('SECRET');
      }
    }
  });
});

describe('listing pages', () => {
  it('names with entities, encoded names, prefixes, metadata and the next marker', async () => {
    const page = await parseBlobList(
      '<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c"><Prefix>p/</Prefix>' +
        '<Blobs><Blob><Name> a &amp; b&#x41;&lt;</Name><Properties><Content-Length>12</Content-Length></Properties>' +
        '<Metadata><hdi_isfolder>true</hdi_isfolder></Metadata></Blob>' +
        '<Blob><Name Encoded="true">x%0Ay</Name><Properties><Content-Length>0</Content-Length></Properties><Metadata /></Blob>' +
        '<BlobPrefix><Name>p/007/</Name></BlobPrefix></Blobs><NextMarker>2!token</NextMarker></EnumerationResults>',
    );
    expect(page).toEqual({
      blobs: [
        { name: ' a & bA<', size: 12, folder: true },
        { name: 'x\ny', size: 0, folder: false },
      ],
      prefixes: ['p/007/'],
      next: '2!token',
    });
    expect(await parseBlobList('<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>')).toEqual({
      blobs: [],
      prefixes: [],
      next: undefined,
    });
  });
});

describe('bearer tokens', () => {
  it('are never sent over plain http', async () => {
    const token = { getToken: async () => ({ token: 't', expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const { http } = await clientsAt('http://127.0.0.1:1/acct', { credential: token });
    const error = await http.send({ method: 'HEAD', path: blobPath('c', 'b') }).catch((e: unknown) => e);
    expect(ArtifactsError.is(error, 'failed_precondition')).toBe(true);
    http.destroy();
  });

  it("a credential that never answers fails the request as a timeout within half the repository's", async () => {
    const credential = { getToken: () => new Promise<never>(() => {}) };
    const { http } = await clientsAt('https://127.0.0.1:1/acct', { credential }, 200);
    const started = Date.now();
    const error = await http.send({ method: 'HEAD', path: blobPath('c', 'b') }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(ArtifactsError.is(error, 'timeout')).toBe(true);
    expect((error as Error).message).toBe(
      'no Microsoft Entra ID token within 0.1 s: the token credential did not answer',
    );
    http.destroy();
  });

  // The integration Azurite speaks plain http without OAuth, so a TLS listener stands in for the
  // service here: it only records the authorization headers.
  it('are fetched once for concurrent requests, reused, and fetched again when due', async () => {
    const cert = selfSignedCert(await mkdtemp(join(tmpdir(), 'azure-tls-')));
    const auth: string[] = [];
    const server = createHttpsServer(
      { cert: await readFile(cert.certFile), key: await readFile(cert.keyFile) },
      (req, res) => {
        auth.push(req.headers.authorization ?? '');
        res.writeHead(200, { 'content-length': '0' });
        res.end();
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let calls = 0;
    const credential = {
      getToken: async (scope: string | string[]) => {
        expect(scope).toBe('https://storage.azure.com/.default');
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 20));
        // The first token is due for a refresh after a minute, the second after an hour.
        const refreshAfterTimestamp = Date.now() + (calls === 1 ? 60_000 : 3_600_000);
        return { token: `t${calls}`, expiresOnTimestamp: Date.now() + 3_600_000, refreshAfterTimestamp };
      },
    };
    // The CA option trusts the listener's self-signed certificate.
    const { http } = await clientsAt(url, { credential, caFile: cert.certFile });
    vi.useFakeTimers({ toFake: ['Date'] });
    const head = () => http.send({ method: 'HEAD', path: blobPath('c', 'b') }).then((a) => a.body.resume());
    await Promise.all([head(), head(), head(), head()]);
    await head();
    expect(calls).toBe(1);
    // A minute later (the clock only: the test takes no real time), the token is due.
    vi.setSystemTime(Date.now() + 61_000);
    await Promise.all([head(), head()]);
    await head();
    expect(calls).toBe(2);
    expect(auth).toEqual([...Array(5).fill('Bearer t1'), 'Bearer t2', 'Bearer t2', 'Bearer t2']);
    vi.useRealTimers();
    http.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
});
