import { ArtifactsError, type FailedFile } from '../errors.js';

/** How a message names a key: the root or one artifact. */
export function describePath(key: string): string {
  return key === '' ? 'the repository root' : `artifact ${JSON.stringify(key)}`;
}

/**
 * Throws one `partial_failure` naming every failed file of a batch (the first 20 in the message),
 * or the `aborted` error itself when the caller aborted; returns when nothing failed.
 */
export function throwGathered(
  failures: FailedFile[],
  verb: string,
  total: number,
  signal?: AbortSignal,
): void {
  if (failures.length === 0) return;
  const aborted = failures.find((failure) => failure.error.code === 'aborted');
  if (aborted && signal?.aborted) throw aborted.error;
  const lines = failures.slice(0, 20).map((failure) => `${failure.path}: ${failure.error.message}`);
  const more = failures.length > 20 ? `; and ${failures.length - 20} more` : '';
  throw new ArtifactsError(
    'partial_failure',
    `${failures.length} of ${total} files failed to ${verb}: ${lines.join('; ')}${more}`,
    {
      failures,
      cause: failures[0]!.error,
    },
  );
}
