import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ArtifactRepository, ArtifactsError, openRepository } from '@artifacts/core';
import { gcpMetadata } from 'google-auth-library';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import '../../src/index.js';
import { env, uniqueRoot } from './helpers.js';

// Application Default Credentials as a machine without any finds them: no key file variable, an
// empty gcloud configuration directory, and (per test) a metadata server or none.
const endpoint = () => env('ARTIFACTS_IT_GCS_ENDPOINT');
const saved = { ...process.env };
const opened: ArtifactRepository[] = [];
const servers: Server[] = [];

beforeEach(() => {
  for (const name of ['GOOGLE_APPLICATION_CREDENTIALS', 'STORAGE_EMULATOR_HOST', 'GCE_METADATA_HOST'])
    delete process.env[name];
  process.env.CLOUDSDK_CONFIG = mkdtempSync(join(tmpdir(), 'no-gcloud-'));
});
afterEach(async () => {
  process.env = { ...saved };
  gcpMetadata.setGCPResidency(null);
  gcpMetadata.resetIsAvailableCache();
  for (const repo of opened.splice(0)) await repo.close().catch(() => undefined);
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function open(uri: string, options: Record<string, unknown>): Promise<ArtifactRepository> {
  const repo = await openRepository(uri, { endpoint: endpoint(), ...options });
  opened.push(repo);
  return repo;
}

async function failure(promise: Promise<unknown>): Promise<ArtifactsError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ArtifactsError.is(error), `expected an ArtifactsError, got ${String(error)}`).toBe(true);
  return error as ArtifactsError;
}

/**
 * A metadata server that answers what `answers` accepts (as Google's does, with its flavor header)
 * and never answers anything else: a dead or wedged one, which Google's library waits for without
 * bound when it believes it runs on Google Cloud.
 */
async function metadataServer(answers: (request: IncomingMessage) => boolean): Promise<string[]> {
  const asked: string[] = [];
  const server = createServer((request, response) => {
    asked.push(request.url ?? '');
    if (!answers(request)) return;
    response.writeHead(200, { 'metadata-flavor': 'Google', 'content-type': 'text/plain' });
    response.end('artifacts-it-project');
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.env.GCE_METADATA_HOST = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // As on Compute Engine or Cloud Run: the library then sets no timeout on metadata requests.
  gcpMetadata.setGCPResidency(true);
  return asked;
}

describe('Application Default Credentials', () => {
  it('finding none with anonymous access off: every upload fails unauthenticated saying how to give credentials, and nothing is written', async () => {
    process.env.METADATA_SERVER_DETECTION = 'none';
    const uri = uniqueRoot('no-adc');
    const repo = await open(uri, { anonymous: false });
    const chunked = await open(uri, { anonymous: false, uploadChunkSize: 256 * 1024 });
    for (const attempt of [
      () => repo.write('simple.txt', 'x'),
      // Above the simple-upload threshold: a resumable session.
      () => repo.write('resumable.bin', Buffer.alloc(9 * 1024 * 1024, 1)),
      () => chunked.write('chunked.bin', Readable.from([Buffer.alloc(600 * 1024, 2)])),
      () => repo.presignedUrl('simple.txt', 'GET'),
      () => repo.createMultipartUpload('multi.bin', 2),
    ]) {
      const error = await failure(attempt());
      expect(error.code).toBe('unauthenticated');
      expect(error.message).toMatch(/no Google credentials found/);
      expect(error.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
      expect(error.message).toMatch(/keyFilename or credentials/);
    }
    const anonymous = await open(uri, { anonymous: true });
    expect(await anonymous.listArtifactsRecursive()).toEqual([]);
  });

  it('a metadata server that never answers, on Google Cloud: requests fail as a timeout naming it, within half the timeout', async () => {
    const asked = await metadataServer(() => false);
    const repo = await open(uniqueRoot('dead-metadata'), { timeoutMs: 6000, maxRetries: 0 });
    for (const attempt of [
      () => repo.stat('a.txt'),
      () => repo.write('a.txt', 'x'),
      () => repo.listArtifacts(),
    ]) {
      const error = await failure(attempt());
      // Not the operation's own "no progress for 6000 ms": this wait's bound came first and says why.
      expect(error.code).toBe('timeout');
      expect(error.message).toContain(
        `no Google access token within 3 s: the metadata server (${process.env.GCE_METADATA_HOST}) did not answer`,
      );
      expect(error.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
    }
    expect(asked.some((url) => url.includes('/service-accounts/default/token'))).toBe(true);
  });

  it('a metadata server that never answers, elsewhere: looking for credentials is bounded too', async () => {
    await metadataServer(() => false);
    // Off Google Cloud the library gives its ping 3 s; a 2 s bound (timeoutMs 4000) ends it first.
    gcpMetadata.setGCPResidency(false);
    const repo = await open(uniqueRoot('dead-metadata'), { timeoutMs: 4000, maxRetries: 0 });
    const error = await failure(repo.stat('a.txt'));
    expect(error.code).toBe('timeout');
    expect(error.message).toContain(
      `no Google credentials found within 2 s: Application Default Credentials found no key file and the metadata server (${process.env.GCE_METADATA_HOST}) did not answer`,
    );
  });

  it('a metadata server that answers but gives no token: requests fail as a timeout naming it', async () => {
    const asked = await metadataServer((request) => !request.url?.includes('/token'));
    const repo = await open(uniqueRoot('no-token'), { timeoutMs: 6000, maxRetries: 0 });
    const error = await failure(repo.stat('a.txt'));
    expect(error.code).toBe('timeout');
    expect(error.message).toContain(
      `no Google access token within 3 s: the metadata server (${process.env.GCE_METADATA_HOST}) did not answer`,
    );
    expect(asked.some((url) => url.includes('/service-accounts/default/token'))).toBe(true);
  });
});
