import type { CompletedPart } from './driver.js';
import { ArtifactsError } from './errors.js';

/** Presigned URLs last one hour unless asked otherwise, as MLflow's do. */
export const DEFAULT_PRESIGN_SECONDS = 3600;
/** The longest a V4 (S3, GCS) or user-delegation (Azure) signature may last: 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/**
 * The lifetime of a presigned URL in seconds: `seconds`, or one hour; an integer from 1 to `max`
 * (7 days, the stores' signing limit; `Infinity` where the store has none), else `invalid_argument`.
 */
export function presignSeconds(seconds: number | undefined, max = MAX_PRESIGN_SECONDS): number {
  const value = seconds ?? DEFAULT_PRESIGN_SECONDS;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    const limit = Number.isFinite(max)
      ? ` between 1 and ${max} (7 days, the signing limit)`
      : ' of at least 1';
    throw ArtifactsError.invalidArgument(
      `expiresInSeconds must be an integer${limit}, got ${String(seconds)}`,
    );
  }
  return value;
}

/** A multipart upload's completed parts in part-number order; a part number given twice is refused. */
export function sortedParts(parts: readonly CompletedPart[]): CompletedPart[] {
  const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
  if (sorted.some((part, i) => i > 0 && part.partNumber === sorted[i - 1]!.partNumber))
    throw ArtifactsError.invalidArgument('each part number may appear only once');
  return sorted;
}
