import { ArtifactsError, type DriverCopyOptions } from '@artifacts/core';
import type { BlobClient, BlockBlobClient } from '@azure/storage-blob';

/** Copy Blob From URL copies at most this much in one synchronous call. */
const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Copy Blob From URL (synchronous, atomic) up to its 256 MiB limit when `sas` can authorize the
 * source; otherwise Copy Blob, polled until done (within one account the destination's identity
 * authorizes it) and aborted, its destination removed, when it fails or is cancelled. Both are
 * pinned to the source's ETag.
 */
export async function copyBlob(
  source: BlobClient,
  destination: BlockBlobClient,
  sas: (() => Promise<string>) | undefined,
  options: DriverCopyOptions,
): Promise<void> {
  const signal = options.signal ? { abortSignal: options.signal } : {};
  let properties: Awaited<ReturnType<typeof source.getProperties>>;
  try {
    properties = await source.getProperties(signal);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404)
      throw ArtifactsError.notFound(`blob ${JSON.stringify(`${source.containerName}/${source.name}`)}`, {
        cause: error,
      });
    throw error;
  }
  const pinned = { sourceConditions: { ifMatch: properties.etag! }, ...signal };
  if (sas && (properties.contentLength ?? 0) <= SYNC_COPY_MAX_BYTES) {
    await destination.syncCopyFromURL(`${source.url}?${await sas()}`, pinned);
    return;
  }
  const poller = await destination.beginCopyFromURL(source.url, pinned);
  try {
    await poller.pollUntilDone();
  } catch (error) {
    const copyId = poller.getOperationState().result?.copyId;
    if (copyId) await destination.abortCopyFromURL(copyId).catch(() => undefined);
    await destination.deleteIfExists().catch(() => undefined);
    throw error;
  }
}
