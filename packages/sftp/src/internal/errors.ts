import { ArtifactsError, type ArtifactsErrorCode, isAbortError } from '@artifacts/core';
import { isConnectionError, SFTP_STATUS } from './connection.js';

const STATUS_CODES: Record<number, ArtifactsErrorCode> = {
  [SFTP_STATUS.NO_SUCH_FILE]: 'not_found',
  [SFTP_STATUS.PERMISSION_DENIED]: 'permission_denied',
  [SFTP_STATUS.OP_UNSUPPORTED]: 'unsupported',
  [SFTP_STATUS.NO_CONNECTION]: 'unavailable',
  [SFTP_STATUS.CONNECTION_LOST]: 'unavailable',
};

export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Turns an ssh2/SFTP failure into an ArtifactsError with the right code. SFTP status codes are
 * numbers core cannot know; connection failures become `unavailable`. Aborts pass through for core.
 */
export function sftpError(error: unknown, what: string): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const status = statusOf(error);
  let code: ArtifactsErrorCode | undefined = status === undefined ? undefined : STATUS_CODES[status];
  if (code === undefined && isConnectionError(error)) code = 'unavailable';
  if (code === undefined) return error;
  const prefix =
    code === 'not_found'
      ? `${what}: no such file or directory`
      : code === 'permission_denied'
        ? `${what}: permission denied`
        : code === 'unavailable'
          ? `${what}: the SFTP connection failed`
          : `${what} failed`;
  return new ArtifactsError(code, `${prefix} (${message})`, { cause: error });
}
