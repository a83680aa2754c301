import { ArtifactsError, isTemporaryError, StoreHttpError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { isStandby, type WebHdfsSubject, webhdfsErrorDetail, webhdfsFailure } from './errors.js';

/** An error answer as the client throws it: core's StoreHttp reads the body with webhdfsErrorDetail. */
const webhdfsError = (status: number, body: string, subject: WebHdfsSubject) =>
  webhdfsFailure(
    new StoreHttpError(status, webhdfsErrorDetail(body, { status }), 'http://nn:9870/webhdfs/v1/a'),
    subject,
  ) as ArtifactsError;

const remote = (exception: string, message = 'detail') =>
  JSON.stringify({
    RemoteException: { exception, javaClassName: `org.apache.hadoop.x.${exception}`, message },
  });

describe('RemoteException → ArtifactsError (core describeStoreErrors)', () => {
  it.each([
    [404, 'FileNotFoundException', 'not_found'],
    [403, 'AccessControlException', 'permission_denied'],
    [403, 'SecurityException', 'unauthenticated'],
    [401, 'SecurityException', 'unauthenticated'],
    [401, 'AccessControlException', 'unauthenticated'],
    [403, 'StandbyException', 'unavailable'],
    [403, 'RetriableException', 'unavailable'],
    [403, 'SafeModeException', 'unavailable'],
    [403, 'FileAlreadyExistsException', 'already_exists'],
    [403, 'ParentNotDirectoryException', 'failed_precondition'],
    [403, 'DSQuotaExceededException', 'failed_precondition'],
    [400, 'IllegalArgumentException', 'invalid_argument'],
    [400, 'UnsupportedOperationException', 'unsupported'],
    [500, 'IOException', 'unavailable'],
    [403, 'IOException', 'permission_denied'],
  ])('HTTP %i %s → %s', (status, exception, code) => {
    const error = webhdfsError(status, remote(exception, 'first line\n\tat stack'), { what: 'reading /a' });
    expect(error.code).toBe(code);
    // The exception and the first line of Hadoop's message, never its stack.
    expect(error.message).toMatch(new RegExp(`^reading /a\\b.*${exception}: first line`));
    expect(error.message).not.toContain('at stack');
    expect(error.context).toMatchObject({ status });
  });

  it('maps bodies that are not RemoteExceptions by their HTTP status, never echoing markup', () => {
    expect(webhdfsError(401, '<html>Unauthorized</html>', { what: 'x' }).code).toBe('unauthenticated');
    expect(webhdfsError(503, '', { what: 'x' }).code).toBe('unavailable');
    const missing = webhdfsError(404, 'nope', { what: 'x' });
    expect(missing.code).toBe('not_found');
    expect(missing.message).toMatch(/^x\b.*nope/);
    expect(webhdfsError(502, '<html>bad gateway</html>', { what: 'x' }).message).not.toContain('html');
  });

  it('a 401 says what to do about it', () => {
    const error = webhdfsError(401, '', { what: 'x', hint: 'kinit first' });
    expect(error.code).toBe('unauthenticated');
    expect(error.message).toContain('kinit first');
  });

  it('reads a RemoteException out of an error body, and nothing else as a service code', () => {
    expect(webhdfsErrorDetail(remote('StandbyException'), { status: 403 })).toEqual({
      code: 'StandbyException',
      message: 'detail',
    });
    expect(webhdfsErrorDetail('{"boolean":true}', { status: 403 }).code).toBeUndefined();
    expect(webhdfsErrorDetail('not json', { status: 403 })).toEqual({ message: 'not json' });
    expect(webhdfsErrorDetail('<html>x</html>', { status: 502 })).toEqual({});
  });

  it('tells temporary answers and standby namenodes apart', () => {
    const x = { what: 'x' };
    expect(isTemporaryError(webhdfsError(403, remote('StandbyException'), x))).toBe(true);
    expect(isStandby(webhdfsError(403, remote('StandbyException'), x))).toBe(true);
    expect(isStandby(webhdfsError(403, remote('RetriableException'), x))).toBe(false);
    expect(isTemporaryError(webhdfsError(403, remote('RetriableException'), x))).toBe(true);
    expect(isTemporaryError(webhdfsError(503, 'busy', x))).toBe(true);
    expect(isTemporaryError(webhdfsError(404, remote('FileNotFoundException'), x))).toBe(false);
    expect(isTemporaryError(webhdfsError(403, remote('AccessControlException'), x))).toBe(false);
  });

  it('a broken connection is a temporary `unavailable`; a refused first connect names the address', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const broken = webhdfsFailure(reset, { what: 'listing /a', endpoint: 'http://nn:9870', reached: true });
    expect(ArtifactsError.is(broken, 'unavailable')).toBe(true);
    expect(isTemporaryError(broken)).toBe(true);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const unreached = webhdfsFailure(refused, { what: 'listing /a', endpoint: 'http://127.0.0.1:1' });
    expect(ArtifactsError.is(unreached, 'unavailable')).toBe(true);
    expect((unreached as Error).message).toMatch(/127\.0\.0\.1:1.*ECONNREFUSED.*is the NameNode running/);
    const other = new Error('other');
    expect(webhdfsFailure(other, { what: 'x' })).toBe(other);
  });
});
