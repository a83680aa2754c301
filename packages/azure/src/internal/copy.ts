import {
  ArtifactsError,
  answerHeader,
  type DriverCopyOptions,
  missingAs,
  pollUntilDone,
  type StoreHttp,
} from '@artifacts/core';
import { type BlobAddress, blobPath } from './lean.js';

/** Copy Blob From URL copies at most this much in one synchronous call. */
const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;
/** How often a pending Copy Blob is asked about. */
const POLL_MS = 1000;

/**
 * Copy Blob From URL (synchronous, atomic; its source authorized by `sas`) up to its 256 MiB limit;
 * above, Copy Blob, polled until done (within one account the destination's identity authorizes
 * it) and aborted, its destination removed, when it fails, is cancelled, or makes no progress
 * (`x-ms-copy-progress` unchanged) for `timeoutMs` (the repository's; `-1`, `0` or unset: none).
 * Both are pinned to the source's ETag.
 */
export async function copyBlob(
  http: StoreHttp,
  from: BlobAddress & { uri: string },
  to: BlobAddress,
  sas: () => Promise<string>,
  { signal, timeoutMs }: DriverCopyOptions,
): Promise<void> {
  const send = (
    method: string,
    at: BlobAddress,
    headers: Record<string, string> = {},
    query: [string, string][] = [],
    cancellable = true,
  ) =>
    http.drain({
      method,
      path: blobPath(at.container, at.blob),
      query,
      headers,
      signal: cancellable ? signal : undefined,
    });
  const source = await send('HEAD', from).catch(missingAs(from.uri));
  const url = `${http.url}${blobPath(from.container, from.blob)}`;
  const pinned = { 'content-length': '0', 'x-ms-source-if-match': answerHeader(source, 'etag') ?? '*' };
  if (Number(answerHeader(source, 'content-length') ?? 0) <= SYNC_COPY_MAX_BYTES) {
    await send('PUT', to, {
      ...pinned,
      'x-ms-copy-source': `${url}?${await sas()}`,
      'x-ms-requires-sync': 'true',
    });
    return;
  }
  // Not under the signal: once sent, the service may have started the copy, which only the id in
  // its answer can stop. A cancellation during it takes effect when it answers (below).
  let answer = await send('PUT', to, { ...pinned, 'x-ms-copy-source': url }, [], false);
  const id = answerHeader(answer, 'x-ms-copy-id');
  try {
    answer = await pollUntilDone({
      first: answer,
      next: () => send('HEAD', to),
      done: (at) => answerHeader(at, 'x-ms-copy-status') !== 'pending',
      progress: (at) => answerHeader(at, 'x-ms-copy-progress'),
      stallMs: timeoutMs,
      intervalMs: POLL_MS,
      signal,
      stalled: (progress, ms) =>
        `copying ${JSON.stringify(from.uri)}: the blob service's copy made no progress for ${ms} ms (at ${progress ?? 'an unreported'} bytes); it was aborted`,
    });
    const status = answerHeader(answer, 'x-ms-copy-status') ?? 'success';
    if (status !== 'success') {
      const why = answerHeader(answer, 'x-ms-copy-status-description') ?? 'no reason given';
      throw new ArtifactsError('unavailable', `the blob service ended the copy as ${status}: ${why}`);
    }
  } catch (error) {
    // Without the signal (`cancellable` false: an `undefined` argument would take the default, the
    // cancelled signal): a cancelled copy must still be stopped and its destination removed.
    const copy: [string, string][] = [
      ['comp', 'copy'],
      ['copyid', id ?? ''],
    ];
    if (id)
      await send('PUT', to, { 'content-length': '0', 'x-ms-copy-action': 'abort' }, copy, false).catch(
        () => {},
      );
    await send('DELETE', to, {}, [], false).catch(() => {});
    throw error;
  }
}
