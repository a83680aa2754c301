import { ArtifactsError, StoreHttpError, StoreRequestFailure } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { deleteObjectsError, isMissing, mapS3Error } from './errors.js';

const target = {
  bucket: 'my-bucket',
  key: 'exp/1/model.pkl',
  action: 'reading',
  endpoint: 'https://127.0.0.1:9443',
};

/** An S3 error answer as requests.ts (core's `StoreHttp`, `xmlErrorDetail`) throws it. */
function s3Error(code: string, status: number, message = `${code} message`) {
  return new StoreHttpError(
    status,
    { code, message, requestId: 'req-1' },
    'https://127.0.0.1:9443/my-bucket/exp/1/model.pkl',
  );
}

/** A request that got no answer, as core's storeRequest throws it. */
function unanswered(code: string, message: string, reached = false) {
  return new StoreRequestFailure(
    'https://127.0.0.1:9443/my-bucket/exp/1/model.pkl',
    reached,
    Object.assign(new Error(message), { code }),
  );
}

function mapped(error: unknown, t = target): ArtifactsError {
  const out = mapS3Error(error, t);
  expect(ArtifactsError.is(out)).toBe(true);
  return out as ArtifactsError;
}

describe('mapS3Error', () => {
  it("keeps the wait S3 asks for (Retry-After) for core's retry layer", () => {
    const slow = new StoreHttpError(503, { code: 'SlowDown' }, 'https://127.0.0.1:9443/b/k', '7');
    expect(mapped(slow)).toMatchObject({ code: 'unavailable', context: { retryAfterMs: 7000 } });
  });

  it('NoSuchKey is not_found naming the key', () => {
    const e = mapped(s3Error('NoSuchKey', 404, 'The specified key does not exist.'));
    expect(e.code).toBe('not_found');
    expect(e.message).toContain('s3://my-bucket/exp/1/model.pkl does not exist');
    expect(isMissing(s3Error('NoSuchKey', 404))).toBe(true);
  });

  it('NoSuchBucket is not_found naming the bucket', () => {
    const e = mapped(s3Error('NoSuchBucket', 404, 'The specified bucket does not exist'));
    expect(e.code).toBe('not_found');
    expect(e.message).toContain('bucket "my-bucket" does not exist');
  });

  it('a bodiless 404 (HEAD) is not_found', () => {
    const head = new StoreHttpError(404, {}, 'https://127.0.0.1:9443/my-bucket/k');
    expect(isMissing(head)).toBe(true);
    expect(mapped(head).code).toBe('not_found');
  });

  it('AccessDenied and a bodiless 403 are permission_denied', () => {
    expect(mapped(s3Error('AccessDenied', 403)).code).toBe('permission_denied');
    const bare = mapped(new StoreHttpError(403, {}, 'https://127.0.0.1:9443/b'));
    expect(bare.code).toBe('permission_denied');
    expect(bare.message).toBe('permission denied: reading s3://my-bucket/exp/1/model.pkl (HTTP 403)');
  });

  it('bad keys and signatures are unauthenticated', () => {
    for (const name of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken']) {
      expect(mapped(s3Error(name, 403)).code).toBe('unauthenticated');
    }
  });

  it('throttling and 5xx are unavailable', () => {
    expect(mapped(s3Error('SlowDown', 503)).code).toBe('unavailable');
    expect(mapped(s3Error('InternalError', 500)).code).toBe('unavailable');
    expect(mapped(s3Error('Whatever', 502)).code).toBe('unavailable');
    expect(mapped(s3Error('TooManyRequests', 429)).code).toBe('unavailable');
    expect(mapped(s3Error('SlowDown', 503)).temporary).toBe(true);
    expect(mapped(s3Error('Whatever', 502)).temporary).toBe(true);
    expect(mapped(s3Error('NoSuchKey', 404)).temporary).toBe(false);
    expect(mapped(s3Error('AccessDenied', 403)).temporary).toBe(false);
  });

  it('412 and 416 get their own codes', () => {
    expect(mapped(s3Error('PreconditionFailed', 412)).code).toBe('failed_precondition');
    expect(mapped(s3Error('InvalidRange', 416)).code).toBe('invalid_argument');
  });

  it('bad digests are integrity errors; a throttling 400 is temporary', () => {
    expect(mapped(s3Error('BadDigest', 400)).code).toBe('integrity');
    expect(mapped(s3Error('XAmzContentSHA256Mismatch', 400)).code).toBe('integrity');
    expect(mapped(s3Error('XAmzContentChecksumMismatch', 400)).code).toBe('integrity');
    const slow = mapped(s3Error('SlowDown', 400));
    expect([slow.code, slow.temporary]).toEqual(['unavailable', true]);
  });

  it("MinIO's 499 ClientDisconnected (the body did not all arrive: it answers so while shutting down) is temporary", () => {
    const cut = mapped(s3Error('ClientDisconnected', 499, 'Client disconnected before response was read'));
    expect([cut.code, cut.temporary]).toEqual(['unavailable', true]);
  });

  it('a refused signature names the S3 code and never anything beyond the first line', () => {
    const e = mapped(
      s3Error('SignatureDoesNotMatch', 403, 'The request signature we calculated does not match'),
    );
    expect(e.message).toMatch(/credentials were refused.*SignatureDoesNotMatch/);
  });

  it('a failed DeleteObjects key names the key and the count; keys already gone are no failure', () => {
    expect(deleteObjectsError([{ Key: 'a', Code: 'NoSuchKey' }], 1, target)).toBeUndefined();
    const e = deleteObjectsError(
      [
        { Key: 'a', Code: 'NoSuchKey' },
        { Key: 'exp/b', Code: 'AccessDenied', Message: 'Access Denied' },
      ],
      2,
      target,
    ) as ArtifactsError;
    expect(e.code).toBe('permission_denied');
    expect(e.message).toContain('deleting (1 of 2 keys failed) s3://my-bucket/exp/b');
  });

  it('an untrusted TLS certificate is unauthenticated (untrusted_certificate) and names both settings', () => {
    const e = mapped(unanswered('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'));
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
    const e = mapped(unanswered('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9443'));
    expect(e.code).toBe('unavailable');
    expect(e.message).toContain('https://127.0.0.1:9443');
  });

  it('a refused connect is temporary only once the endpoint has answered (a restart, not a wrong address)', () => {
    const refused = () => unanswered('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9443');
    const never = mapS3Error(refused(), target) as ArtifactsError;
    expect(never.temporary).toBe(false);
    expect(never.message).toContain('MLFLOW_S3_ENDPOINT_URL');
    // The request's failure says whether the endpoint answered before (core's connection pool).
    const restarted = mapS3Error(
      unanswered('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:9443', true),
      target,
    ) as ArtifactsError;
    expect(restarted.code).toBe('unavailable');
    expect(restarted.temporary).toBe(true);
    expect(restarted.message).not.toContain('MLFLOW_S3_ENDPOINT_URL');
  });

  it('a connection cut under a request is temporary unavailable, naming the key', () => {
    const e = mapped(unanswered('ECONNRESET', 'read ECONNRESET', true));
    expect([e.code, e.temporary]).toEqual(['unavailable', true]);
    expect(e.message).toContain('reading s3://my-bucket/exp/1/model.pkl');
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
      status: 403,
      serviceCode: 'AccessDenied',
      requestId: 'req-1',
    });
  });
});
