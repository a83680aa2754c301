import { describe, expect, it } from 'vitest';
import {
  ArtifactsError,
  codeForHttpStatus,
  isConnectionError,
  isTemporaryError,
  isTemporaryHttpStatus,
  parseHttpErrorBody,
  toArtifactsError,
} from './errors.js';

function errno(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

describe('codeForHttpStatus', () => {
  it.each([
    [400, 'invalid_argument'],
    [401, 'unauthenticated'],
    [403, 'permission_denied'],
    [404, 'not_found'],
    [408, 'timeout'],
    [409, 'failed_precondition'],
    [412, 'failed_precondition'],
    [416, 'invalid_argument'],
    [429, 'unavailable'],
    [500, 'unavailable'],
    [501, 'unsupported'],
    [503, 'unavailable'],
  ])('%i → %s', (status, code) => {
    expect(codeForHttpStatus(status)).toBe(code);
  });

  it('has no code for a success', () => {
    expect(codeForHttpStatus(206)).toBeUndefined();
  });

  it('calls 408, 429 and 5xx temporary, but not 501 or a 4xx', () => {
    expect([408, 429, 500, 502, 503, 504].every(isTemporaryHttpStatus)).toBe(true);
    expect([400, 403, 404, 409, 412, 501].some(isTemporaryHttpStatus)).toBe(false);
  });
});

describe('isConnectionError', () => {
  it('finds a reset connection under SDK wrappers', () => {
    const wrapped = new Error('request failed', { cause: new Error('send', { cause: errno('ECONNRESET') }) });
    expect(isConnectionError(wrapped)).toBe(true);
    expect(isConnectionError(new Error('socket hang up'))).toBe(true);
  });

  it('counts a body cut short of its Content-Length (undici) as a broken connection', () => {
    const cut = Object.assign(new Error('Response body length does not match content-length header'), {
      code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
    });
    expect(isConnectionError(cut)).toBe(true);
    expect(toArtifactsError(cut, 'downloading artifact "x"').code).toBe('unavailable');
  });

  it("counts an answer Node's HTTP parser could not read as a broken connection (a cut mid-upload)", () => {
    const garbled = new Error('request failed', {
      cause: Object.assign(new Error('Parse Error: Expected HTTP/, RTSP/ or ICE/'), {
        code: 'HPE_INVALID_CONSTANT',
      }),
    });
    expect(isConnectionError(garbled)).toBe(true);
    expect(toArtifactsError(garbled, 'uploading artifact "x"').code).toBe('unavailable');
  });

  it('finds a broken pipe named only in a message (a client that dropped the socket error)', () => {
    const retried = new Error(
      'Retry limit exceeded - request to http://127.0.0.1:1/upload failed, reason: write EPIPE - code: EPIPE',
    );
    expect(isConnectionError(retried)).toBe(true);
    expect(toArtifactsError(retried, 'uploading artifact "x"').code).toBe('unavailable');
  });

  it('is false for answers and local file errors', () => {
    expect(isConnectionError(errno('ENOENT'))).toBe(false);
    expect(isConnectionError(new ArtifactsError('not_found', 'x'))).toBe(false);
    expect(isConnectionError('ECONNRESET')).toBe(false);
  });
});

describe('temporary', () => {
  it('defaults to false and survives scrubbing', () => {
    expect(new ArtifactsError('unavailable', 'x').temporary).toBe(false);
    const error = new ArtifactsError('unavailable', 'key s3cr3t', { temporary: true });
    const scrubbed = toArtifactsError(error, 'x', { secrets: ['s3cr3t'] });
    expect(scrubbed.message).not.toContain('s3cr3t');
    expect(scrubbed.temporary).toBe(true);
  });

  it('marks a broken connection temporary, a missing file not', () => {
    const reset = toArtifactsError(errno('ECONNRESET'), 'reading');
    expect(reset.code).toBe('unavailable');
    expect(reset.temporary).toBe(true);
    expect(isTemporaryError(errno('EPIPE'))).toBe(true);
    const missing = toArtifactsError(errno('ENOENT'), 'reading');
    expect(missing.code).toBe('not_found');
    expect(missing.temporary).toBe(false);
  });

  it('a reset the client renamed TimeoutError (the AWS SDK does, to retry it) is unavailable, not timeout', () => {
    for (const code of ['ECONNRESET', 'EPIPE']) {
      const renamed = Object.assign(errno(code, `read ${code}`), { name: 'TimeoutError' });
      const mapped = toArtifactsError(renamed, 'uploading "a.bin"');
      expect(mapped.code).toBe('unavailable');
      expect(mapped.temporary).toBe(true);
    }
    const timedOut = Object.assign(new Error('Connection timed out after 8000 ms'), { name: 'TimeoutError' });
    expect(toArtifactsError(timedOut, 'reading').code).toBe('timeout');
    const etimedout = Object.assign(errno('ETIMEDOUT'), { name: 'TimeoutError' });
    expect(toArtifactsError(etimedout, 'reading').code).toBe('timeout');
  });
});

describe('parseHttpErrorBody', () => {
  it("takes MLflow's {error_code, message}; any other body gives its readable text, bounded", () => {
    expect(parseHttpErrorBody('{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no run"}')).toEqual({
      errorCode: 'RESOURCE_DOES_NOT_EXIST',
      message: 'no run',
    });
    expect(
      parseHttpErrorBody('<html><style>p{}</style><body><h1>502</h1>\n Bad   gateway</body></html>'),
    ).toEqual({
      message: '502 Bad gateway',
    });
    expect(parseHttpErrorBody('{"detail":"not MLflow"}')).toEqual({ message: '{"detail":"not MLflow"}' });
    expect(parseHttpErrorBody('x'.repeat(1000)).message).toHaveLength(301);
    expect(parseHttpErrorBody('')).toEqual({});
  });
});
