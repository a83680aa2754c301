import type { ArtifactsErrorCode, FileErrorSpec } from '@artifacts/core';
import { FTPError } from 'basic-ftp';
import { isConnectionError } from './connection.js';

/** The FTP reply code of an error, if it is a server reply. */
export function replyCode(error: unknown): number | undefined {
  return error instanceof FTPError ? error.code : undefined;
}

/**
 * The server could not open a data connection (`425`: its passive ports are all taken, which
 * passes). basic-ftp reports the 425 of a fresh connection's first transfer, where it still tries
 * each passive mode in turn, as a plain Error that quotes the last reply; that counts too.
 */
export function isDataConnectionRefused(error: unknown): boolean {
  if (replyCode(error) === 425) return true;
  return (
    error instanceof Error &&
    !(error instanceof FTPError) &&
    /^None of the available transfer strategies work\. Last error response was '(?:\w+: )?425[ -]/.test(
      error.message,
    )
  );
}

/**
 * 550 means "no such file", "not allowed", "not empty"…: only the text tells which. This says yes
 * only for the wordings servers use for a missing path; callers that need certainty stat the path.
 */
export function isMissing(error: unknown): boolean {
  const code = replyCode(error);
  if (code !== 550 && code !== 450) return false;
  return MISSING.test((error as Error).message);
}

const MISSING =
  /no such|not found|not exist|doesn'?t exist|can'?t find|cannot find|unknown file|can'?t check for file existence/i;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * FTP's error table for core's `PooledFileDriver`. A refused data connection (425, also when
 * basic-ftp hides it) and a dropped connection (reset, closed socket, 421/426) are `temporary`: core's
 * retry layer runs an idempotent call again, over a fresh connection. basic-ftp's own timeout of a
 * silent connection is `timeout`, not temporary.
 */
export const FTP_ERRORS: FileErrorSpec = {
  protocol: 'FTP',
  status: (error) => (isDataConnectionRefused(error) ? 425 : replyCode(error)),
  codes: {
    425: { code: 'unavailable', temporary: true, reason: 'the FTP server could not open a data connection' },
    530: 'unauthenticated',
    332: 'unauthenticated',
    // 550 means "no such file", "not allowed", "not empty"…: only the text tells which.
    550: missingOrRefused,
    450: missingOrRefused,
    553: 'permission_denied',
    532: 'permission_denied',
    552: 'unavailable',
    452: 'unavailable',
    502: 'unsupported',
    504: 'unsupported',
  },
  // A server's 421/426 or a socket that broke: not basic-ftp's own timeout of a silent connection.
  dropped: (error) =>
    isConnectionError(error) && (replyCode(error) !== undefined || !/timeout/i.test(messageOf(error))),
  timedOut: (error) => isConnectionError(error) && /timeout/i.test(messageOf(error)),
};

function missingOrRefused(message: string): ArtifactsErrorCode {
  if (MISSING.test(message)) return 'not_found';
  return /permission|denied|not allowed|forbidden/i.test(message)
    ? 'permission_denied'
    : 'failed_precondition';
}
