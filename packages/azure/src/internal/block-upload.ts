import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';

export interface BlockUploadOptions {
  blockSize: number;
  concurrency: number;
  /** Per-block Content-MD5 (validated by the service) and the blob's MD5 recorded at commit. */
  md5: boolean;
  contentType?: string;
  /** Total bytes when known: a small body then gets a buffer of its own size, not a whole block. */
  size?: number;
  signal?: AbortSignal;
}

export interface BlockUploadResult {
  /** Base64 MD5 the service computed (single Put Blob) — the store's own word on what it received. */
  serviceMd5?: string;
}

const md5 = (data: Uint8Array): Buffer => createHash('md5').update(data).digest();

/**
 * Streams `body` into a block blob. A body that fits in one block is one Put Blob; anything larger is
 * staged as blocks of `blockSize` with up to `concurrency` in flight, then committed with Put Block
 * List — nothing is visible at the name until that commit, and a failed upload leaves only uncommitted
 * blocks, which the service discards.
 *
 * Memory is bounded by a pool of at most (concurrency + 1) block buffers, reused from block to block:
 * a multi-gigabyte upload allocates them once instead of leaving gigabytes of garbage behind.
 *
 * Why not the SDK's `uploadStream`: it cannot send a per-block Content-MD5 nor record the blob's MD5,
 * which is what lets the service reject a corrupted block and later downloads be verified.
 */
export async function uploadBlocks(
  client: BlockBlobClient,
  body: Readable,
  options: BlockUploadOptions,
): Promise<BlockUploadResult> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  // A random prefix per upload: two writers of the same name never commit each other's blocks.
  const nonce = randomBytes(12).toString('hex');
  const blockIds: string[] = [];
  const whole = options.md5 ? createHash('md5') : undefined;
  const inflight = new Set<Promise<void>>();
  const free: Buffer[] = [];
  let allocated = 0;
  let failure: unknown;

  const acquire = async (): Promise<Buffer> => {
    while (free.length === 0 && allocated > options.concurrency) {
      await Promise.race(inflight);
      if (failure) throw failure;
    }
    const reused = free.pop();
    if (reused) return reused;
    allocated++;
    // The first buffer of a small body of known size is just big enough for it.
    const size =
      allocated === 1 && options.size !== undefined
        ? Math.max(1, Math.min(options.blockSize, options.size))
        : options.blockSize;
    return Buffer.allocUnsafeSlow(size);
  };

  const stage = (buffer: Buffer, length: number): void => {
    const block = buffer.subarray(0, length);
    const id = Buffer.from(`${nonce}-${String(blockIds.length).padStart(6, '0')}`).toString('base64');
    blockIds.push(id);
    whole?.update(block);
    const task = client
      .stageBlock(id, block, length, {
        abortSignal: controller.signal,
        ...(options.md5 ? { transactionalContentMD5: md5(block) } : {}),
      })
      .then(
        () => {
          // Only full-size buffers go back to the pool; a small first buffer is dropped.
          if (buffer.length === options.blockSize) free.push(buffer);
          else allocated--;
        },
        (error: unknown) => {
          failure ??= error;
          controller.abort();
        },
      );
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
  };

  let current: Buffer | undefined;
  let filled = 0;
  try {
    for await (const chunk of body) {
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      let offset = 0;
      while (offset < data.length) {
        if (failure) throw failure;
        // A full buffer is staged only once a further byte exists: a body of exactly one block stays
        // a single Put Blob.
        if (current && filled === current.length) {
          stage(current, filled);
          current = undefined;
          filled = 0;
        }
        current ??= await acquire();
        const n = Math.min(data.length - offset, current.length - filled);
        data.copy(current, filled, offset, offset + n);
        filled += n;
        offset += n;
      }
    }
    if (failure) throw failure;
    if (blockIds.length === 0) {
      const data = current ? current.subarray(0, filled) : Buffer.alloc(0);
      const response = await client.upload(data, data.length, {
        abortSignal: controller.signal,
        blobHTTPHeaders: {
          ...(options.contentType ? { blobContentType: options.contentType } : {}),
        },
        ...(options.md5 ? { transactionalContentMD5: md5(data) } : {}),
      });
      return response.contentMD5 ? { serviceMd5: Buffer.from(response.contentMD5).toString('base64') } : {};
    }
    if (current && filled > 0) stage(current, filled);
    await Promise.all(inflight);
    if (failure) throw failure;
    await client.commitBlockList(blockIds, {
      abortSignal: controller.signal,
      blobHTTPHeaders: {
        ...(options.contentType ? { blobContentType: options.contentType } : {}),
        ...(whole ? { blobContentMD5: whole.digest() } : {}),
      },
    });
    return {};
  } catch (error) {
    controller.abort();
    await Promise.allSettled(inflight);
    // The caller's abort wins over the block failures it caused.
    throw options.signal?.aborted ? error : (failure ?? error);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}
