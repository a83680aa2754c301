import { ArtifactsError, type ArtifactsErrorCode, isAbortError } from '@artifacts/core';
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

/** Turns a basic-ftp failure into an ArtifactsError with the right code. Aborts pass through. */
export function ftpError(error: unknown, what: string): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = replyCode(error);
  let mapped: ArtifactsErrorCode | undefined;
  // Temporary: core's retry layer runs the call again (the driver only says so).
  const temporary = isDataConnectionRefused(error);
  if (temporary) mapped = 'unavailable';
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
  const prefix =
    mapped === 'not_found'
      ? `${what}: no such file or directory`
      : mapped === 'permission_denied'
        ? `${what}: permission denied`
        : temporary
          ? `${what}: the FTP server could not open a data connection`
          : mapped === 'unavailable'
            ? `${what}: the FTP connection failed`
            : `${what} failed`;
  return new ArtifactsError(mapped, `${prefix} (${message})`, { cause: error, temporary });
}
