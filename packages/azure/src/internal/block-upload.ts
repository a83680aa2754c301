import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlockBlobClient } from '@azure/storage-blob';

export interface BlockUploadOptions {
  blockSize: number;
  concurrency: number;
  /** Per-block Content-MD5 (validated by the service) and the blob's MD5 recorded at commit. */
  md5: boolean;
  contentType?: string;
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
 * blocks, which the service discards. Memory: at most (concurrency + 1) × blockSize.
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
  let failure: unknown;
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  const stage = (block: Buffer): void => {
    const id = Buffer.from(`${nonce}-${String(blockIds.length).padStart(6, '0')}`).toString('base64');
    blockIds.push(id);
    whole?.update(block);
    const task = client
      .stageBlock(id, block, block.length, {
        abortSignal: controller.signal,
        ...(options.md5 ? { transactionalContentMD5: md5(block) } : {}),
      })
      .then(
        () => undefined,
        (error: unknown) => {
          failure ??= error;
          controller.abort();
        },
      );
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
  };

  /** Takes exactly `size` bytes off the front of the pending chunks. */
  const take = (size: number): Buffer => {
    const out = Buffer.allocUnsafe(size);
    let offset = 0;
    while (offset < size) {
      const head = pending[0]!;
      const n = Math.min(head.length, size - offset);
      head.copy(out, offset, 0, n);
      offset += n;
      if (n === head.length) pending.shift();
      else pending[0] = head.subarray(n);
    }
    pendingBytes -= size;
    return out;
  };

  try {
    for await (const chunk of body) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      if (buffer.length === 0) continue;
      pending.push(buffer);
      pendingBytes += buffer.length;
      // Stage only when more than a block is known to exist: a body of exactly one block stays a
      // single Put Blob.
      while (pendingBytes > options.blockSize) {
        if (failure) throw failure;
        stage(take(options.blockSize));
        while (inflight.size >= options.concurrency) await Promise.race(inflight);
      }
      if (failure) throw failure;
    }
    if (blockIds.length === 0) {
      const data = pendingBytes === 0 ? Buffer.alloc(0) : take(pendingBytes);
      pending = [];
      const response = await client.upload(data, data.length, {
        abortSignal: controller.signal,
        blobHTTPHeaders: {
          ...(options.contentType ? { blobContentType: options.contentType } : {}),
        },
        ...(options.md5 ? { transactionalContentMD5: md5(data) } : {}),
      });
      return response.contentMD5 ? { serviceMd5: Buffer.from(response.contentMD5).toString('base64') } : {};
    }
    if (pendingBytes > 0) stage(take(pendingBytes));
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
