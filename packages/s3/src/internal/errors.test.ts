import { ArtifactsError } from '@artifacts/core';
import { NoSuchBucket, NoSuchKey, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { mapS3Error } from './errors.js';

const target = {
  bucket: 'my-bucket',
  key: 'exp/1/model.pkl',
  action: 'reading',
  endpoint: 'https://127.0.0.1:9443',
};

function s3Error(name: string, status: number, fault: 'client' | 'server' = 'client', message = name) {
  return new S3ServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message });
}

function mapped(error: unknown, t = target): ArtifactsError {
  const out = mapS3Error(error, t);
  expect(ArtifactsError.is(out)).toBe(true);
  return out as ArtifactsError;
}

describe('mapS3Error', () => {
  it('NoSuchKey is not_found naming the key', () => {
    const e = mapped(
      new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }),
    );
    expect(e.code).toBe('not_found');
    expect(e.message).toContain('s3://my-bucket/exp/1/model.pkl does not exist');
  });

  it('NoSuchBucket is not_found naming the bucket', () => {
    const e = mapped(
      new NoSuchBucket({
        message: 'The specified bucket does not exist',
        $metadata: { httpStatusCode: 404 },
      }),
    );
    expect(e.code).toBe('not_found');
    expect(e.message).toContain('bucket "my-bucket" does not exist');
  });

  it('a bodiless 404 (HEAD) is not_found', () => {
    expect(mapped(s3Error('NotFound', 404)).code).toBe('not_found');
  });

  it('AccessDenied and a bodiless 403 are permission_denied', () => {
    expect(mapped(s3Error('AccessDenied', 403)).code).toBe('permission_denied');
    expect(mapped(s3Error('403', 403)).code).toBe('permission_denied');
  });

  it('bad keys and signatures are unauthenticated', () => {
    for (const name of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken']) {
      expect(mapped(s3Error(name, 403)).code).toBe('unauthenticated');
    }
  });

  it('throttling and 5xx are unavailable', () => {
    expect(mapped(s3Error('SlowDown', 503, 'server')).code).toBe('unavailable');
    expect(mapped(s3Error('InternalError', 500, 'server')).code).toBe('unavailable');
    expect(mapped(s3Error('Whatever', 502, 'server')).code).toBe('unavailable');
    expect(mapped(s3Error('TooManyRequests', 429)).code).toBe('unavailable');
    expect(mapped(s3Error('SlowDown', 503, 'server')).temporary).toBe(true);
    expect(mapped(s3Error('Whatever', 502, 'server')).temporary).toBe(true);
    expect(mapped(s3Error('NoSuchKey', 404)).temporary).toBe(false);
    expect(mapped(s3Error('AccessDenied', 403)).temporary).toBe(false);
  });

  it('412 and 416 get their own codes', () => {
    expect(mapped(s3Error('PreconditionFailed', 412)).code).toBe('failed_precondition');
    expect(mapped(s3Error('InvalidRange', 416)).code).toBe('invalid_argument');
  });

  it('bad digests and SDK checksum mismatches are integrity errors', () => {
    expect(mapped(s3Error('BadDigest', 400)).code).toBe('integrity');
    expect(mapped(s3Error('XAmzContentChecksumMismatch', 400)).code).toBe('integrity');
    expect(
      mapped(new Error('Checksum mismatch: expected "a" but received "b" in response header')).code,
    ).toBe('integrity');
  });

  it('an untrusted TLS certificate is unauthenticated (untrusted_certificate) and names both settings', () => {
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const e = mapped(tls);
    expect(e.code).toBe('unauthenticated');
    expect(e.context).toMatchObject({ reason: 'untrusted_certificate', host: '127.0.0.1', port: 9443 });
    expect(e.message).toContain('AWS_CA_BUNDLE');
    expect(e.message).toContain('MLFLOW_S3_IGNORE_TLS');
    expect(e.message).toContain('https://127.0.0.1:9443');
  });

  it('missing credentials are unauthenticated with what to set', () => {
    const e = mapped(
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
    );
    expect(e.code).toBe('unauthenticated');
    expect(e.message).toContain('AWS_ACCESS_KEY_ID');
  });

  it('network failures are unavailable and name the endpoint', () => {
    const e = mapped(
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9443'), { code: 'ECONNREFUSED' }),
    );
    expect(e.code).toBe('unavailable');
    expect(e.message).toContain('https://127.0.0.1:9443');
  });

  it('a refused connect is temporary only once the endpoint has answered (a restart, not a wrong address)', () => {
    const refused = () =>
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9443'), { code: 'ECONNREFUSED' });
    const never = mapS3Error(refused(), target) as ArtifactsError;
    expect(never.temporary).toBe(false);
    expect(never.message).toContain('MLFLOW_S3_ENDPOINT_URL');
    const restarted = mapS3Error(refused(), { ...target, reached: true }) as ArtifactsError;
    expect(restarted.code).toBe('unavailable');
    expect(restarted.temporary).toBe(true);
    expect(restarted.message).not.toContain('MLFLOW_S3_ENDPOINT_URL');
  });

  it('leaves aborts and timeouts for core to classify', () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(mapS3Error(abort, target)).toBe(abort);
    const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
    expect(mapS3Error(timeout, target)).toBe(timeout);
  });

  it('keeps ArtifactsErrors as they are', () => {
    const original = new ArtifactsError('integrity', 'x');
    expect(mapS3Error(original, target)).toBe(original);
  });

  it('records bucket, key, status and S3 code as context', () => {
    const e = mapped(s3Error('AccessDenied', 403));
    expect(e.context).toMatchObject({
      bucket: 'my-bucket',
      key: 'exp/1/model.pkl',
      httpStatus: 403,
      s3Code: 'AccessDenied',
    });
  });
});
