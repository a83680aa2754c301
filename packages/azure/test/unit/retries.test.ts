import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ArtifactRepository, ArtifactsError, openRepository } from '@artifacts/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../src/index.js';

// A stand-in for the blob service that answers 503 Server Busy to everything: a throttled store,
// which Azurite cannot be made to be on demand. It only counts requests.
const KEY = Buffer.alloc(64, 7).toString('base64');
let server: Server;
let methods: string[];
let endpoint: string;
const opened: ArtifactRepository[] = [];

beforeEach(async () => {
  methods = [];
  server = createServer((req, res) => {
    methods.push(req.method ?? '');
    req.resume();
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

  it('an explicit maxTries still makes the SDK retry inside each of core’s attempts', async () => {
    const error = await statError({ maxRetries: 0, maxTries: 2 });
    expect(error.code).toBe('unavailable');
    expect(methods.filter((m) => m === 'HEAD')).toHaveLength(2);
  }, 30_000);
});
