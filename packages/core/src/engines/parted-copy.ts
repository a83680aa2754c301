import { forEachLimited } from '../delete.js';
import { choosePartSize, type PartLimits } from './chunked-upload.js';

/** What a store plugs into a server-side copy made of parts (S3's UploadPartCopy, Azure's Put Block From URL). */
export interface PartedCopyTarget<Part> {
  /** Starts the destination's multipart upload. */
  create(): Promise<void>;
  /** Copies the source's bytes `start`–`end` (inclusive) as part `partNumber` (from 1). */
  copyPart(range: { partNumber: number; start: number; end: number }): Promise<Part>;
  /** Commits the parts, given in part-number order. */
  complete(parts: Part[]): Promise<void>;
  /** Drops the upload after a failure (best effort: its own failure is ignored). */
  abort(): Promise<void>;
}

export interface PartedCopyOptions {
  /** The source's size in bytes. */
  size: number;
  /** The preferred part size; raised to stay within `limits`. */
  partSize: number;
  limits: PartLimits;
  /** Parts copied at once. */
  concurrency: number;
}

/**
 * A server-side copy in parts, once for every store: the part size chosen within the store's
 * limits (refused before anything starts when none fits), `concurrency` parts in flight, and on any
 * failure no further part started, every part settled, then the upload aborted — nothing partial is
 * visible at the destination and no part lands after the abort.
 */
export async function copyInParts<Part>(
  target: PartedCopyTarget<Part>,
  options: PartedCopyOptions,
): Promise<void> {
  const { size } = options;
  const partSize = choosePartSize(options.partSize, size, options.limits);
  const count = Math.ceil(size / partSize);
  await target.create();
  const parts: Part[] = new Array(count);
  try {
    await forEachLimited(
      Array.from({ length: count }, (_, index) => index),
      options.concurrency,
      async (index) => {
        const start = index * partSize;
        const end = Math.min(size, start + partSize) - 1;
        parts[index] = await target.copyPart({ partNumber: index + 1, start, end });
      },
      { stopAfterFailure: true },
    );
    await target.complete(parts);
  } catch (error) {
    await target.abort().catch(() => undefined);
    throw error;
  }
}
