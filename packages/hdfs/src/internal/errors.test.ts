import { ArtifactsError, isTemporaryError } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { connectionError, isStandby, parseRemoteException, webhdfsError } from './errors.js';

const isRetriableError = (error: unknown) => isTemporaryError(error);

const remote = (exception: string, message = 'detail') =>
  JSON.stringify({
    RemoteException: { exception, javaClassName: `org.apache.hadoop.x.${exception}`, message },
  });

describe('RemoteException → ArtifactsError', () => {
  it.each([
    [404, 'FileNotFoundException', 'not_found'],
    [403, 'AccessControlException', 'permission_denied'],
    [403, 'SecurityException', 'unauthenticated'],
    [401, 'SecurityException', 'unauthenticated'],
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
    const error = webhdfsError(status, remote(exception, 'first line\n\tat stack'), 'reading /a');
    expect(error.code).toBe(code);
    expect(error.message).toBe(`reading /a: ${exception}: first line`);
    expect(error.context).toEqual({ status, exception });
  });

  it('maps bodies that are not RemoteExceptions by their HTTP status', () => {
    expect(webhdfsError(401, '<html>Unauthorized</html>', 'x').code).toBe('unauthenticated');
    expect(webhdfsError(503, '', 'x').code).toBe('unavailable');
    expect(webhdfsError(404, 'nope', 'x').message).toBe('x: HTTP 404: nope');
    // HTML pages are not echoed.
    expect(webhdfsError(502, '<html>bad gateway</html>', 'x').message).toBe('x: HTTP 502');
  });

  it('parses RemoteException JSON and nothing else', () => {
    expect(parseRemoteException(remote('StandbyException'))).toMatchObject({ exception: 'StandbyException' });
    expect(parseRemoteException('{"boolean":true}')).toBeUndefined();
    expect(parseRemoteException('not json')).toBeUndefined();
  });

  it('tells retriable answers and standby namenodes apart', () => {
    expect(isRetriableError(webhdfsError(403, remote('StandbyException'), 'x'))).toBe(true);
    expect(isStandby(webhdfsError(403, remote('StandbyException'), 'x'))).toBe(true);
    expect(isRetriableError(webhdfsError(403, remote('RetriableException'), 'x'))).toBe(true);
    expect(isRetriableError(webhdfsError(503, 'busy', 'x'))).toBe(true);
    expect(isRetriableError(webhdfsError(404, remote('FileNotFoundException'), 'x'))).toBe(false);
    expect(isRetriableError(webhdfsError(500, remote('IOException'), 'x'))).toBe(false);
    expect(isRetriableError(webhdfsError(500, 'oops', 'x'))).toBe(false);
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(isRetriableError(refused)).toBe(true);
    const wrapped = connectionError(refused, 'listing /a');
    expect(ArtifactsError.is(wrapped, 'unavailable')).toBe(true);
    expect(isRetriableError(wrapped)).toBe(true);
    expect(isRetriableError(new Error('other'))).toBe(false);
  });
});
