import { type ArtifactsError, describeFileErrors } from '@artifacts/core';
import { describe, expect, it } from 'vitest';
import { isConnectionError, SFTP_STATUS } from './connection.js';
import { SFTP_ERRORS } from './errors.js';

// As the driver maps them: the table, a broken connection being what the factory says.
const sftpError = describeFileErrors({ ...SFTP_ERRORS, dropped: isConnectionError });

const status = (code: number, message: string) => Object.assign(new Error(message), { code });

describe('SFTP_ERRORS', () => {
  it('SFTP status codes map to their code, naming what failed and the server text', () => {
    const missing = sftpError(
      status(SFTP_STATUS.NO_SUCH_FILE, 'No such file'),
      'reading "a.txt"',
    ) as ArtifactsError;
    expect([missing.code, missing.temporary]).toEqual(['not_found', false]);
    expect(missing.message).toBe('reading "a.txt": no such file or directory (No such file)');
    expect((sftpError(status(SFTP_STATUS.PERMISSION_DENIED, 'denied'), 'x') as ArtifactsError).code).toBe(
      'permission_denied',
    );
    expect((sftpError(status(SFTP_STATUS.OP_UNSUPPORTED, 'no'), 'x') as ArtifactsError).code).toBe(
      'unsupported',
    );
  });

  it('a connection that broke is temporary unavailable; a plain FAILURE passes on for core', () => {
    const reset = sftpError(
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      'x',
    ) as ArtifactsError;
    expect([reset.code, reset.temporary]).toEqual(['unavailable', true]);
    const failure = status(SFTP_STATUS.FAILURE, 'Failure');
    expect(sftpError(failure, 'x')).toBe(failure);
  });
});
