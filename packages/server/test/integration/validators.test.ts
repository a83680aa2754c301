import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import '@artifacts/azure';
import '@artifacts/ftp';
import '@artifacts/gcs';
import '@artifacts/hdfs';
import '@artifacts/s3';
import '@artifacts/sftp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ArtifactServer, createArtifactServer } from '../../src/index.js';
import { call } from '../helpers.js';

// A client that compares validators (a browser cache, a resuming download tool) must see one version
// of one object: HEAD (a stat), a whole GET and every ranged GET (reads, which pin the version they
// serve) send the same ETag and Last-Modified, against each real store the server fronts.

const A = '/api/2.0/mlflow-artifacts/artifacts';
const BODY = 'the same version, whichever way it is asked for';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'server-validators-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each([
  { name: 'MinIO', destination: () => env('ARTIFACTS_IT_S3_URI') },
  { name: 'Azurite', destination: () => env('ARTIFACTS_IT_AZURE_URI') },
  { name: 'fake-gcs-server', destination: () => env('ARTIFACTS_IT_GCS_URI') },
  // A version that is no quoted entity tag (a generation, an inode id) is sent quoted.
  { name: 'MiniDFSCluster', destination: () => env('ARTIFACTS_IT_HDFS_URI') },
  // A store that names no version gets one from the size and modification time.
  { name: 'vsftpd', destination: () => env('ARTIFACTS_IT_FTP_URI') },
  { name: 'OpenSSH', destination: () => env('ARTIFACTS_IT_SFTP_URI') },
  { name: 'a local directory', destination: () => join(work, 'destination') },
])('validators over $name', ({ destination: base }) => {
  let server: ArtifactServer;
  let url: string;
  let direct: ArtifactRepository;

  beforeAll(async () => {
    const destination = `${base()}/validators-${randomUUID()}`;
    server = await createArtifactServer({
      artifactsDestination: destination,
      port: 0,
      accessLog: false,
      auth: { allowUnauthenticated: true },
    });
    ({ url } = await server.listen());
    direct = await openRepository(destination);
    expect((await call(url, 'PUT', `${A}/file.txt`, { body: BODY })).status).toBe(200);
  });

  afterAll(async () => {
    await direct?.deleteArtifacts().catch(() => undefined);
    await direct?.close();
    await server?.close();
  });

  it('HEAD, a whole GET and ranged GETs name the same ETag and Last-Modified', async () => {
    const asks: Array<[string, Record<string, string>]> = [
      ['HEAD', {}],
      ['GET', {}],
      // @artifacts/http's first request, a bounded range and an open one.
      ['GET', { range: 'bytes=0-8388607' }],
      ['GET', { range: 'bytes=4-11' }],
      ['GET', { range: 'bytes=9-' }],
    ];
    const seen = [];
    for (const [method, headers] of asks) {
      const answer = await call(url, method, `${A}/file.txt`, { headers });
      expect(answer.status, `${method} ${JSON.stringify(headers)}`).toBe(headers.range ? 206 : 200);
      seen.push({ etag: answer.headers.etag, lastModified: answer.headers['last-modified'] });
    }
    const [head] = seen;
    expect(head?.lastModified).toMatch(/ GMT$/);
    expect(head?.etag).toMatch(/^"[^"]+"$/);
    expect(seen).toEqual(asks.map(() => head));
  });

  it("a read's validators pass If-Range, so a resumed download continues", async () => {
    const read = await call(url, 'GET', `${A}/file.txt`, { headers: { range: 'bytes=0-3' } });
    const validators = [read.headers['last-modified'], read.headers.etag];
    for (const validator of validators) {
      const resumed = await call(url, 'GET', `${A}/file.txt`, {
        headers: { range: 'bytes=4-', 'if-range': String(validator) },
      });
      expect([resumed.status, resumed.body.toString()], String(validator)).toEqual([206, BODY.slice(4)]);
    }
  });

  it('a read pinned with If-Match is served while the version lasts, refused (412) once it is replaced', async () => {
    expect((await call(url, 'PUT', `${A}/pinned.txt`, { body: BODY })).status).toBe(200);
    const first = await call(url, 'GET', `${A}/pinned.txt`, { headers: { range: 'bytes=0-3' } });
    const pin = String(first.headers.etag);
    const again = await call(url, 'GET', `${A}/pinned.txt`, {
      headers: { range: 'bytes=4-', 'if-match': pin },
    });
    expect([again.status, again.body.toString()]).toEqual([206, BODY.slice(4)]);
    expect((await call(url, 'GET', `${A}/pinned.txt`, { headers: { 'if-match': '"other"' } })).status).toBe(
      412,
    );
    // Replaced by a version of the same size (a second later: SFTP and FTP times are whole seconds).
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await call(url, 'PUT', `${A}/pinned.txt`, { body: BODY.toUpperCase() })).status).toBe(200);
    const stale = await call(url, 'GET', `${A}/pinned.txt`, {
      headers: { range: 'bytes=4-', 'if-match': pin },
    });
    expect(stale.status).toBe(412);
    expect(stale.json().error_code).toBe('RESOURCE_CONFLICT');
  });
});
