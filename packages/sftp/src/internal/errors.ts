import { describeFileErrors } from '@artifacts/core';
import { isConnectionError, SFTP_STATUS } from './connection.js';

export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Turns an ssh2/SFTP failure into an ArtifactsError, declared for core's `describeFileErrors`: SFTP
 * status codes are numbers core cannot know; a connection that broke is `unavailable` and
 * `temporary` (core's retry layer repeats an idempotent call over a fresh connection). Aborts pass
 * through for core.
 */
export const sftpError: (error: unknown, what: string) => unknown = describeFileErrors({
  protocol: 'SFTP',
  status: statusOf,
  codes: {
    [SFTP_STATUS.NO_SUCH_FILE]: 'not_found',
    [SFTP_STATUS.PERMISSION_DENIED]: 'permission_denied',
    [SFTP_STATUS.OP_UNSUPPORTED]: 'unsupported',
    [SFTP_STATUS.NO_CONNECTION]: 'unavailable',
    [SFTP_STATUS.CONNECTION_LOST]: 'unavailable',
  },
  dropped: isConnectionError,
});
