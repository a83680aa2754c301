import { ArtifactsError, StoreHttpError, StoreRequestFailure } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { mapGcsError } from '../../src/internal/errors.js';

const subject = { what: 'reading', bucket: 'models', object: 'exp/1/a.bin' };
const answer = (status: number, message: string) =>
  new StoreHttpError(status, { message }, 'https://storage.example/storage/v1/b/models/o/x');

function mapped(
  error: unknown,
  s: { what: string; bucket: string; object?: string } = subject,
  secrets: string[] = [],
) {
  const out = mapGcsError(error, s, secrets);
  if (!ArtifactsError.is(out)) throw new Error('not mapped');
  return out;
}

describe('mapGcsError', () => {
  it('a 404 names the object, or the bucket when the driver found the bucket missing', () => {
    const object = mapped(answer(404, 'No such object: models/exp/1/a.bin'));
    expect(object.code).toBe('not_found');
    expect(object.message).toBe('reading: object "exp/1/a.bin" does not exist in bucket "models"');
    const bucket = mapped(answer(404, 'The specified bucket does not exist.'), {
      what: 'reading',
      bucket: 'models',
    });
    expect(bucket.message).toBe('reading: bucket "models" does not exist');
  });

  it('401 is unauthenticated, 403 permission_denied, both naming the service text without secrets', () => {
    const refused = mapped(answer(401, 'Invalid Credentials for tok-12345'), subject, ['tok-12345']);
    expect(refused.code).toBe('unauthenticated');
    expect(refused.message).not.toContain('tok-12345');
    const denied = mapped(answer(403, 'caller does not have storage.objects.get access'));
    expect([denied.code, denied.message]).toEqual([
      'permission_denied',
      'reading: permission denied on bucket "models" (403): caller does not have storage.objects.get access',
    ]);
  });

  it('no Application Default Credentials says what to set', () => {
    const none = mapped(new Error('Could not load the default credentials. Browse to https://…'));
    expect(none.code).toBe('unauthenticated');
    expect(none.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
  });

  it('a 503 is temporary unavailable with Retry-After; an unreachable endpoint names STORAGE_EMULATOR_HOST', () => {
    const busy = mapped(new StoreHttpError(503, { message: 'Backend Error' }, 'https://s/b', '1'));
    expect([busy.code, busy.temporary, busy.context.retryAfterMs]).toEqual(['unavailable', true, 1000]);
    const refused = mapped(
      new StoreRequestFailure(
        'http://127.0.0.1:9/storage/v1/b/models/o',
        false,
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      ),
    );
    expect([refused.code, refused.temporary]).toEqual(['unavailable', false]);
    expect(refused.message).toContain('STORAGE_EMULATOR_HOST');
  });
});
