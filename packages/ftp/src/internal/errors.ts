import { ArtifactsError, type ArtifactsErrorCode, fileProtocolError, isAbortError } from '@artifacts/core';
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
  return /no such|not found|not exist|doesn'?t exist|can'?t find|cannot find|unknown file|can'?t check for file existence/i.test(
    (error as Error).message,
  );
}

/**
 * Turns a basic-ftp failure into an ArtifactsError with the right code. Aborts pass through. A
 * dropped connection (reset, closed socket, 421/426) and a refused data connection (425) are
 * `temporary`: core's retry layer runs an idempotent call again, over a fresh connection.
 */
export function ftpError(error: unknown, what: string): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = replyCode(error);
  const refused = isDataConnectionRefused(error);
  // A server's 421/426 or a socket that broke: not basic-ftp's own timeout of a silent connection.
  const dropped = isConnectionError(error) && (code !== undefined || !/timeout/i.test(message));
  let mapped: ArtifactsErrorCode | undefined;
  if (refused) mapped = 'unavailable';
  else if (code === 530 || code === 332) mapped = 'unauthenticated';
  else if (code === 550 || code === 450)
    mapped = isMissing(error)
      ? 'not_found'
      : /permission|denied|not allowed|forbidden/i.test(message)
        ? 'permission_denied'
        : 'failed_precondition';
  else if (code === 553 || code === 532) mapped = 'permission_denied';
  else if (code === 552 || code === 452) mapped = 'unavailable';
  else if (code === 502 || code === 504) mapped = 'unsupported';
  else if (isConnectionError(error)) mapped = /timeout/i.test(message) ? 'timeout' : 'unavailable';
  if (mapped === undefined) return error;
  return fileProtocolError(mapped, what, error, {
    protocol: 'FTP',
    temporary: refused || dropped,
    ...(refused ? { reason: 'the FTP server could not open a data connection' } : {}),
  });
}
