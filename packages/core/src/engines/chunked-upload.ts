import type { Readable } from 'node:stream';
import { DEFAULT_MAX_RETRIES } from '../config.js';
import type {
  ChecksumAlgorithm,
  DriverWriteOptions,
  EngineRetryOptions,
  OpenContext,
  OperationOptions,
  SentBody,
} from '../driver.js';
import { ArtifactsError } from '../errors.js';
import { crcCombine, crcOf, crcText, createHasher } from '../internal/checksum.js';
import { directBody } from '../internal/file-body.js';
import { defaultRequestRetry, type RequestRetry } from '../layers/retry.js';
import { releaseChunk } from '../lent-chunks.js';
import { bodyOf, linkedAbort, type RequestContext, runRequest } from './request-watch.js';

/** A store's limits on multipart uploads, declared by its driver. */
export interface PartLimits {
  /** Parts one upload may have (S3: 10,000; Azure: 50,000 blocks). */
  maxParts: number;
  /** Smallest part but the last (S3: 5 MiB). */
  minPartSize: number;
  /** Largest part (S3: 5 GiB; Azure: 4,000 MiB). */
  maxPartSize: number;
}

/** One request of a chunked upload: the bytes, and a fresh stream of them per attempt. */
export interface PartRequest extends RequestContext {
  /** From 1, in body order. */
  partNumber: number;
  /** The part's bytes: valid until the request settles (the buffer goes back to the pool). */
  data: Buffer;
  /**
   * A new stream of `data` for this attempt. Send it rather than `data` when `watched` and the
   * client accepts a stream: each chunk it takes is progress, which is what keeps a slow but
   * steady link within the timeout.
   */
  body(): Readable;
  /**
   * What to send: under a stall timeout (`watched`) a new stream of `data` (`body()`), else `data`
   * itself (one buffer write costs less CPU than a stream of chunks).
   */
  payload(): Buffer | Readable;
  /** With `ChunkedUploadOptions.crc`: the part's CRC (base64, big-endian), for its checksum header. */
  crc?: string;
  /**
   * With `ChunkedUploadOptions.partDigest`: the part's digest (base64), hashed once; `putWhole`'s is
   * the whole body's (its one part).
   */
  digest?: string;
  /** `putWhole` only, with `ChunkedUploadOptions.digest` or `crc`: the whole body's hash (it is this part). */
  sent?: SentBody;
}

/**
 * What a store plugs into the engine. The engine owns the buffering, the part size, the parts in
 * flight, their retries and timeouts, and the abort on failure; the store only speaks its protocol.
 */
export interface ChunkedUploadTarget<Part, Result> {
  /** One request for a body that fits in one part. Omitted: every body is a multipart upload. */
  putWhole?(request: PartRequest): Promise<Result>;
  /** Starts the multipart upload. `partCount` is known when the body's size is. */
  create(plan: { partSize: number; partCount?: number }, context: RequestContext): Promise<void>;
  /** Stores one part; returns what `complete` needs of it (an ETag, a block id). */
  uploadPart(request: PartRequest): Promise<Part>;
  /**
   * Commits the parts, given in part-number order; `context.sent` is the whole body's hash with
   * `ChunkedUploadOptions.digest` or `crc` (a store that records it at the commit: Azure's blob MD5).
   */
  complete(parts: Part[], context: RequestContext & { sent?: SentBody | undefined }): Promise<Result>;
  /** Drops the upload after a failure (best effort, bounded by the timeout; errors are ignored). */
  abort(context: RequestContext): Promise<void>;
}

export interface ChunkedUploadOptions {
  /** The part size the store is configured for; raised to stay within `limits`. */
  partSize: number;
  /** Parts in flight at once; the pool holds this many buffers plus the one being filled. */
  concurrency: number;
  limits: PartLimits;
  /** The body's size when known: picks the part size and sizes a small body's only buffer. */
  size?: number | undefined;
  /** Bound on each stall of each request, ms; undefined or ≤ 0 = none. */
  timeoutMs?: number | undefined;
  /**
   * The repository's retry policy for each part (`DriverWriteOptions.retry`, set by core's retry
   * layer): the same attempts, backoff, jitter, `Retry-After` and budget as every other call.
   */
  retry?: RequestRetry | undefined;
  /** Without `retry` (a driver used on its own): attempts per part, the first included. Default 4. */
  maxAttempts?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Called whenever bytes move (the timeout layer's heartbeat, `DriverWriteOptions.onActivity`). */
  onActivity?: (() => void) | undefined;
  /** Sees every byte of the body once, in order, before it is sent (a whole-object hash). */
  onData?: ((data: Buffer) => void) | undefined;
  /**
   * Hash each part once with this CRC (`PartRequest.crc`) and derive the whole body's from the
   * parts' (`crcCombine`), reported to `onSent` once the upload succeeded: one pass serves both.
   */
  crc?: 'crc32' | 'crc32c' | undefined;
  /**
   * Hash the whole body with this algorithm as it is read (one pass, in order): handed to `putWhole`
   * and `complete` (`sent`) and reported to `onSent`, instead of `crc`'s. For a store that wants the
   * whole body's digest rather than one combined from the parts' CRCs (Azure's MD5).
   */
  digest?: ChecksumAlgorithm | undefined;
  /**
   * Hash each part sent by `uploadPart` with this algorithm, once (`PartRequest.digest`), for its
   * own checksum header (Azure's per-block `Content-MD5`, S3's `x-amz-checksum-sha256`); a body of one
   * part has it in `putWhole` too (with `digest` of the same algorithm, that hash: hashed once).
   */
  partDigest?: ChecksumAlgorithm | undefined;
  onSent?: ((sent: SentBody) => void) | undefined;
  /** Names the upload in errors. */
  what: string;
}

/**
 * What a driver's write or read hands its engine from the repository it was opened in and the
 * call's own options, derived here once: the stall timeout (the call's, else the repository's), the
 * retry layer's policy (else, for a driver used on its own, core's `maxRetries` + 1 attempts), the
 * caller's signal and the timeout layer's heartbeat.
 */
export function engineOptions(
  context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>,
  options: OperationOptions & EngineRetryOptions & Pick<DriverWriteOptions, 'onActivity'>,
): Pick<ChunkedUploadOptions, 'timeoutMs' | 'retry' | 'maxAttempts' | 'signal' | 'onActivity'> {
  return {
    timeoutMs: options.timeoutMs ?? context.timeoutMs,
    retry: options.retry,
    maxAttempts: (context.maxRetries ?? DEFAULT_MAX_RETRIES) + 1,
    signal: options.signal,
    onActivity: options.onActivity,
  };
}

/**
 * The part size for a body of `size` bytes: the preferred size, raised so the body fits in
 * `limits.maxParts` parts and to the store's minimum, and refused when even the largest part is not
 * enough.
 */
export function choosePartSize(preferred: number, size: number | undefined, limits: PartLimits): number {
  let partSize = Math.max(preferred, limits.minPartSize);
  if (size !== undefined) partSize = Math.max(partSize, Math.ceil(size / limits.maxParts));
  partSize = Math.min(partSize, limits.maxPartSize);
  if (size !== undefined && Math.ceil(size / partSize) > limits.maxParts) {
    throw ArtifactsError.invalidArgument(
      `a body of ${size} bytes needs more than ${limits.maxParts} parts of the largest size the store takes (${limits.maxPartSize} bytes)`,
    );
  }
  return partSize;
}

/**
 * OpenDAL's `MultipartWrite`, once for every store: reads `body` into a fixed pool of part buffers
 * (allocated once, reused, so memory is flat whatever the size; a local file is read straight into
 * them, `DirectBody`), sends up to `concurrency` parts at
 * once, retries a part that failed with a temporary error (only that part, by the repository's retry
 * policy: `options.retry`), bounds every request by
 * the stall timeout, and aborts the upload on failure or on the caller's signal before it returns —
 * nothing is left and nothing is visible. A body that fits in one part is one `putWhole`.
 */
export async function chunkedUpload<Part, Result>(
  body: Readable,
  target: ChunkedUploadTarget<Part, Result>,
  options: ChunkedUploadOptions,
): Promise<Result> {
  const partSize = choosePartSize(options.partSize, options.size, options.limits);
  const policy = {
    timeoutMs: options.timeoutMs !== undefined && options.timeoutMs > 0 ? options.timeoutMs : undefined,
    retry:
      options.retry ??
      defaultRequestRetry(options.maxAttempts ?? DEFAULT_MAX_RETRIES + 1, 'write', options.what),
    onActivity: options.onActivity,
  };
  const once = { ...policy, retry: undefined };
  const controller = linkedAbort(options.signal);
  const { signal } = controller;
  const free: Buffer[] = [];
  let allocated = 0;
  const inFlight = new Set<Promise<void>>();
  const parts: Array<{ number: number; part: Part }> = [];
  let failure: unknown;
  let created = false;
  let partNumber = 0;
  // Bytes handed to parts so far: where the next part starts.
  let uploaded = 0;

  // The CRC of the parts dispatched so far, in body order, and their length.
  let whole = 0;
  let hashed = 0;
  const hash = (data: Buffer): string | undefined => {
    if (!options.crc) return undefined;
    const crc = crcOf(options.crc, data);
    // The first part's CRC is the body's so far: nothing to combine (a one-part body's is its own).
    whole = hashed === 0 ? crc : crcCombine(options.crc, whole, crc, data.length);
    hashed += data.length;
    return crcText(crc);
  };
  const digest = options.digest ? createHasher(options.digest) : undefined;
  // The whole body's hash, once every byte has been handed to a part.
  let total: SentBody | undefined;
  const sent = (): SentBody | undefined => {
    const algorithm = options.digest ?? options.crc;
    if (algorithm !== undefined)
      total ??= {
        checksum: { algorithm, value: digest ? digest.digest() : crcText(whole) },
        bytes: uploaded,
      };
    return total;
  };

  // A part's own digest (`partDigest`), for its checksum header.
  const ownDigest = (data: Buffer): string | undefined => {
    if (!options.partDigest) return undefined;
    const hasher = createHasher(options.partDigest);
    hasher.update(data);
    return hasher.digest();
  };

  const request = (number: number, data: Buffer, crc: string | undefined) => (context: RequestContext) =>
    ({
      ...context,
      partNumber: number,
      data,
      body: () => bodyOf(data, context.touch),
      payload: () => (context.watched ? bodyOf(data, context.touch) : data),
      ...(crc === undefined ? {} : { crc }),
    }) as PartRequest;

  const fail = (error: unknown) => {
    failure ??= error;
    controller.abort(error);
  };

  const acquire = async (): Promise<Buffer> => {
    // At most `concurrency` parts in flight and one filling: the pool never exceeds concurrency + 1.
    while (inFlight.size >= options.concurrency) {
      await Promise.race(inFlight);
      if (failure !== undefined) throw failure;
    }
    const reused = free.pop();
    if (reused) return reused;
    allocated++;
    // A small body of known size gets a buffer just big enough for it.
    const length =
      allocated === 1 && options.size !== undefined
        ? Math.max(1, Math.min(partSize, options.size))
        : partSize;
    return Buffer.allocUnsafeSlow(length);
  };

  const ensureCreated = async () => {
    if (created) return;
    created = true;
    const partCount =
      options.size === undefined ? undefined : Math.max(1, Math.ceil(options.size / partSize));
    // Creating twice would leave an orphan upload: never repeated.
    await runRequest(`${options.what}: starting`, signal, once, (context) =>
      target.create({ partSize, ...(partCount === undefined ? {} : { partCount }) }, context),
    );
  };

  const dispatch = (buffer: Buffer, length: number) => {
    const number = ++partNumber;
    if (number > options.limits.maxParts) {
      throw ArtifactsError.invalidArgument(
        `${options.what}: the body needs more than ${options.limits.maxParts} parts of ${partSize} bytes; raise the part size`,
      );
    }
    const data = buffer.subarray(0, length);
    options.onData?.(data);
    digest?.update(data);
    const crc = hash(data);
    const digested = ownDigest(data);
    const start = uploaded;
    uploaded += length;
    const task = runRequest(
      `${options.what}: part ${number}`,
      signal,
      policy,
      (context) =>
        target.uploadPart({
          ...request(number, data, crc)(context),
          ...(digested === undefined ? {} : { digest: digested }),
        }),
      { number, start, end: start + length - 1 },
    ).then(
      (part) => {
        parts.push({ number, part });
        // Only full-size buffers go back to the pool; a small first buffer is dropped.
        if (buffer.length === partSize) free.push(buffer);
        else allocated--;
      },
      (error: unknown) => fail(error),
    );
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  };

  let current: Buffer | undefined;
  let filled = 0;
  // A local file is read straight into the part buffers (positional reads, no chunk, no copy).
  const direct = directBody(body);
  try {
    while (direct) {
      if (failure !== undefined) throw failure;
      current ??= await acquire();
      filled += await direct.readInto(current.subarray(filled));
      // Short only at the end; a full buffer with nothing after it stays for `putWhole`.
      if (direct.ended) break;
      await ensureCreated();
      dispatch(current, filled);
      current = undefined;
      filled = 0;
    }
    for await (const chunk of direct ? [] : body) {
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      let offset = 0;
      while (offset < data.length) {
        if (failure !== undefined) throw failure;
        // A full buffer is sent only once a further byte exists: a body of exactly one part stays
        // a single request.
        if (current && filled === current.length) {
          await ensureCreated();
          dispatch(current, filled);
          current = undefined;
          filled = 0;
        }
        current ??= await acquire();
        const n = Math.min(data.length - offset, current.length - filled);
        data.copy(current, filled, offset, offset + n);
        filled += n;
        offset += n;
      }
      // Its bytes are in the part buffers now, and a part's retry sends those: a lent chunk is freed.
      releaseChunk(chunk);
    }
    if (failure !== undefined) throw failure;
    if (!created && target.putWhole) {
      const data = current ? current.subarray(0, filled) : Buffer.alloc(0);
      options.onData?.(data);
      digest?.update(data);
      const crc = hash(data);
      uploaded = data.length;
      const hashed = sent();
      // The one part's own digest is the whole body's when both are of one algorithm.
      const digested =
        options.partDigest !== undefined && options.partDigest === options.digest
          ? hashed?.checksum.value
          : ownDigest(data);
      const putWhole = target.putWhole.bind(target);
      const result = await runRequest(`${options.what}`, signal, policy, (context) =>
        putWhole({
          ...request(1, data, crc)(context),
          ...(hashed ? { sent: hashed } : {}),
          ...(digested === undefined ? {} : { digest: digested }),
        }),
      );
      if (hashed) options.onSent?.(hashed);
      return result;
    }
    await ensureCreated();
    if (current && filled > 0) dispatch(current, filled);
    while (inFlight.size > 0) await Promise.race(inFlight);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => a.number - b.number);
    const ordered = parts.map((entry) => entry.part);
    const hashed = sent();
    // Completing twice may fail after a success: never repeated.
    const result = await runRequest(`${options.what}: completing`, signal, once, (context) =>
      target.complete(ordered, { ...context, sent: hashed }),
    );
    if (hashed) options.onSent?.(hashed);
    return result;
  } catch (error) {
    // The first failure is the one to report, not the aborts of the parts it cancels.
    failure ??= error;
    controller.abort(error);
    await Promise.allSettled(inFlight);
    // Its own signal: the upload's is aborted by now, and a stalled store must not hold the abort.
    if (created) {
      await runRequest(`${options.what}: aborting`, new AbortController().signal, once, (context) =>
        target.abort(context),
      ).catch(() => undefined);
    }
    if (!body.destroyed) body.destroy();
    // The caller's abort wins over the part failures it caused.
    throw options.signal?.aborted ? error : failure;
  } finally {
    controller.unlink();
  }
}
