import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LaunchedForTest, launchForTest } from '../src/testing.ts';

let srv: LaunchedForTest;
let env: Record<string, string>;
let s3: S3Client;

function client(endpoint: string, extra: Partial<ConstructorParameters<typeof S3Client>[0]> = {}): S3Client {
  return new S3Client({
    endpoint,
    region: env.AWS_DEFAULT_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
    ...extra,
  });
}

beforeAll(async () => {
  srv = await launchForTest('s3');
  env = srv.env;
  s3 = client(env.MLFLOW_S3_ENDPOINT_URL!);
});
afterAll(async () => {
  s3?.destroy();
  await srv?.stop();
});

describe('MinIO (s3)', () => {
  it('exports the documented variables', () => {
    expect(env.ARTIFACTS_IT_S3_URI).toBe('s3://artifacts-it/root');
    expect(env.ARTIFACTS_IT_S3_BUCKET).toBe('artifacts-it');
    expect(env.MLFLOW_S3_ENDPOINT_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env.ARTIFACTS_IT_S3_TLS_ENDPOINT).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(env.AWS_DEFAULT_REGION).toBe('us-east-1');
    expect(readFileSync(env.ARTIFACTS_IT_S3_CA_FILE!, 'utf8')).toContain('BEGIN CERTIFICATE');
  });

  it('put, get, list, delete (with the SDK default CRC32 checksums)', async () => {
    const Bucket = env.ARTIFACTS_IT_S3_BUCKET!;
    await s3.send(new PutObjectCommand({ Bucket, Key: 'root/a/one.txt', Body: 'one' }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'root/a/two.txt', Body: 'two' }));
    await s3.send(new PutObjectCommand({ Bucket, Key: 'root/a/sub/three.txt', Body: 'three' }));
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'root/a/two.txt' }));
    expect(await got.Body!.transformToString()).toBe('two');
    const ranged = await s3.send(
      new GetObjectCommand({ Bucket, Key: 'root/a/sub/three.txt', Range: 'bytes=1-3' }),
    );
    expect(await ranged.Body!.transformToString()).toBe('hre');
    const list = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'root/a/', Delimiter: '/' }));
    expect(list.Contents?.map((c) => c.Key)).toEqual(['root/a/one.txt', 'root/a/two.txt']);
    expect(list.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['root/a/sub/']);
    for (const Key of ['root/a/one.txt', 'root/a/two.txt', 'root/a/sub/three.txt']) {
      await s3.send(new DeleteObjectCommand({ Bucket, Key }));
    }
    const after = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'root/a/' }));
    expect(after.KeyCount).toBe(0);
  });

  it('multipart upload through presigned part URLs with plain fetch PUTs', async () => {
    const Bucket = env.ARTIFACTS_IT_S3_BUCKET!;
    const Key = 'root/mp/big.bin';
    const partSize = 5 * 1024 * 1024;
    const data = Buffer.alloc(partSize * 2 + 1234);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 255;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    const parts: { ETag: string; PartNumber: number }[] = [];
    for (let n = 1, off = 0; off < data.length; n++, off += partSize) {
      const url = await getSignedUrl(s3, new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n }), {
        expiresIn: 600,
      });
      const res = await fetch(url, { method: 'PUT', body: data.subarray(off, off + partSize) });
      expect(res.status).toBe(200);
      parts.push({ ETag: res.headers.get('etag')!, PartNumber: n });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    expect(head.ContentLength).toBe(data.length);
    const back = Buffer.from(
      await (await s3.send(new GetObjectCommand({ Bucket, Key }))).Body!.transformToByteArray(),
    );
    expect(back.equals(data)).toBe(true);
    await s3.send(new DeleteObjectCommand({ Bucket, Key }));
  });

  it('server-side encryption with the KMS key (SSE-KMS) and SSE-S3', async () => {
    const Bucket = env.ARTIFACTS_IT_S3_BUCKET!;
    await s3.send(
      new PutObjectCommand({
        Bucket,
        Key: 'root/sse/kms.txt',
        Body: 'secret',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: env.ARTIFACTS_IT_S3_KMS_KEY_ID,
      }),
    );
    const kms = await s3.send(new HeadObjectCommand({ Bucket, Key: 'root/sse/kms.txt' }));
    expect(kms.ServerSideEncryption).toBe('aws:kms');
    await s3.send(
      new PutObjectCommand({
        Bucket,
        Key: 'root/sse/s3.txt',
        Body: 'secret',
        ServerSideEncryption: 'AES256',
      }),
    );
    const sse = await s3.send(new GetObjectCommand({ Bucket, Key: 'root/sse/s3.txt' }));
    expect(sse.ServerSideEncryption).toBe('AES256');
    expect(await sse.Body!.transformToString()).toBe('secret');
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'root/sse/kms.txt' }));
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'root/sse/s3.txt' }));
  });

  it('the HTTPS instance rejects an unverified certificate and accepts it with the CA', async () => {
    const Bucket = env.ARTIFACTS_IT_S3_BUCKET!;
    const strict = client(env.ARTIFACTS_IT_S3_TLS_ENDPOINT!, { maxAttempts: 1 });
    await expect(strict.send(new ListObjectsV2Command({ Bucket }))).rejects.toThrow(/certificate/i);
    strict.destroy();
    const ca = readFileSync(env.ARTIFACTS_IT_S3_CA_FILE!, 'utf8');
    const trusted = client(env.ARTIFACTS_IT_S3_TLS_ENDPOINT!, {
      requestHandler: { httpsAgent: new Agent({ ca }) },
    });
    await trusted.send(new PutObjectCommand({ Bucket, Key: 'root/tls.txt', Body: 'tls' }));
    const got = await trusted.send(new GetObjectCommand({ Bucket, Key: 'root/tls.txt' }));
    expect(await got.Body!.transformToString()).toBe('tls');
    await trusted.send(new DeleteObjectCommand({ Bucket, Key: 'root/tls.txt' }));
    trusted.destroy();
  });

  it('listens on loopback only, and restart keeps ports and data', async () => {
    expect(srv.server.listening.length).toBeGreaterThanOrEqual(2);
    for (const l of srv.server.listening) expect(l.address).toMatch(/^(127\.|::1$)/);
    const Bucket = env.ARTIFACTS_IT_S3_BUCKET!;
    await s3.send(new PutObjectCommand({ Bucket, Key: 'root/keep.txt', Body: 'kept' }));
    await srv.server.running.restart!();
    const got = await s3.send(new GetObjectCommand({ Bucket, Key: 'root/keep.txt' }));
    expect(await got.Body!.transformToString()).toBe('kept');
  });
});
