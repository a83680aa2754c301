import { ArtifactsError, type ArtifactsErrorCode, fileProtocolError, isAbortError } from '@artifacts/core';
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
 * numbers core cannot know; a connection that broke is `unavailable` and `temporary` (core's retry
 * layer repeats an idempotent call over a fresh connection). Aborts pass through for core.
 */
export function sftpError(error: unknown, what: string): unknown {
  if (ArtifactsError.is(error) || isAbortError(error)) return error;
  const status = statusOf(error);
  const dropped = isConnectionError(error);
  const code =
    (status === undefined ? undefined : STATUS_CODES[status]) ?? (dropped ? 'unavailable' : undefined);
  if (code === undefined) return error;
  return fileProtocolError(code, what, error, { protocol: 'SFTP', temporary: dropped });
}
