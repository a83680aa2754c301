import type { FileErrorSpec } from '@artifacts/core';
import { SFTP_STATUS } from './connection.js';

export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * SFTP's error table for core's `PooledFileDriver`: status codes are numbers core cannot know. A
 * connection that broke (the factory's `isConnectionError`, which knows NO_CONNECTION and
 * CONNECTION_LOST) is `unavailable` and `temporary`, and core's retry layer repeats an idempotent
 * call over a fresh connection.
 */
export const SFTP_ERRORS: FileErrorSpec = {
  protocol: 'SFTP',
  status: statusOf,
  codes: {
    [SFTP_STATUS.NO_SUCH_FILE]: 'not_found',
    [SFTP_STATUS.PERMISSION_DENIED]: 'permission_denied',
    [SFTP_STATUS.OP_UNSUPPORTED]: 'unsupported',
  },
};
