import { describe, expect, it } from 'vitest';
import { ALLOWED_UPLOAD_EXTRA_ARGS, parseUploadExtraArgs } from './extra-args.js';

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
