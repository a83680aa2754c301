import { ArtifactsError, describeFileErrors } from '@artifacts/core';
import { FTPError } from 'basic-ftp';
import { describe, expect, it } from 'vitest';
import { isConnectionError } from './connection.js';
import { parseMlstFacts } from './driver.js';
import { FTP_ERRORS, isDataConnectionRefused, isMissing } from './errors.js';

// As the driver maps them (core's PooledFileDriver, from the table).
const ftpError = describeFileErrors(FTP_ERRORS);

const reply = (code: number, message: string) => new FTPError({ code, message: `${code} ${message}` });

describe('parseMlstFacts', () => {
  it('reads type, size and modification time of files and directories', () => {
    expect(
      parseMlstFacts('type=file;size=1234;modify=20240102030405.5;UNIX.mode=0644; /root/a b.txt'),
    ).toEqual({
      isDir: false,
      size: 1234,
      modified: new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 500)),
    });
    expect(parseMlstFacts('Type=dir;Modify=20240102030405; /root')).toEqual({
      isDir: true,
      modified: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
    });
    expect(parseMlstFacts('size=1; /x')).toBeUndefined();
  });
});

describe('error mapping', () => {
  it('maps FTP replies to ArtifactsError codes', () => {
    expect((ftpError(reply(530, 'Login incorrect'), 'x') as ArtifactsError).code).toBe('unauthenticated');
    expect((ftpError(reply(550, 'No such file or directory'), 'x') as ArtifactsError).code).toBe('not_found');
    expect((ftpError(reply(550, 'Permission denied'), 'x') as ArtifactsError).code).toBe('permission_denied');
    expect((ftpError(reply(553, 'Prohibited file name'), 'x') as ArtifactsError).code).toBe(
      'permission_denied',
    );
    expect((ftpError(reply(552, 'Quota exceeded'), 'x') as ArtifactsError).code).toBe('unavailable');
    expect((ftpError(reply(421, 'Timeout'), 'x') as ArtifactsError).code).toBe('timeout');
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect((ftpError(reset, 'writing /a') as ArtifactsError).message).toContain('writing /a');
  });

  it('marks a refused data connection as temporary, also when basic-ftp hides the 425', () => {
    // basic-ftp's wording when a fresh connection's first transfer finds no passive mode that works.
    const noStrategy = (last: unknown) =>
      new Error(`None of the available transfer strategies work. Last error response was '${last}'.`);
    const busy = reply(425, 'Sorry, no more free data ports');
    for (const error of [busy, noStrategy(busy)]) {
      expect(isDataConnectionRefused(error)).toBe(true);
      const mapped = ftpError(error, 'reading /a') as ArtifactsError;
      expect(mapped).toBeInstanceOf(ArtifactsError);
      expect(mapped.code).toBe('unavailable');
      expect(mapped.temporary).toBe(true);
      expect(mapped.message).toContain('reading /a');
      expect(mapped.message).toContain('425 Sorry, no more free data ports');
      expect(mapped.cause).toBe(error);
    }
    // Any other reason the strategies failed is not known to pass: left as it is.
    for (const last of [reply(500, 'Unknown command'), reply(530, 'Not logged in'), reply(4250, 'x')]) {
      expect(isDataConnectionRefused(noStrategy(last))).toBe(false);
      const mapped = ftpError(noStrategy(last), 'x');
      expect(ArtifactsError.is(mapped) && mapped.temporary).toBe(false);
    }
    expect(isDataConnectionRefused(new Error("425 Can't open data connection"))).toBe(false);
    expect((ftpError(reply(552, 'Quota exceeded'), 'x') as ArtifactsError).temporary).toBe(false);
  });

  it('marks a dropped connection temporary (421, 426, a reset or closed socket), not a silent one', () => {
    const dropped = [
      reply(421, 'Service not available, closing control connection'),
      reply(421, 'Timeout (no operation for 1800 seconds)'),
      reply(426, 'Transfer aborted'),
      Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      new Error('Client is closed because Server sent FIN packet unexpectedly, closing connection.'),
    ];
    for (const error of dropped) {
      const mapped = ftpError(error, 'reading /a') as ArtifactsError;
      expect(mapped.temporary, mapped.message).toBe(true);
      expect(mapped.message).toContain('reading /a');
    }
    expect((ftpError(reply(421, 'Timeout'), 'x') as ArtifactsError).code).toBe('timeout');
    expect((ftpError(dropped[3], 'x') as ArtifactsError).code).toBe('unavailable');
    // basic-ftp's own limit on a silent connection: the timeout layer's business, not a retry's.
    const silent = ftpError(new Error('Timeout (control socket)'), 'x') as ArtifactsError;
    expect([silent.code, silent.temporary]).toEqual(['timeout', false]);
  });

  it('tells missing paths from other 550 replies', () => {
    expect(isMissing(reply(550, "Can't check for file existence"))).toBe(true);
    expect(isMissing(reply(550, 'Directory not empty'))).toBe(false);
    expect(isMissing(reply(550, 'Permission denied'))).toBe(false);
    expect(isMissing(reply(553, 'No such file'))).toBe(false);
  });

  it('recognises failures of the connection itself', () => {
    expect(isConnectionError(reply(421, 'Service not available'))).toBe(true);
    expect(isConnectionError(reply(426, 'Transfer aborted'))).toBe(true);
    expect(isConnectionError(reply(425, "Can't open data connection"))).toBe(false);
    expect(isConnectionError(reply(550, 'No such file'))).toBe(false);
    expect(isConnectionError(Object.assign(new Error('x'), { code: 'EPIPE' }))).toBe(true);
    expect(isConnectionError(new Error('Client is closed'))).toBe(true);
    expect(isConnectionError(new ArtifactsError('not_found', 'closed'))).toBe(false);
  });
});
