import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type ArtifactRepository, openRepository } from '@artifacts/core';
import '@artifacts/s3';
import { type AccessLogEntry, createArtifactServer } from '@artifacts/server';
import {
  dataBytes,
  dataStream,
  describeConformance,
  hashData,
  hashStream,
  readAll,
  startHttpFaultProxy,
} from '@artifacts/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import '../../src/index.js';

// @artifacts/http → @artifacts/server → MinIO: the conformance suite, and proxied multipart uploads
// whose parts go straight to MinIO through the server's presigned URLs.

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run through vitest.integration.config.ts`);
  return value;
}

const MiB = 1024 * 1024;
const TOKEN = 'http-minio-integration-token';
const destination = `${env('ARTIFACTS_IT_S3_URI')}/http-via-server-${randomUUID()}`;
const access: AccessLogEntry[] = [];
const server = await createArtifactServer({
  artifactsDestination: destination,
  port: 0,
  auth: { tokens: [TOKEN] },
  accessLog: (entry) => access.push(entry),
});
const { url } = await server.listen();
const open = (root: string, options: Record<string, unknown> = {}) =>
  openRepository(`${url}/api/2.0/mlflow-artifacts/artifacts/${root}`, {
    token: TOKEN,
    maxRetries: 1,
    ...options,
  });
const direct = await openRepository(destination);
// One transfer first: the S3 SDK, undici and Fastify allocate their pools on first use (~80 MiB in
// this process, which hosts client, server and SDK), which is not growth with file size.
{
  const warm = await open('warm-up');
  await warm.write('warm.bin', dataStream(32 * MiB, { seed: 'warm' }), { size: 32 * MiB });
  await warm.deleteArtifacts();
  await warm.close();
}
const work = await mkdtemp(join(tmpdir(), 'artifacts-http-minio-'));

afterAll(async () => {
  await direct.deleteArtifacts().catch(() => undefined);
  await direct.close();
  await server.close();
  await rm(work, { recursive: true, force: true });
});

describeConformance('http client → @artifacts/server → MinIO', {
  open: () => open(`conformance/${randomUUID()}`),
  largeFileBytes: 64 * MiB,
  manyFiles: 300,
});

describe('proxied multipart uploads to MinIO', () => {
  let repo: ArtifactRepository;
  afterAll(() => repo?.close());

  it('parts go straight to MinIO through presigned URLs; the object is complete and correct', async () => {
    repo = await open('mpu', {
      multipartUpload: true,
      multipartMinimumFileSize: 8 * MiB,
      multipartChunkSize: 5 * MiB,
    });
    const size = 23 * MiB + 17;
    const file = join(work, 'weights.bin');
    await writeFile(file, dataBytes(size, { seed: 'mpu' }));
    const before = access.length;
    await repo.logArtifact(file, 'model');
    const seen = access.slice(before).map((entry) => `${entry.method} ${entry.route} ${entry.status}`);
    expect(seen).toEqual([
      'POST /api/2.0/mlflow-artifacts/mpu/create/* 200',
      'POST /api/2.0/mlflow-artifacts/mpu/complete/* 200',
    ]);
    expect((await hashStream(await direct.openRead('mpu/model/weights.bin'))).digest).toBe(
      (await hashData(size, { seed: 'mpu' })).digest,
    );
    expect(await repo.listArtifacts('model')).toEqual([
      { path: 'model/weights.bin', isDir: false, fileSize: size },
    ]);
  });

  it('a file under the threshold is one PUT through the server', async () => {
    const file = join(work, 'small.bin');
    await writeFile(file, dataBytes(MiB, { seed: 'small' }));
    const before = access.length;
    await repo.logArtifact(file, 'model');
    expect(access.slice(before).map((entry) => `${entry.method} ${entry.status}`)).toEqual(['PUT 200']);
  });
});

describe('large downloads from the server (ranged-read engine)', () => {
  it('are read as parallel ranges checked against the ETag, and an overwrite mid-read is detected', async () => {
    const root = `ranged-${randomUUID()}`;
    // 8 MiB parts: the server is on this machine, where the default is one GET for the whole file.
    const repo = await open(root, { downloadPartSize: 8 * MiB });
    const size = 48 * MiB + 5;
    await direct.write(`${root}/big.bin`, dataStream(size, { seed: 'ranged' }), { size });

    const before = access.length;
    const dst = await mkdtemp(join(work, 'down-'));
    await repo.downloadArtifacts('big.bin', dst);
    expect(await hashStream(createReadStream(join(dst, 'big.bin')))).toEqual(
      await hashData(size, { seed: 'ranged' }),
    );
    const gets = access.slice(before).filter((entry) => entry.method === 'GET');
    // The first plain GET (dropped once it said the file is large), then 7 ranges of 8 MiB.
    expect(gets.filter((entry) => entry.status === 206)).toHaveLength(7);

    const stream = await repo.openRead('big.bin');
    const reader = stream[Symbol.asyncIterator]();
    await reader.next();
    await direct.write(`${root}/big.bin`, dataStream(size, { seed: 'other' }), { size });
    const error = await (async () => {
      for (let next = await reader.next(); !next.done; next = await reader.next());
    })().catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('failed_precondition');
    expect((error as Error).message).toMatch(/changed while it was being read/);
    await repo.close();
  });
});

describe('stat names the version a read serves', () => {
  it("ETag and Last-Modified from the server's HEAD, the same a read reports; a new version, a new ETag", async () => {
    const root = `validators-${randomUUID()}`;
    const repo = await open(root);
    try {
      await repo.write('model.bin', dataStream(3 * MiB, { seed: 'v1' }), { size: 3 * MiB });
      const stat = await repo.stat('model.bin');
      expect(stat).toMatchObject({ path: 'model.bin', isDir: false, fileSize: 3 * MiB });
      expect(stat.etag).toMatch(/^".+"$/);
      expect(stat.lastModified).toBeInstanceOf(Date);
      const opened: { etag?: string; lastModified?: Date }[] = [];
      await readAll(await repo.openRead('model.bin', { onOpen: (info) => opened.push(info) }));
      await readAll(
        await repo.openRead('model.bin', {
          range: { start: MiB, end: 2 * MiB },
          onOpen: (info) => opened.push(info),
        }),
      );
      for (const info of opened) {
        expect(info.etag).toBe(stat.etag);
        expect(info.lastModified?.getTime()).toBe(stat.lastModified?.getTime());
      }

      await repo.write('model.bin', dataStream(3 * MiB, { seed: 'v2' }), { size: 3 * MiB });
      expect((await repo.stat('model.bin')).etag).not.toBe(stat.etag);
      // A directory and a missing key are still told apart by the listing.
      await repo.write('dir/inside.txt', 'x');
      expect(await repo.stat('dir')).toEqual({ path: 'dir', isDir: true });
      expect(await repo.exists('missing.bin')).toBe(false);
    } finally {
      await repo.deleteArtifacts();
      await repo.close();
    }
  });
});

describe('storage requests behind each download', () => {
  it('one GET to MinIO per ranged GET through the server: no HEAD first, small or large', async () => {
    const counter = await startHttpFaultProxy(env('MLFLOW_S3_ENDPOINT_URL'));
    const counted = await createArtifactServer({
      artifactsDestination: destination,
      repositoryOptions: { endpointUrl: counter.url },
      port: 0,
      auth: { tokens: [TOKEN] },
      accessLog: false,
    });
    const root = `counted-${randomUUID()}`;
    const repo = await openRepository(
      `${(await counted.listen()).url}/api/2.0/mlflow-artifacts/artifacts/${root}`,
      { token: TOKEN, maxRetries: 1, downloadPartSize: 8 * MiB },
    );
    try {
      const big = 20 * MiB + 3;
      await direct.write(`${root}/small.txt`, Readable.from([Buffer.from('small file')]), { size: 10 });
      await direct.write(`${root}/big.bin`, dataStream(big, { seed: 'counted' }), { size: big });
      const dst = await mkdtemp(join(work, 'counted-'));
      // What MinIO received: listings apart from object requests (the client's stat is a HEAD).
      const storageCalls = async (download: () => Promise<unknown>) => {
        counter.requests.length = 0;
        await download();
        return counter.requests
          .map((request) => `${request.method} ${/[?&]list-type=/.test(request.url) ? 'listing' : 'object'}`)
          .sort();
      };
      expect(await storageCalls(async () => readAll(await repo.openRead('small.txt')))).toEqual([
        'GET object',
      ]);
      // The download's one stat (the client's HEAD), then the read: no HEAD before any GET.
      expect(await storageCalls(() => repo.downloadArtifacts('small.txt', dst))).toEqual([
        'GET object',
        'HEAD object',
      ]);
      // Three ranges of 8 MiB: three GETs of the object.
      expect(await storageCalls(() => repo.downloadArtifacts('big.bin', dst))).toEqual([
        'GET object',
        'GET object',
        'GET object',
        'HEAD object',
      ]);
      expect(await hashStream(createReadStream(join(dst, 'big.bin')))).toEqual(
        await hashData(big, { seed: 'counted' }),
      );
    } finally {
      await repo.close();
      await counted.close();
      await counter.close();
    }
  });
});
