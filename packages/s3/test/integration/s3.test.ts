import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { type ArtifactRepository, ArtifactsError, openRepository } from '@artifacts/core';
import {
  DeleteBucketPolicyCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketPolicyCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import '../../src/index.js';
import {
  adminClient,
  env,
  type FaultProxy,
  prefixOf,
  setEnv,
  startFaultProxy,
  uniqueRoot,
} from './helpers.js';

const MiB = 1024 * 1024;
const admin = adminClient();
const bucket = () => env('ARTIFACTS_IT_S3_BUCKET');

const opened: ArtifactRepository[] = [];
const restores: Array<() => void> = [];

/** Opens a repository that the test's cleanup deletes and closes. */
const execFileAsync = promisify(execFile);

async function open(uri = uniqueRoot(), options: Record<string, unknown> = {}): Promise<ArtifactRepository> {
  const repo = await openRepository(uri, options);
  opened.push(repo);
  return repo;
}

function withEnv(vars: Record<string, string | undefined>): void {
  restores.push(setEnv(vars));
}

afterEach(async () => {
  while (restores.length) restores.pop()!();
  for (const repo of opened.splice(0)) {
    await repo.deleteArtifacts().catch(() => undefined);
    await repo.close().catch(() => undefined);
  }
});

afterAll(() => admin.destroy());

async function readAllBytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function codeOf(promise: Promise<unknown>): Promise<ArtifactsError> {
  try {
    await promise;
  } catch (error) {
    expect(ArtifactsError.is(error)).toBe(true);
    return error as ArtifactsError;
  }
  throw new Error('expected the call to fail');
}

async function keysUnder(prefix: string, endpoint?: string): Promise<string[]> {
  const client = endpoint ? adminClient(endpoint) : admin;
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket(), Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) keys.push(object.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (endpoint) client.destroy();
  return keys;
}

/** Multipart uploads in progress for one key (MinIO lists uploads by exact object name only). */
async function pendingUploads(key: string): Promise<string[]> {
  const out = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket(), Prefix: key }));
  return (out.Uploads ?? []).map((u) => u.UploadId!);
}

describe('endpoint (MLFLOW_S3_ENDPOINT_URL)', () => {
  it('stores at s3://bucket/<root>/<path> on the endpoint, never folding the endpoint into the key', async () => {
    const uri = uniqueRoot('endpoint');
    const repo = await open(uri);
    await repo.write('model/model.pkl', 'weights');
    expect(await keysUnder(prefixOf(uri))).toEqual([`${prefixOf(uri)}/model/model.pkl`]);
    expect(repo.uri).toBe(uri);
  });

  it('sends requests to whichever server the variable names', async () => {
    // The https MinIO is a second server with its own data: what lands there is not on the first.
    withEnv({
      MLFLOW_S3_ENDPOINT_URL: env('ARTIFACTS_IT_S3_TLS_ENDPOINT'),
      AWS_CA_BUNDLE: env('ARTIFACTS_IT_S3_CA_FILE'),
      MLFLOW_S3_IGNORE_TLS: undefined,
    });
    const uri = uniqueRoot('endpoint-var');
    const repo = await open(uri);
    await repo.write('a.txt', 'on the tls server');
    expect(await keysUnder(prefixOf(uri), env('ARTIFACTS_IT_S3_TLS_ENDPOINT'))).toEqual([
      `${prefixOf(uri)}/a.txt`,
    ]);
    expect(await keysUnder(prefixOf(uri))).toEqual([]);
  });

  it('the endpointUrl option wins over the variable', async () => {
    const plain = env('MLFLOW_S3_ENDPOINT_URL');
    withEnv({ MLFLOW_S3_ENDPOINT_URL: 'http://127.0.0.1:1' });
    const uri = uniqueRoot('endpoint-opt');
    const repo = await open(uri, { endpointUrl: plain });
    await repo.write('a.txt', 'x');
    expect(await keysUnder(prefixOf(uri))).toEqual([`${prefixOf(uri)}/a.txt`]);
  });

  it('s3a:// URIs (Hadoop style) address the same objects', async () => {
    const uri = uniqueRoot('s3a');
    const repo = await open(uri);
    await repo.write('x/y.txt', 'hadoop');
    const twin = await open(uri.replace(/^s3:/, 's3a:'));
    expect(await twin.listArtifacts('x')).toEqual([{ path: 'x/y.txt', isDir: false, fileSize: 6 }]);
  });
});

describe('TLS (MLFLOW_S3_IGNORE_TLS, AWS_CA_BUNDLE) against MinIO with a self-signed certificate', () => {
  const tlsEnv = (vars: Record<string, string | undefined>) =>
    withEnv({
      MLFLOW_S3_ENDPOINT_URL: env('ARTIFACTS_IT_S3_TLS_ENDPOINT'),
      AWS_CA_BUNDLE: undefined,
      MLFLOW_S3_IGNORE_TLS: undefined,
      ...vars,
    });

  it('fails by default, as unauthenticated (untrusted_certificate), naming both settings', async () => {
    tlsEnv({});
    const repo = await open(uniqueRoot('tls-default'));
    const error = await codeOf(repo.write('a.txt', 'x'));
    expect(error.code).toBe('unauthenticated');
    expect(error.context).toMatchObject({ reason: 'untrusted_certificate' });
    expect(error.message).toMatch(/AWS_CA_BUNDLE/);
    expect(error.message).toMatch(/MLFLOW_S3_IGNORE_TLS/);
  });

  it('works with AWS_CA_BUNDLE pointing at the certificate', async () => {
    tlsEnv({ AWS_CA_BUNDLE: env('ARTIFACTS_IT_S3_CA_FILE') });
    const repo = await open(uniqueRoot('tls-ca'));
    await repo.write('a.txt', 'trusted');
    expect((await readAllBytes(await repo.openRead('a.txt'))).toString()).toBe('trusted');
  });

  it('works with MLFLOW_S3_IGNORE_TLS=true', async () => {
    tlsEnv({ MLFLOW_S3_IGNORE_TLS: 'true' });
    const repo = await open(uniqueRoot('tls-ignore'));
    await repo.write('a.txt', 'unverified');
    expect(await repo.listArtifacts()).toEqual([{ path: 'a.txt', isDir: false, fileSize: 10 }]);
  });

  it('refuses both at once with a clear error', async () => {
    tlsEnv({ MLFLOW_S3_IGNORE_TLS: 'true', AWS_CA_BUNDLE: env('ARTIFACTS_IT_S3_CA_FILE') });
    const error = await codeOf(openRepository(uniqueRoot('tls-both')));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/MLFLOW_S3_IGNORE_TLS and AWS_CA_BUNDLE are both set/);
  });

  it('a CA bundle that does not exist is a clear error', async () => {
    tlsEnv({ AWS_CA_BUNDLE: '/nonexistent/ca.pem' });
    const error = await codeOf(openRepository(uniqueRoot('tls-missing')));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('/nonexistent/ca.pem');
  });
});

describe('MLFLOW_S3_UPLOAD_EXTRA_ARGS', () => {
  it('metadata, cache control and SSE-KMS reach the stored object (single PUT and multipart)', async () => {
    const kmsKey = env('ARTIFACTS_IT_S3_KMS_KEY_ID');
    withEnv({
      MLFLOW_S3_UPLOAD_EXTRA_ARGS: JSON.stringify({
        Metadata: { team: 'ml', run: '42' },
        CacheControl: 'max-age=60',
        ContentDisposition: 'attachment',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: kmsKey,
      }),
    });
    const uri = uniqueRoot('extra');
    const repo = await open(uri, { partSizeBytes: 5 * MiB });
    const big = randomBytes(11 * MiB);
    await repo.write('small.txt', 'hello');
    await repo.write('big.bin', big);
    for (const name of ['small.txt', 'big.bin']) {
      const head = await admin.send(
        new HeadObjectCommand({ Bucket: bucket(), Key: `${prefixOf(uri)}/${name}` }),
      );
      expect(head.Metadata).toEqual({ team: 'ml', run: '42' });
      expect(head.CacheControl).toBe('max-age=60');
      expect(head.ContentDisposition).toBe('attachment');
      expect(head.ServerSideEncryption).toBe('aws:kms');
      expect(head.SSEKMSKeyId).toContain(kmsKey);
    }
    expect(
      createHash('sha256')
        .update(await readAllBytes(await repo.openRead('big.bin')))
        .digest('hex'),
    ).toBe(createHash('sha256').update(big).digest('hex'));
  });

  it('SSE-S3 (AES256) and a storage class', async () => {
    const uri = uniqueRoot('sse-s3');
    const repo = await open(uri, {
      uploadExtraArgs: { ServerSideEncryption: 'AES256', StorageClass: 'STANDARD' },
    });
    await repo.write('a.txt', 'encrypted at rest');
    const head = await admin.send(new HeadObjectCommand({ Bucket: bucket(), Key: `${prefixOf(uri)}/a.txt` }));
    expect(head.ServerSideEncryption).toBe('AES256');
  });

  it('refuses unknown keys, naming them', async () => {
    withEnv({ MLFLOW_S3_UPLOAD_EXTRA_ARGS: '{"Metadata": {"a": "b"}, "Colour": "red"}' });
    const error = await codeOf(openRepository(uniqueRoot('extra-bad')));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain('unknown upload argument(s) Colour');
  });
});

describe('listing and deleting more than 1,000 keys', () => {
  it('lists 1,100 keys (paginated) and deletes them in batches, sparing siblings', async () => {
    const uri = uniqueRoot('many');
    const repo = await open(uri, { maxConcurrency: 32 });
    const names = Array.from({ length: 1100 }, (_, i) => `many/f${String(i).padStart(4, '0')}.txt`);
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((name) => repo.write(name, name)));
    }
    await repo.write('many/sub/deep.txt', 'deep');
    await repo.write('manyfoo.txt', 'sibling file');
    await repo.write('many-sibling/keep.txt', 'sibling dir');

    const listed = await repo.listArtifacts('many');
    expect(listed).toHaveLength(1101);
    expect(listed[0]).toEqual({ path: 'many/f0000.txt', isDir: false, fileSize: 14 });
    expect(listed.at(-1)).toEqual({ path: 'many/sub', isDir: true });
    expect(await repo.listArtifactsRecursive('many')).toHaveLength(1101);

    await repo.deleteArtifacts('many');
    expect(await repo.listArtifacts('many')).toEqual([]);
    expect(await keysUnder(`${prefixOf(uri)}/many/`)).toEqual([]);
    expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['many-sibling', 'manyfoo.txt']);
    // Idempotent: deleting nothing is not an error.
    await repo.deleteArtifacts('many');
  });
});

describe('multipart capability (the proxy server’s mpu/create, complete, abort)', () => {
  it('parts PUT with plain fetch to presigned URLs, then completed with their ETags', async () => {
    const repo = await open(uniqueRoot('mpu'));
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
    const upload = await repo.createMultipartUpload('models/big.bin', parts.length, {
      expiresInSeconds: 600,
    });
    expect(upload.uploadId).toBeTruthy();
    expect(upload.credentials.map((c) => c.partNumber)).toEqual([1, 2, 3]);
    const completed = [];
    for (const credential of upload.credentials) {
      expect(new URL(credential.url).searchParams.get('X-Amz-Expires')).toBe('600');
      const response = await fetch(credential.url, {
        method: 'PUT',
        body: parts[credential.partNumber - 1]!,
        headers: credential.headers,
      });
      expect(response.status, await response.clone().text()).toBe(200);
      completed.push({ partNumber: credential.partNumber, etag: response.headers.get('etag')! });
    }
    // Parts may be completed in any order; the backend sorts them.
    await repo.completeMultipartUpload('models/big.bin', upload.uploadId, completed.reverse());
    const whole = Buffer.concat(parts);
    const read = await readAllBytes(await repo.openRead('models/big.bin'));
    expect(read.equals(whole)).toBe(true);
    expect((await repo.stat('models/big.bin')).fileSize).toBe(whole.length);
    expect((await repo.stat('models/big.bin')).contentType).toBe('application/octet-stream');
  });

  it('an aborted multipart upload leaves no object and no pending upload; aborting twice is fine', async () => {
    const uri = uniqueRoot('mpu-abort');
    const repo = await open(uri);
    const upload = await repo.createMultipartUpload('x.bin', 2);
    const response = await fetch(upload.credentials[0]!.url, { method: 'PUT', body: randomBytes(5 * MiB) });
    expect(response.status).toBe(200);
    expect(await pendingUploads(`${prefixOf(uri)}/x.bin`)).toEqual([upload.uploadId]);
    await repo.abortMultipartUpload('x.bin', upload.uploadId);
    await repo.abortMultipartUpload('x.bin', upload.uploadId);
    expect(await pendingUploads(`${prefixOf(uri)}/x.bin`)).toEqual([]);
    expect((await codeOf(repo.stat('x.bin'))).code).toBe('not_found');
  });

  it('completing with a wrong ETag fails and publishes nothing', async () => {
    const repo = await open(uniqueRoot('mpu-bad'));
    const upload = await repo.createMultipartUpload('x.bin', 1);
    await fetch(upload.credentials[0]!.url, { method: 'PUT', body: randomBytes(1000) });
    const error = await codeOf(
      repo.completeMultipartUpload('x.bin', upload.uploadId, [{ partNumber: 1, etag: '"0123456789abcdef"' }]),
    );
    expect(error.code).toBe('invalid_argument');
    expect((await codeOf(repo.stat('x.bin'))).code).toBe('not_found');
    await repo.abortMultipartUpload('x.bin', upload.uploadId);
  });
});

describe('presigned GET and PUT URLs', () => {
  it('a presigned PUT stores what fetch sends, a presigned GET returns it', async () => {
    const repo = await open(uniqueRoot('presign'));
    const body = randomBytes(300_000);
    const putUrl = await repo.presignedUrl('p/data.bin', 'PUT');
    expect(new URL(putUrl).searchParams.get('X-Amz-Expires')).toBe('3600');
    const put = await fetch(putUrl, { method: 'PUT', body });
    expect(put.status, await put.text()).toBe(200);
    const getUrl = await repo.presignedUrl('p/data.bin', 'GET', { expiresInSeconds: 60 });
    const get = await fetch(getUrl);
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);
  });

  it('a tampered presigned URL is refused by the server', async () => {
    const repo = await open(uniqueRoot('presign-bad'));
    await repo.write('a.txt', 'x');
    const url = new URL(await repo.presignedUrl('a.txt', 'GET'));
    url.pathname = url.pathname.replace('a.txt', 'b.txt');
    expect((await fetch(url)).status).toBe(403);
  });
});

describe('errors', () => {
  it('a wrong secret key is unauthenticated and never shown', async () => {
    const secret = 'wrong-secret-0123456789';
    const repo = await open(uniqueRoot('creds'), {
      credentials: { accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: secret },
    });
    for (const call of [
      () => repo.write('a.txt', 'x'),
      () => repo.listArtifacts(),
      () => repo.openRead('a.txt'),
      () => repo.stat('a.txt'),
      () => repo.deleteArtifacts('a'),
    ]) {
      const error = await codeOf(call());
      expect(error.code).toBe('unauthenticated');
      expect(error.message).not.toContain(secret);
    }
  });

  it('an unknown access key is unauthenticated', async () => {
    const repo = await open(uniqueRoot('creds-id'), {
      credentials: { accessKeyId: 'AKIAUNKNOWNKEY', secretAccessKey: 'whatever-secret' },
    });
    expect((await codeOf(repo.listArtifacts())).code).toBe('unauthenticated');
    expect((await codeOf(repo.stat('x'))).code).toBe('unauthenticated');
  });

  it('a missing bucket is not_found naming the bucket', async () => {
    const repo = await open('s3://no-such-bucket-artifacts/root');
    for (const call of [
      () => repo.listArtifacts(),
      () => repo.openRead('a.txt'),
      () => repo.write('a.txt', 'x'),
    ]) {
      const error = await codeOf(call());
      expect(error.code).toBe('not_found');
      expect(error.message).toContain('no-such-bucket-artifacts');
    }
  });

  it('a missing key is not_found naming the key', async () => {
    const uri = uniqueRoot('missing');
    const repo = await open(uri);
    const error = await codeOf(repo.openRead('nope/model.pkl'));
    expect(error.code).toBe('not_found');
    expect(error.message).toContain('nope/model.pkl');
    expect((await codeOf(repo.stat('nope'))).code).toBe('not_found');
    expect(await repo.listArtifacts('nope')).toEqual([]);
  });

  it('writing through anonymous access to a private bucket is permission_denied', async () => {
    const repo = await open(uniqueRoot('anon-denied'), { anonymous: true });
    expect((await codeOf(repo.write('a.txt', 'x'))).code).toBe('permission_denied');
  });
});

describe('anonymous access to a public prefix', () => {
  const publicPrefix = `public-${Date.now()}`;
  beforeAll(async () => {
    await admin.send(
      new PutBucketPolicyCommand({
        Bucket: bucket(),
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { AWS: ['*'] },
              Action: ['s3:GetObject'],
              Resource: [`arn:aws:s3:::${bucket()}/${publicPrefix}/*`],
            },
          ],
        }),
      }),
    );
    await admin.send(
      new PutObjectCommand({ Bucket: bucket(), Key: `${publicPrefix}/data.txt`, Body: 'public data' }),
    );
  });
  afterAll(async () => {
    await admin.send(new DeleteBucketPolicyCommand({ Bucket: bucket() }));
  });

  it('reads without any credentials', async () => {
    withEnv({ AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined });
    const repo = await openRepository(`s3://${bucket()}/${publicPrefix}`, { anonymous: true });
    try {
      expect((await readAllBytes(await repo.openRead('data.txt'))).toString()).toBe('public data');
    } finally {
      await repo.close();
    }
  });
});

describe('uploads that fail or are aborted leave nothing', () => {
  it('an upload aborted half-way leaves no object and no dangling multipart upload', async () => {
    const uri = uniqueRoot('abort');
    const repo = await open(uri, { partSizeBytes: 5 * MiB });
    const key = `${prefixOf(uri)}/half.bin`;
    const controller = new AbortController();
    let produced = 0;
    let pendingAtAbort: string[] | undefined;
    const body = new Readable({
      read() {
        if (produced === 12 * MiB) {
          // Parts are out: the multipart upload exists; give up before the end.
          void pendingUploads(key).then((ids) => {
            pendingAtAbort = ids;
            controller.abort();
          });
        }
        produced += MiB;
        setTimeout(() => this.push(randomBytes(MiB)), 5);
      },
    });
    const error = await codeOf(repo.write('half.bin', body, { signal: controller.signal }));
    expect(error.code).toBe('aborted');
    expect(produced).toBeLessThan(30 * MiB);
    expect(pendingAtAbort).toHaveLength(1);
    expect(await keysUnder(`${prefixOf(uri)}/`)).toEqual([]);
    expect(await pendingUploads(key)).toEqual([]);
  });

  it('a body that fails half-way leaves no object and no dangling multipart upload', async () => {
    const uri = uniqueRoot('fail');
    const repo = await open(uri, { partSizeBytes: 5 * MiB });
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= 11 * MiB) {
          this.destroy(new Error('the source disk went away'));
          return;
        }
        produced += MiB;
        this.push(randomBytes(MiB));
      },
    });
    expect((await codeOf(repo.write('broken.bin', body))).message).toContain('the source disk went away');
    expect(await keysUnder(`${prefixOf(uri)}/`)).toEqual([]);
    expect(await pendingUploads(`${prefixOf(uri)}/broken.bin`)).toEqual([]);
  });
});

describe('through a fault-injecting proxy', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy();
  });
  afterAll(async () => {
    await proxy.close();
  });
  afterEach(() => {
    proxy.corruptRequests = false;
    proxy.corruptResponses = false;
    proxy.delayMs = 0;
    proxy.failPartNumber = undefined;
    proxy.resetPartNumber = undefined;
    proxy.resetRangeStart = undefined;
    proxy.beforeRange = undefined;
    proxy.failHeads = false;
    proxy.requests.length = 0;
  });

  const rangedGets = () =>
    proxy.requests
      .filter((r) => r.method === 'GET' && typeof r.headers.range === 'string')
      .map((r) => Number(/^bytes=(\d+)-/.exec(String(r.headers.range))?.[1]));

  it('a reset half-way through one range of a parallel download resumes that range only', async () => {
    const repo = await open(uniqueRoot('reset-range'), {
      endpointUrl: proxy.endpoint,
      partSizeBytes: 8 * MiB,
      parallelDownloadThresholdBytes: 8 * MiB,
      downloadChunkSizeBytes: 8 * MiB,
    });
    const data = randomBytes(40 * MiB);
    await repo.write('big.bin', data);
    for (const how of ['file', 'stream'] as const) {
      proxy.requests.length = 0;
      proxy.resetRangeStart = 16 * MiB;
      let back: Buffer;
      if (how === 'file') {
        const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
        await repo.downloadArtifacts('big.bin', dst);
        back = await readFile(join(dst, 'big.bin'));
        expect(await readdir(dst)).toEqual(['big.bin']);
      } else {
        back = await readAllBytes(await repo.openRead('big.bin'));
      }
      expect(createHash('sha256').update(back).digest('hex')).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
      const starts = rangedGets();
      // One whole GET (cut after its first part), the four other ranges once each, and one resumption
      // of the broken range from where it broke.
      expect(starts.filter((start) => start % (8 * MiB) === 0).sort((a, b) => a - b)).toEqual([
        8 * MiB,
        16 * MiB,
        24 * MiB,
        32 * MiB,
      ]);
      const resumed = starts.filter((start) => start % (8 * MiB) !== 0);
      expect(resumed).toHaveLength(1);
      expect(resumed[0]).toBeGreaterThan(16 * MiB);
      expect(resumed[0]).toBeLessThan(24 * MiB);
    }
  });

  it('an object overwritten during a download fails with failed_precondition and leaves no file', async () => {
    const uri = uniqueRoot('overwrite');
    // 1 MiB ranges, 4 in flight: the range at 5 MiB is asked for after the first ones were served.
    const repo = await open(uri, {
      endpointUrl: proxy.endpoint,
      parallelDownloadThresholdBytes: MiB,
      downloadChunkSizeBytes: MiB,
    });
    for (const how of ['file', 'stream'] as const) {
      await repo.write('big.bin', randomBytes(6 * MiB));
      proxy.beforeRange = {
        start: 5 * MiB,
        run: async () => {
          await admin.send(
            new PutObjectCommand({
              Bucket: bucket(),
              Key: `${prefixOf(uri)}/big.bin`,
              Body: randomBytes(6 * MiB),
            }),
          );
        },
      };
      const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
      proxy.requests.length = 0;
      const error =
        how === 'file'
          ? await codeOf(repo.downloadArtifacts('big.bin', dst))
          : await codeOf(repo.openRead('big.bin').then(readAllBytes));
      expect(error.code).toBe('failed_precondition');
      expect(error.message).toMatch(/changed while it was being read/);
      expect(await readdir(dst)).toEqual([]);
      expect(proxy.beforeRange).toBeUndefined();
      // The held request itself met the new version (412), not a retry after it timed out.
      const pinned = proxy.requests.filter((r) => r.method === 'GET' && r.rangeStart === 5 * MiB);
      expect(pinned).toHaveLength(1);
      expect(pinned[0]!.headers['if-match']).toBeTruthy();
    }
  });

  it('a throttled stat is retried by core alone: maxRetries + 1 requests', async () => {
    const repo = await open(uniqueRoot('throttled-head'), { endpointUrl: proxy.endpoint, maxRetries: 2 });
    await repo.write('a.txt', 'x');
    proxy.failHeads = true;
    proxy.requests.length = 0;
    const error = await codeOf(repo.stat('a.txt'));
    expect(error.code).toBe('unavailable');
    expect(error.temporary).toBe(true);
    expect(proxy.requests.filter((r) => r.method === 'HEAD')).toHaveLength(3);
  });

  it('a part the server keeps refusing (503 SlowDown) fails as unavailable after retries and leaves nothing', async () => {
    const uri = uniqueRoot('slowdown');
    const repo = await open(uri, {
      endpointUrl: proxy.endpoint,
      partSizeBytes: 5 * MiB,
      maxRetries: 1,
    });
    proxy.failPartNumber = 2;
    const error = await codeOf(repo.write('big.bin', randomBytes(16 * MiB)));
    expect(error.code).toBe('unavailable');
    const refused = proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber=2'));
    expect(refused).toHaveLength(2);
    expect(await keysUnder(`${prefixOf(uri)}/`)).toEqual([]);
    expect(await pendingUploads(`${prefixOf(uri)}/big.bin`)).toEqual([]);
  });

  it('a connection reset half-way through a part retries that part only', async () => {
    const uri = uniqueRoot('reset-part');
    const repo = await open(uri, { endpointUrl: proxy.endpoint, partSizeBytes: 5 * MiB });
    const data = randomBytes(16 * MiB);
    proxy.resetPartNumber = 2;
    await repo.write('big.bin', data);
    const puts = (n: number) =>
      proxy.requests.filter((r) => r.method === 'PUT' && new RegExp(`[?&]partNumber=${n}(&|$)`).test(r.url))
        .length;
    expect([puts(1), puts(2), puts(3), puts(4)]).toEqual([1, 2, 1, 1]);
    expect(proxy.requests.filter((r) => r.method === 'POST' && r.url.includes('uploads'))).toHaveLength(1);
    const back = await readAllBytes(await repo.openRead('big.bin'));
    expect(back.equals(data)).toBe(true);
  });

  it('a download corrupted on the way is an integrity error (single PUT object)', async () => {
    const repo = await open(uniqueRoot('corrupt-get'), { endpointUrl: proxy.endpoint });
    await repo.write('a.bin', randomBytes(256 * 1024));
    proxy.corruptResponses = true;
    const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
    const error = await codeOf(repo.downloadArtifacts('a.bin', dst));
    expect(error.code).toBe('integrity');
  });

  it('a multipart object has a whole-object checksum, so its corruption is caught too (parallel download)', async () => {
    const uri = uniqueRoot('corrupt-mpu');
    const repo = await open(uri, {
      endpointUrl: proxy.endpoint,
      partSizeBytes: 5 * MiB,
      parallelDownloadThresholdBytes: 8 * MiB,
      downloadChunkSizeBytes: 4 * MiB,
    });
    const body = randomBytes(13 * MiB);
    await repo.write('big.bin', body);
    const head = await admin.send(
      new HeadObjectCommand({ Bucket: bucket(), Key: `${prefixOf(uri)}/big.bin`, ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumType).toBe('FULL_OBJECT');
    expect(head.ChecksumCRC32).toMatch(/^[A-Za-z0-9+/]+=*$/);

    // Intact: several ranged GETs, stitched in order.
    proxy.requests.length = 0;
    expect((await readAllBytes(await repo.openRead('big.bin'))).equals(body)).toBe(true);
    const gets = proxy.requests.filter((r) => r.method === 'GET' && !r.url.includes('list-type'));
    expect(gets.filter((r) => r.headers.range).length).toBeGreaterThanOrEqual(3);

    proxy.corruptResponses = true;
    const error = await codeOf(readAllBytes(await repo.openRead('big.bin')));
    expect(error.code).toBe('integrity');
  });

  it('an upload corrupted on the way is refused by the server as an integrity error', async () => {
    const uri = uniqueRoot('corrupt-put');
    const repo = await open(uri, { endpointUrl: proxy.endpoint });
    proxy.corruptRequests = true;
    const error = await codeOf(repo.write('a.bin', randomBytes(100_000)));
    expect(error.code).toBe('integrity');
    expect(await keysUnder(`${prefixOf(uri)}/`)).toEqual([]);
  });

  it('over plain http the body is signed: one changed on the way is refused even without a checksum', async () => {
    expect(proxy.endpoint.startsWith('http:')).toBe(true);
    const uri = uniqueRoot('signed-payload');
    for (const timeout of [undefined, '30']) {
      // With a stall timeout each part goes out as a stream of its buffer, without one as the buffer.
      withEnv({ MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT: timeout });
      const repo = await open(uri, {
        endpointUrl: proxy.endpoint,
        checksumAlgorithm: 'NONE',
        partSizeBytes: 5 * MiB,
      });
      proxy.requests.length = 0;
      await repo.write('whole.bin', randomBytes(100_000));
      await repo.write('parts.bin', randomBytes(6 * MiB));
      const puts = proxy.requests.filter((r) => r.method === 'PUT');
      expect(puts.length).toBe(3);
      for (const put of puts) expect(put.headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
      proxy.corruptRequests = true;
      // The proxy changes one byte in the first chunk of each PUT body (of more than 1 KiB).
      expect((await codeOf(repo.write('bad.bin', randomBytes(100_000)))).code).toBe('integrity');
      expect((await codeOf(repo.write('bad-parts.bin', randomBytes(6 * MiB)))).code).toBe('integrity');
      proxy.corruptRequests = false;
      expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['parts.bin', 'whole.bin']);
    }
  });

  it('SHA256: a single PUT and each part carry their own SHA-256, which the server accepts (composite: no whole-object one)', async () => {
    const repo = await open(uniqueRoot('sha256'), {
      endpointUrl: proxy.endpoint,
      checksumAlgorithm: 'SHA256',
      partSizeBytes: 5 * MiB,
    });
    const whole = randomBytes(100_000);
    const parts = randomBytes(6 * MiB);
    proxy.requests.length = 0;
    await repo.write('whole.bin', whole);
    await repo.write('parts.bin', parts);
    const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('base64');
    const puts = proxy.requests.filter((r) => r.method === 'PUT');
    expect(puts.map((r) => r.headers['x-amz-checksum-sha256'])).toEqual([
      sha256(whole),
      ...[parts.subarray(0, 5 * MiB), parts.subarray(5 * MiB)].map(sha256),
    ]);
    expect((await readAllBytes(await repo.openRead('whole.bin'))).equals(whole)).toBe(true);
    expect((await readAllBytes(await repo.openRead('parts.bin'))).equals(parts)).toBe(true);
  });

  it('MLFLOW_S3_EXPECTED_BUCKET_OWNER goes with every request', async () => {
    withEnv({ MLFLOW_S3_EXPECTED_BUCKET_OWNER: '111122223333' });
    const repo = await open(uniqueRoot('owner'), { endpointUrl: proxy.endpoint, partSizeBytes: 5 * MiB });
    proxy.requests.length = 0;
    await repo.write('big.bin', randomBytes(6 * MiB));
    await repo.write('a.txt', 'x');
    await repo.listArtifacts();
    await repo.stat('a.txt');
    await readAllBytes(await repo.openRead('a.txt'));
    await repo.deleteArtifacts();
    expect(proxy.requests.length).toBeGreaterThanOrEqual(9);
    for (const request of proxy.requests) {
      expect(request.headers['x-amz-expected-bucket-owner'], `${request.method} ${request.url}`).toBe(
        '111122223333',
      );
    }
  });

  it('MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT bounds a transfer from a stalled server', async () => {
    withEnv({ MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT: '1' });
    const repo = await open(uniqueRoot('timeout'), { endpointUrl: proxy.endpoint });
    await repo.write('a.txt', 'x');
    proxy.delayMs = 4000;
    const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
    const started = Date.now();
    const error = await codeOf(repo.downloadArtifacts('a.txt', dst));
    expect(error.code).toBe('timeout');
    expect(Date.now() - started).toBeLessThan(3500);
  });

  it('path-style addressing with a custom endpoint (auto, as boto does)', async () => {
    const repo = await open(uniqueRoot('style'), { endpointUrl: proxy.endpoint });
    await repo.write('a.txt', 'x');
    const put = proxy.requests.find((r) => r.method === 'PUT')!;
    expect(put.url.startsWith(`/${bucket()}/`)).toBe(true);
    expect(put.headers.host).toBe(new URL(proxy.endpoint).host);
  });
});

describe('our own requests, every one of them', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy();
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('sends every request itself, SigV4-signed, with the CRC of each PUT as a header', async () => {
    const repo = await open(uniqueRoot('lean'), { endpointUrl: proxy.endpoint, partSizeBytes: 5 * MiB });
    const big = randomBytes(6 * MiB);
    proxy.requests.length = 0;
    await repo.write('small.txt', 'lean body');
    await repo.write('big.bin', big);
    expect((await readAllBytes(await repo.openRead('small.txt'))).toString()).toBe('lean body');
    const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
    await repo.downloadArtifacts('big.bin', dst);
    expect((await readFile(join(dst, 'big.bin'))).equals(big)).toBe(true);
    expect((await repo.listArtifacts('')).map((f) => f.path).sort()).toEqual(['big.bin', 'small.txt']);
    await repo.deleteArtifacts('small.txt');
    const data = proxy.requests;
    // PutObject, create, 2 UploadParts, complete, a whole GET, the download's HEAD and GET(s), a
    // listing, the delete's listing and DeleteObjects
    expect(data.length).toBeGreaterThanOrEqual(11);
    expect(data.some((r) => r.method === 'HEAD')).toBe(true);
    for (const r of data) {
      const what = `${r.method} ${r.url}`;
      expect(r.headers.authorization, what).toMatch(
        /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/us-east-1\/s3\/aws4_request/,
      );
      // MinIO here is plain http: the payload's SHA-256 is signed (UNSIGNED-PAYLOAD over https).
      expect(r.headers['x-amz-content-sha256'], what).toMatch(/^[0-9a-f]{64}$/);
      // The SDK stamps every request it sends with an invocation id; ours carry none.
      expect(r.headers['amz-sdk-invocation-id'], what).toBeUndefined();
      if (r.method === 'PUT') expect(r.headers['x-amz-checksum-crc32'], what).toMatch(/^[A-Za-z0-9+/]{6}==$/);
      // The multipart upload asks for (and completes with) the whole object's CRC.
      if (r.method === 'POST' && /[?&]upload(s|Id)=/.test(r.url))
        expect(r.headers['x-amz-checksum-type'], what).toBe('FULL_OBJECT');
    }
    expect(
      data.filter((r) => r.method === 'POST').map((r) => /[?&](uploads|uploadId|delete)\b/.exec(r.url)?.[1]),
    ).toEqual(['uploads', 'uploadId', 'delete']);
    const parts = data.filter((r) => r.method === 'PUT' && /[?&]partNumber=\d/.test(r.url));
    expect(parts.map((r) => /partNumber=(\d+)/.exec(r.url)?.[1]).sort()).toEqual(['1', '2']);
    const wholeGet = data.find((r) => r.method === 'GET' && r.url.endsWith('/small.txt'))!;
    expect(wholeGet.headers['x-amz-checksum-mode']).toBe('ENABLED');
    expect((await repo.stat('big.bin')).fileSize).toBe(6 * MiB);
    expect(await repo.exists('small.txt')).toBe(false);
  });

  it.each([
    ['static keys, no shared config file', undefined, false],
    [
      "static keys, a shared config file naming the profile's region",
      '[default]\nregion = us-east-1\n',
      false,
    ],
    ["a profile's keys in the shared credentials file: the SDK's chain finds them", '', true],
  ])(
    '%s: every operation works; the AWS SDK is loaded only for its credential chain',
    async (_, config, chain) => {
      // A fresh process that records every @aws-sdk/@smithy module it resolves.
      const dir = await mkdtemp(join(tmpdir(), 's3-it-'));
      if (config !== undefined) await writeFile(join(dir, 'config'), config);
      const keys = `aws_access_key_id = ${env('AWS_ACCESS_KEY_ID')}\naws_secret_access_key = ${env('AWS_SECRET_ACCESS_KEY')}\n`;
      if (chain) await writeFile(join(dir, 'credentials'), `[it-profile]\n${keys}`);
      const script = new URL('./fixtures/lean-no-sdk.mjs', import.meta.url).pathname;
      const { stdout } = await execFileAsync(
        process.execPath,
        ['--import', 'tsx', script, uniqueRoot('nosdk')],
        {
          cwd: new URL('../..', import.meta.url).pathname,
          env: {
            ...process.env,
            AWS_PROFILE: chain ? 'it-profile' : '',
            AWS_REGION: '',
            AWS_CONFIG_FILE: join(dir, 'config'),
            AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
            ...(chain ? { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' } : {}),
          },
        },
      );
      const out = JSON.parse(stdout.trim().split('\n').at(-1) as string) as {
        text: string;
        listed: string[];
        left: string[];
        size: number;
        presigned: string;
        seen: string[];
      };
      expect(out).toMatchObject({
        text: 'lean body',
        listed: ['small.txt'],
        left: [],
        size: 9,
        presigned: 'lean body',
      });
      if (chain) expect(out.seen).toContain('@aws-sdk/client-s3');
      else expect(out.seen).toEqual([]);
    },
  );

  it("a bucket in another region than the one signed for is followed there, once (S3's x-amz-bucket-region)", async () => {
    proxy.redirectRegion = 'eu-west-1';
    try {
      const repo = await open(uniqueRoot('region'), {
        endpointUrl: proxy.endpoint,
        region: 'eu-west-1',
        timeoutMs: 30_000, // parts go out as streams: the moved one is sent again by core's retry
      });
      proxy.requests.length = 0;
      await repo.write('a.txt', 'moved');
      expect((await readAllBytes(await repo.openRead('a.txt'))).toString()).toBe('moved');
      expect((await repo.listArtifacts()).map((f) => f.path)).toEqual(['a.txt']);
      const regions = proxy.requests.map(
        (r) => /\/\d{8}\/([^/]+)\//.exec(String(r.headers.authorization))?.[1],
      );
      expect(regions[0]).toBe('eu-west-1');
      expect(regions.slice(1).every((region) => region === 'us-east-1')).toBe(true);
      expect(regions.length).toBeGreaterThanOrEqual(4);
    } finally {
      proxy.redirectRegion = undefined;
    }
  });

  it('a refused signature on our own PUT and GET is unauthenticated, names the S3 code, never the secret', async () => {
    const repo = await open(uniqueRoot('lean-creds'));
    await repo.write('a.txt', 'x');
    const secret = 'wrong-secret-for-lean-path';
    const wrong = await open(repo.uri, {
      credentials: { accessKeyId: env('AWS_ACCESS_KEY_ID'), secretAccessKey: secret },
    });
    const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
    for (const call of [() => wrong.write('b.txt', 'y'), () => wrong.downloadArtifacts('a.txt', dst)]) {
      const error = await codeOf(call());
      expect(error.code).toBe('unauthenticated');
      expect(error.message).toMatch(/credentials were refused.*SignatureDoesNotMatch/);
      expect(error.context.status).toBe(403);
      expect(error.message).not.toContain(secret);
    }
    expect(await readdir(dst)).toEqual([]);
  });

  it('SSE-C: our PUTs, parts and GETs send the customer key headers; without the key the object is unreadable', async () => {
    withEnv({
      MLFLOW_S3_ENDPOINT_URL: env('ARTIFACTS_IT_S3_TLS_ENDPOINT'),
      AWS_CA_BUNDLE: env('ARTIFACTS_IT_S3_CA_FILE'),
      MLFLOW_S3_IGNORE_TLS: undefined,
    });
    const key = randomBytes(32).toString('base64');
    const root = uniqueRoot('ssec');
    const repo = await open(root, {
      partSizeBytes: 5 * MiB,
      parallelDownloadThresholdBytes: 5 * MiB,
      downloadChunkSizeBytes: 5 * MiB,
      uploadExtraArgs: { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key },
    });
    const big = randomBytes(11 * MiB);
    await repo.write('small.txt', 'secret body');
    await repo.write('big.bin', big);
    expect((await readAllBytes(await repo.openRead('small.txt'))).toString()).toBe('secret body');
    const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
    await repo.downloadArtifacts('big.bin', dst);
    expect((await readFile(join(dst, 'big.bin'))).equals(big)).toBe(true);
    const tls = adminClient(env('ARTIFACTS_IT_S3_TLS_ENDPOINT'));
    try {
      const refused = await tls
        .send(new GetObjectCommand({ Bucket: bucket(), Key: `${prefixOf(root)}/small.txt` }))
        .then(
          () => undefined,
          (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
        );
      expect(refused).toBe(400);
    } finally {
      tls.destroy();
    }
  });
});

describe('reads', () => {
  it('ranged reads return the requested bytes; a range past the end is empty', async () => {
    const repo = await open(uniqueRoot('range'));
    const body = randomBytes(100_000);
    await repo.write('r.bin', body);
    expect(
      (await readAllBytes(await repo.openRead('r.bin', { range: { start: 10, end: 19 } }))).equals(
        body.subarray(10, 20),
      ),
    ).toBe(true);
    expect(
      (await readAllBytes(await repo.openRead('r.bin', { range: { start: 99_990 } }))).equals(
        body.subarray(99_990),
      ),
    ).toBe(true);
    expect((await readAllBytes(await repo.openRead('r.bin', { range: { start: 200_000 } }))).length).toBe(0);
  });

  it('any range of an empty object reads nothing (S3 refuses every range of one: InvalidRange)', async () => {
    const repo = await open(uniqueRoot('range-empty'));
    await repo.write('empty.bin', Buffer.alloc(0));
    for (const range of [{ start: 0 }, { start: 0, end: 9 }, { start: 5 }, { start: 5, end: 9 }]) {
      expect((await readAllBytes(await repo.openRead('empty.bin', { range }))).length).toBe(0);
    }
    await expect(repo.openRead('missing.bin', { range: { start: 5 } })).rejects.toMatchObject({
      code: 'not_found',
    });
  });

  it('downloads a file larger than the parallel threshold to disk intact, with its content type', async () => {
    const repo = await open(uniqueRoot('download'), {
      partSizeBytes: 5 * MiB,
      parallelDownloadThresholdBytes: 6 * MiB,
      downloadChunkSizeBytes: 2 * MiB,
    });
    const src = await mkdtemp(join(tmpdir(), 's3-it-'));
    const body = randomBytes(9 * MiB + 17);
    await writeFile(join(src, 'weights.parquet'), body);
    await writeFile(join(src, 'plot.png'), 'png');
    await repo.logArtifacts(src, 'out');
    const dst = await mkdtemp(join(tmpdir(), 's3-it-'));
    const local = await repo.downloadArtifacts('out', dst);
    expect((await readFile(join(local, 'weights.parquet'))).equals(body)).toBe(true);
    expect((await repo.stat('out/plot.png')).contentType).toBe('image/png');
    const object = await admin.send(
      new GetObjectCommand({ Bucket: bucket(), Key: `${prefixOf(repo.uri)}/out/plot.png` }),
    );
    expect(object.ContentType).toBe('image/png');
    object.Body?.transformToString();
  });
});
