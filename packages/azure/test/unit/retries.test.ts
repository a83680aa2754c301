import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ArtifactRepository, ArtifactsError, openRepository } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { azureBackend } from '../../src/index.js';

// A stand-in for the blob service that answers 503 Server Busy to everything: a throttled store,
// which Azurite cannot be made to be on demand. It only counts requests.
const KEY = Buffer.alloc(64, 7).toString('base64');
let server: Server;
let methods: string[];
/** Answer a GET with the headers of a 1 MiB body, send 64 KiB of it, then close the connection. */
let cutBodies = false;
let endpoint: string;
const opened: ArtifactRepository[] = [];

beforeEach(async () => {
  methods = [];
  cutBodies = false;
  server = createServer((req, res) => {
    methods.push(req.method ?? '');
    req.resume();
    if (cutBodies && req.method === 'GET') {
      res.writeHead(200, {
        'content-length': String(1024 * 1024),
        'content-type': 'application/octet-stream',
        etag: '"0x8D0000000000001"',
        'last-modified': new Date().toUTCString(),
      });
      res.write(Buffer.alloc(64 * 1024, 1), () => res.socket?.destroy());
      return;
    }
    res.writeHead(503, { 'x-ms-error-code': 'ServerBusy', 'retry-after': '0' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/myaccount`;
});

afterEach(async () => {
  for (const repo of opened.splice(0)) await repo.close();
  await new Promise((resolve) => server.close(resolve));
});

async function statError(options: Record<string, unknown>): Promise<ArtifactsError> {
  const repo = await openRepository('wasbs://models@myaccount.blob.core.windows.net/exp', {
    accountKey: KEY,
    endpoint,
    ...options,
  });
  opened.push(repo);
  const error = await repo.stat('a.txt').then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!ArtifactsError.is(error)) throw new Error(`expected an ArtifactsError, got ${String(error)}`);
  return error;
}

describe('one retry budget: core', () => {
  it('a throttled request is retried by core alone: maxRetries + 1 requests, not maxTries × core', async () => {
    const error = await statError({ maxRetries: 2 });
    expect(error.code).toBe('unavailable');
    expect(error.temporary).toBe(true);
    expect(methods.filter((m) => m === 'HEAD')).toHaveLength(3);
  });

  it('our own requests make one attempt whatever maxTries says: core alone retries them', async () => {
    const error = await statError({ maxRetries: 0, maxTries: 3 });
    expect(error.code).toBe('unavailable');
    expect(methods.filter((m) => m === 'HEAD')).toHaveLength(1);
  });

  it('a copy is our own requests too: one attempt whatever maxTries says, mapped as every other call', async () => {
    const location = azureBackend.parse!('wasbs://models@myaccount.blob.core.windows.net/exp');
    const driver = await azureBackend.open(
      location,
      { accountKey: KEY, endpoint, maxTries: 3 },
      { location, maxConcurrency: 1, maxRetries: 0 },
    );
    const error = await driver.copy!(driver.locate!('a.txt'), 'b.txt', {}).then(
      () => undefined,
      (e: unknown) => e,
    );
    await driver.close();
    expect(ArtifactsError.is(error), String(error)).toBe(true);
    expect(error).toMatchObject({
      code: 'unavailable',
      temporary: true,
      context: { serviceCode: 'ServerBusy' },
    });
    // The copy's source properties: one Get Blob Properties, and nothing copied.
    expect(methods).toEqual(['HEAD']);
  });

  it("a throttled answer's Retry-After reaches core's retry layer", async () => {
    const error = await statError({ maxRetries: 0 });
    expect(error.context).toMatchObject({ retryAfterMs: 0, serviceCode: 'ServerBusy', status: 503 });
  });
});

describe('a connection cut under a body', () => {
  it('is unavailable and temporary, not aborted', async () => {
    cutBodies = true;
    const repo = await openRepository('wasbs://models@myaccount.blob.core.windows.net/exp', {
      accountKey: KEY,
      endpoint,
      maxRetries: 0,
    });
    opened.push(repo);
    const stream = await repo.openRead('a.bin');
    const error = await (async () => {
      for await (const _ of stream) {
        // drain
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(ArtifactsError.is(error), String(error)).toBe(true);
    expect((error as ArtifactsError).code).toBe('unavailable');
    expect((error as ArtifactsError).temporary).toBe(true);
    expect((error as ArtifactsError).message).toMatch(/connection to the blob service broke/);
  });
});
