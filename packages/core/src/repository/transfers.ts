import { createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { PassThrough, type Readable } from 'node:stream';
import type { ByteRange, ChecksumAlgorithm, DriverReadResult, StorageDriver } from '../driver.js';
import { sliceServed } from '../engines/ranged-read.js';
import { ArtifactsError, toArtifactsError } from '../errors.js';
import { FileBody, ReadBufferPool } from '../internal/file-body.js';
import type { Limiter } from '../internal/pool.js';
import { Meter, pipeStages, Tally } from '../internal/streams.js';
import type { ReadOptions, TransferOptions, WriteOptions } from '../repository.js';
import { describePath } from './failures.js';
import { intoTempFile } from './local-files.js';
import type { Progress } from './progress.js';
import { openScope, runScoped, scopedError, timeoutOf } from './scope.js';

/**
 * The 1 MiB chunks of local files streamed to drivers, reused once a consumer gives one back
 * (`RELEASE_CHUNK`: core's `HttpPool` once the socket has taken it). Without reuse a fast upload
 * leaves a new 1 MiB buffer behind per chunk faster than the young generation is collected: the
 * HDFS upload of 256 MiB peaked at 161–175 MiB RSS. A chunk nobody gives back is garbage as before.
 */
const UPLOAD_CHUNKS = new ReadBufferPool(1024 * 1024, 8);

const TALLY = Symbol('tally');
type TalliedBody = FileBody & { [TALLY]?: Tally };

function observeTally(this: TalliedBody, data: Buffer): void {
  this[TALLY]?.account(data);
}

function ignore(): void {}

/** What a transfer needs of its repository. */
export interface TransferContext {
  driver: StorageDriver;
  secrets: readonly string[];
  limiter: Limiter;
  /** Throws `failed_precondition` once the repository is closed. */
  assertOpen: () => void;
}

// tsup.config.ts defines it per output format; unset (vitest runs the source as ESM) means ESM.
declare const __ARTIFACTS_CORE_FORMAT__: string | undefined;
let mime: typeof import('mime-types') | undefined;

/** Guesses a Content-Type from a file name ('application/octet-stream' when unknown). */
export function guessContentType(name: string): string {
  // Loaded on first use: its database costs about 0.13 s of CPU at start-up, which a process that
  // only downloads (or lists, or deletes) never needs.
  mime ??= (
    typeof __ARTIFACTS_CORE_FORMAT__ === 'string' && __ARTIFACTS_CORE_FORMAT__ === 'cjs'
      ? require
      : createRequire(import.meta.url)
  )('mime-types') as typeof import('mime-types');
  return mime.lookup(name) || 'application/octet-stream';
}

function checksumAlgorithm(ctx: TransferContext): ChecksumAlgorithm | undefined {
  return ctx.driver.capabilities.checksums[0];
}

/**
 * Uploads one local file to `key`, in the repository's pool unless the caller already holds a slot
 * (`limited: false`). `localDisk`: the file lies on a local disk (`onLocalDisk`), where a small
 * file is read synchronously (`FileBody`'s `syncReads`).
 */
export async function upload(
  ctx: TransferContext,
  localPath: string,
  key: string,
  size: number,
  progress: Progress,
  options: TransferOptions,
  { limited = true, localDisk = false }: { limited?: boolean; localDisk?: boolean } = {},
): Promise<void> {
  const run = async () => {
    const { writeFromFile } = ctx.driver;
    if (writeFromFile && !checksumAlgorithm(ctx)) {
      // The driver's whole-file fast path (a kernel copy on local disks): no bytes pass through JS.
      await transfer(ctx, `uploading ${describePath(key)}`, key, progress, options, async (call) => {
        await writeFromFile.call(ctx.driver, key, localPath, {
          ...call,
          size,
          // Guessed only if the driver asks: a local disk stores no content type, and guessing
          // loads mime-types' table (about 15 ms of CPU) into a process that uploads only there.
          get contentType() {
            return guessContentType(key);
          },
        });
        call.signal?.throwIfAborted();
        progress.bytes(size, key);
      });
      return;
    }
    // A stream of 1 MiB chunks for drivers that read one; the chunked-upload engine reads the file
    // straight into its part buffers instead (no chunks for the GC, no copy).
    const body = new FileBody(localPath, size, { buffers: UPLOAD_CHUNKS, syncReads: localDisk });
    await put(ctx, body, key, size, progress, options);
  };
  await (limited ? ctx.limiter.run(run) : run());
}

/**
 * One file's transfer in its own scope, linked to the caller's signal: `run` gets the options of its
 * driver calls (the scope's signal, none when the caller gave none; the caller's timeout); the file counts as done in `progress` once
 * `run` returns, and a failure is mapped once (`aborted` when the caller aborted, secrets scrubbed).
 */
async function transfer(
  ctx: TransferContext,
  what: string,
  key: string,
  progress: Progress,
  options: TransferOptions,
  run: (call: { signal?: AbortSignal; timeoutMs?: number }) => Promise<void>,
): Promise<void> {
  const scope = openScope(options);
  try {
    await run(scope.signal ? { signal: scope.signal, ...timeoutOf(options) } : timeoutOf(options));
    progress.file(key);
  } catch (error) {
    throw scopedError(error, what, ctx.secrets, scope);
  } finally {
    scope.done();
  }
}

/**
 * Streams `source` to `key`, counted and hashed on the way (progress, checksum: a `Meter` stream, or
 * a local file's own `observe`), and checks what the store reports.
 */
export async function put(
  ctx: TransferContext,
  source: Readable,
  key: string,
  size: number | undefined,
  progress: Progress,
  options: WriteOptions,
): Promise<void> {
  const what = `uploading ${describePath(key)}`;
  ctx.assertOpen();
  await transfer(ctx, what, key, progress, options, async (call) => {
    const algorithm = checksumAlgorithm(ctx);
    // A driver that hashes its parts for the store anyway reports the whole body's checksum itself
    // (`sent`), so the bytes are hashed once.
    const driverHashes = algorithm !== undefined && ctx.driver.capabilities.hashesWrites === true;
    const counted = driverHashes ? undefined : algorithm;
    const file: TalliedBody | undefined = source instanceof FileBody ? source : undefined;
    let body: Readable;
    let tally: Tally;
    let meter: Meter | undefined;
    if (file) {
      // A local file counts and hashes its bytes itself, whether streamed or read into part buffers.
      tally = new Tally(counted, progress, key);
      file[TALLY] = tally;
      file.observe = observeTally;
      // Its failure reaches the driver through its own read (a rejected `readInto`, a stream error);
      // one nobody listens to any more (a driver that already failed) must not crash the process.
      file.on('error', ignore);
      body = file;
    } else {
      const m = new Meter(counted, progress, key);
      meter = m;
      tally = m.tally;
      body = m;
      // Errors of the source (a vanished local file, a failed network body) must reach the driver's
      // consumer as a stream error, so that it discards what it wrote.
      source.once('error', (error) => m.destroy(error));
      // `pipe` re-emits a destination's error when no other listener is left; the driver's consumer
      // may already have detached by then, which would make the error uncaught and crash the process
      // (a server upload cut by its client). The driver still sees the error through its own listener.
      m.on('error', ignore);
      source.pipe(m);
    }
    const signal = call.signal;
    const destroySource = () => source.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', destroySource, { once: true });
    try {
      const result = await ctx.driver.write(key, body, {
        ...call,
        ...(options.contentType !== undefined || ctx.driver.capabilities.contentTypes !== false
          ? { contentType: options.contentType ?? guessContentType(key) }
          : {}),
        ...(size === undefined ? {} : { size }),
      });
      // Every byte handed to the driver (a file: read out, as stream chunks or into its buffers).
      if (!(meter ? meter.writableFinished : file?.ended) && !signal?.aborted) {
        throw new ArtifactsError('internal', `${what}: the backend returned before consuming the whole body`);
      }
      let sent = tally.algorithm ? { algorithm: tally.algorithm, value: tally.digest() } : undefined;
      if (driverHashes && !signal?.aborted) {
        if (result?.sent?.checksum.algorithm !== algorithm || result.sent.bytes !== tally.bytes) {
          await ctx.driver.delete(key, {}).catch(() => undefined);
          throw new ArtifactsError(
            'internal',
            `${what}: the backend reported ${result?.sent ? `${result.sent.bytes} bytes sent` : 'no checksum of the bytes it sent'} for a body of ${tally.bytes} bytes; the object was removed`,
          );
        }
        sent = result.sent.checksum;
      }
      const reported = result?.checksum;
      if (reported && sent && reported.algorithm === sent.algorithm && reported.value !== sent.value) {
        await ctx.driver.delete(key, {}).catch(() => undefined);
        throw new ArtifactsError(
          'integrity',
          `${what}: the store's ${reported.algorithm} checksum (${reported.value}) does not match the bytes sent (${sent.value}); the object was removed`,
        );
      }
    } catch (error) {
      source.destroy();
      throw error;
    } finally {
      signal?.removeEventListener('abort', destroySource);
    }
  });
}

/**
 * Downloads `key` to the local file `target` through a temporary file beside it. `size`, when the
 * listing or a stat gave it, spares the stat of the finished file once the driver reported that many.
 */
export async function download(
  ctx: TransferContext,
  key: string,
  target: string,
  progress: Progress,
  options: TransferOptions,
  size?: number,
): Promise<void> {
  const what = `downloading ${describePath(key)}`;
  await transfer(ctx, what, key, progress, options, (call) =>
    intoTempFile(target, async (temp, opened) => {
      if (ctx.driver.readToFile) {
        // Object stores write parallel ranges at their offsets into the temporary file (the
        // ranged-read engine); bytes are reported as they land.
        let reported = 0;
        await ctx.driver.readToFile(key, temp, {
          ...call,
          onBytes: (n) => {
            reported += n;
            progress.bytes(n, key);
          },
        });
        call.signal?.throwIfAborted();
        // Progress only: a driver that reported fewer bytes than the file holds is counted whole.
        if (size !== undefined && reported === size) return;
        const written = Number((await stat(temp)).size);
        if (written > reported) progress.bytes(written - reported, key);
        return;
      }
      const result = await ctx.driver.read(key, call);
      const algorithm = result.checksum?.algorithm;
      const meter = new Meter(algorithm, progress, key, result.checksum, `artifact ${JSON.stringify(key)}`);
      const sink = createWriteStream(temp, { highWaterMark: 1024 * 1024 });
      opened(sink);
      // Its failure is the one `pipeStages` reports (its own, or one it was destroyed with).
      sink.on('error', ignore);
      // Settled once the file is closed: renamed complete, or removed after any failure (either
      // side's, a store's stream that closed early, the caller's abort).
      await new Promise<void>((resolve, reject) =>
        pipeStages(result.stream, meter, sink, {
          ...(call.signal ? { signal: call.signal } : {}),
          onClose: (error) => (error ? reject(error) : resolve()),
        }),
      );
      if (result.size !== undefined && meter.bytes !== result.size) {
        throw new ArtifactsError(
          'integrity',
          `${what}: expected ${result.size} bytes, received ${meter.bytes}`,
        );
      }
    }),
  );
}

/** Opens a stream of `key`'s bytes (optionally a range, `end` inclusive), cut and checked by core. */
export async function openReadStream(
  ctx: TransferContext,
  key: string,
  options: ReadOptions,
): Promise<Readable> {
  const range = options.range ? checkRange(options.range) : undefined;
  const native = ctx.driver.capabilities.rangeRead;
  // The stream outlives this call: the caller's signal governs its whole life (the call's own
  // scope ends when it returns); the timeout layer watches it for stalls.
  const life = openScope(options);
  let result: DriverReadResult;
  try {
    ctx.assertOpen();
    result = await runScoped(`reading ${describePath(key)}`, options, ctx.secrets, (o) =>
      ctx.driver.read(key, {
        ...o,
        ...(life.signal ? { signal: life.signal } : {}),
        ...(range && native ? { range } : {}),
      }),
    );
  } catch (error) {
    life.done();
    throw error;
  }
  // What the store served (a store that ignored the range: the whole object); the asked range is
  // cut out of it by the engine's slicer.
  const served = result.served ?? (range && native ? undefined : { start: 0, end: Number.MAX_SAFE_INTEGER });
  const cut =
    range !== undefined &&
    served !== undefined &&
    (served.start < range.start || served.end > (range.end ?? served.end));
  const total = result.totalSize ?? (range && !native ? result.size : undefined);
  const cutSize =
    range && total !== undefined
      ? Math.max(0, Math.min(range.end ?? total - 1, total - 1) - range.start + 1)
      : undefined;
  const size = cut ? cutSize : result.size;
  options.onOpen?.({
    ...(size === undefined ? {} : { size }),
    ...(result.totalSize === undefined ? {} : { totalSize: result.totalSize }),
    ...(result.contentType ? { contentType: result.contentType } : {}),
    ...(result.etag === undefined ? {} : { etag: result.etag }),
    ...(result.lastModified === undefined ? {} : { lastModified: result.lastModified }),
  });
  const algorithm = result.checksum && !range ? result.checksum.algorithm : undefined;
  // The total-length check: the bytes the stream will deliver, when the store said, are all of them.
  const meter = new Meter(
    algorithm,
    undefined,
    undefined,
    result.checksum,
    `artifact ${JSON.stringify(key)}`,
    size,
  );
  const out = new PassThrough();
  const source = cut && range && served ? sliceServed(result.stream, served, range) : result.stream;
  // `pipeStages`: what `stream.pipeline` did, without its per-stream `DOMException`; `out` closed by
  // its consumer before it finished stops the source.
  pipeStages(source, meter, out, {
    mapError: (error) => toArtifactsError(error, `reading ${describePath(key)}`, { secrets: ctx.secrets }),
    onClose: () => life.done(),
  });
  return out;
}

function checkRange(range: ByteRange): ByteRange {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0)
    throw ArtifactsError.invalidArgument(`range start must be a non-negative integer, got ${start}`);
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw ArtifactsError.invalidArgument(`range end must be an integer >= start (${start}), got ${end}`);
  }
  return end === undefined ? { start } : { start, end };
}
