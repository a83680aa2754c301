import { describe, expect, it } from 'vitest';
import { ALLOWED_UPLOAD_EXTRA_ARGS, argHeaders, parseUploadExtraArgs, sseCHeaders } from './extra-args.js';

describe('parseUploadExtraArgs', () => {
  it('accepts MLflow documentation example (KMS)', () => {
    expect(parseUploadExtraArgs('{"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "1234"}', 'X')).toEqual({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: '1234',
    });
  });

  it('maps boto3 ExtraArgs to SDK input types', () => {
    const args = parseUploadExtraArgs(
      {
        ACL: 'bucket-owner-full-control',
        CacheControl: 'max-age=60',
        StorageClass: 'STANDARD',
        Metadata: { a: '1' },
        Expires: '2030-01-01T00:00:00Z',
        BucketKeyEnabled: true,
        Tagging: 'team=ml&stage=dev',
        ChecksumAlgorithm: 'sha256',
      },
      'option uploadExtraArgs',
    );
    expect(args.Expires).toEqual(new Date('2030-01-01T00:00:00Z'));
    expect(args.BucketKeyEnabled).toBe(true);
    expect(args.Metadata).toEqual({ a: '1' });
    expect(args.ChecksumAlgorithm).toBe('SHA256');
  });

  it('names every unknown key and lists the allowed ones', () => {
    expect(() =>
      parseUploadExtraArgs({ Foo: 1, Bar: 2, ACL: 'private' }, 'MLFLOW_S3_UPLOAD_EXTRA_ARGS'),
    ).toThrow(
      expect.objectContaining({
        code: 'invalid_argument',
        message: expect.stringContaining('unknown upload argument(s) Foo, Bar; allowed: ACL,'),
      }),
    );
    expect(ALLOWED_UPLOAD_EXTRA_ARGS).toContain('ServerSideEncryption');
    expect(ALLOWED_UPLOAD_EXTRA_ARGS).toContain('SSEKMSKeyId');
  });

  it('refuses invalid JSON, non-objects and wrong types without echoing values', () => {
    expect(() => parseUploadExtraArgs('{oops', 'MLFLOW_S3_UPLOAD_EXTRA_ARGS')).toThrow(/is not valid JSON/);
    expect(() => parseUploadExtraArgs('[1]', 'X')).toThrow(/must be a JSON object/);
    expect(() => parseUploadExtraArgs({ Metadata: { a: 1 } }, 'X')).toThrow(
      /Metadata must be an object of string values/,
    );
    expect(() => parseUploadExtraArgs({ Expires: 'soon' }, 'X')).toThrow(/Expires must be a date/);
    expect(() => parseUploadExtraArgs({ ChecksumAlgorithm: 'MD5' }, 'X')).toThrow(
      /ChecksumAlgorithm must be one of/,
    );
    try {
      parseUploadExtraArgs({ SSECustomerKey: 12345678901234 }, 'X');
    } catch (error) {
      expect((error as Error).message).toContain('SSECustomerKey must be a string');
      expect((error as Error).message).not.toContain('12345678901234');
    }
  });

  it('treats an absent value as no extra args', () => {
    expect(parseUploadExtraArgs(undefined, 'X')).toEqual({});
  });
});

describe('argHeaders and sseCHeaders: the arguments as S3 request headers, as the SDK sends them', () => {
  const args = parseUploadExtraArgs(
    {
      ACL: 'bucket-owner-full-control',
      BucketKeyEnabled: true,
      CacheControl: 'max-age=60',
      ContentDisposition: 'attachment; filename="m.pkl"',
      ContentEncoding: 'gzip',
      ContentLanguage: 'en',
      ContentType: 'application/x-pickle',
      ExpectedBucketOwner: '123456789012',
      Expires: '2030-01-01T00:00:00Z',
      GrantFullControl: 'id=a',
      GrantRead: 'id=b',
      GrantReadACP: 'id=c',
      GrantWriteACP: 'id=d',
      Metadata: { Team: 'ml', stage: 'dev' },
      ObjectLockLegalHoldStatus: 'ON',
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: '2031-02-03T04:05:06Z',
      RequestPayer: 'requester',
      SSEKMSEncryptionContext: 'e30=',
      SSEKMSKeyId: 'key-1',
      ServerSideEncryption: 'aws:kms',
      StorageClass: 'STANDARD_IA',
      Tagging: 'team=ml&stage=dev',
      WebsiteRedirectLocation: '/other',
      SSECustomerAlgorithm: 'AES256',
      SSECustomerKey: Buffer.alloc(32, 7).toString('base64'),
      ChecksumAlgorithm: 'CRC32',
    },
    'X',
  );

  /** The headers the SDK's PutObject serializer sends for the same input (captured, never sent). */
  async function sdkHeaders(): Promise<Record<string, string>> {
    const { S3Client, PutObjectCommand } = await import('@aws-sdk/client-s3');
    let captured: Record<string, string> = {};
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      forcePathStyle: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      requestHandler: {
        handle: async (request: { headers: Record<string, string> }) => {
          captured = request.headers;
          throw new Error('captured');
        },
      } as never,
    });
    await client
      .send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x', ...(args as object) }))
      .catch(() => undefined);
    client.destroy();
    return captured;
  }

  it('sends every upload argument as the SDK would, SSE-C and the checksum apart', async () => {
    const theirs = await sdkHeaders();
    const ours = argHeaders(args);
    expect(Object.keys(ours).length).toBe(25); // 24 arguments, Metadata as two headers
    for (const [name, value] of Object.entries(ours)) expect([name, theirs[name]]).toEqual([name, value]);
    for (const [name, value] of Object.entries(sseCHeaders(args)))
      expect([name, theirs[name]]).toEqual([name, value]);
    expect(Object.keys(ours).some((name) => name.includes('checksum') || name.includes('customer'))).toBe(
      false,
    );
  });

  it('picks only the named arguments, and names a copy source’s SSE-C headers', () => {
    expect(argHeaders(args, ['RequestPayer', 'StorageClass'])).toEqual({
      'x-amz-request-payer': 'requester',
      'x-amz-storage-class': 'STANDARD_IA',
    });
    expect(Object.keys(sseCHeaders(args, 'x-amz-copy-source-'))).toEqual([
      'x-amz-copy-source-server-side-encryption-customer-algorithm',
      'x-amz-copy-source-server-side-encryption-customer-key',
      'x-amz-copy-source-server-side-encryption-customer-key-md5',
    ]);
  });
});
