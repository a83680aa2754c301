import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, mkdtemp, opendir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mime from 'mime-types';
import { deleteTree } from './delete.js';
import type {
  ByteRange,
  ChecksumAlgorithm,
  CompletedPart,
  DriverCapabilities,
  DriverEntry,
  DriverReadResult,
  MultipartUpload,
  OperationOptions,
  StorageDriver,
} from './driver.js';
import { sliceServed } from './engines/ranged-read.js';
import { ArtifactsError, type FailedFile, toArtifactsError } from './errors.js';
import { Limiter } from './internal/pool.js';
import { Meter, toReadable, type WriteBody } from './internal/streams.js';
import { baseName, joinKey, validateArtifactPath } from './path-safety.js';
import { isTempFileName, trackTempFile } from './temp-files.js';
import { tempNameFor } from './temp-name.js';

/** MLflow's FileInfo: `path` is POSIX and relative to the repository root; directories have no size. */
export interface FileInfo {
  path: string;
  isDir: boolean;
  fileSize?: number;
}

/** A progress report. Totals are known once the files to transfer have been listed. */
export interface ProgressEvent {
  bytesDone: number;
  bytesTotal?: number;
  filesDone: number;
  filesTotal?: number;
  /** The artifact path whose bytes moved last. */
  path?: string;
}

export interface TransferOptions extends OperationOptions {
  onProgress?: (event: ProgressEvent) => void;
}

export interface ReadOptions extends OperationOptions {
  range?: ByteRange;
  /**
   * Called once the store has answered, before any byte flows, with what it said about them (a
   * server sets Content-Length from it without a separate stat call).
   */
  onOpen?: (info: OpenInfo) => void;
}

/** What a store said about a read it opened. */
export interface OpenInfo {
  /** Bytes the stream will deliver, when known (a whole-object read: the object's size). */
  size?: number;
  /** Size of the whole object, when known. */
  totalSize?: number;
  contentType?: string;
}

export interface WriteOptions extends TransferOptions {
  /** Default: guessed from the file name. */
  contentType?: string;
  /** Total bytes, when the body is a stream of known length. */
  size?: number;
}

export interface StatInfo extends FileInfo {
  lastModified?: Date;
  etag?: string;
  contentType?: string;
}

interface RepositoryInit {
  uri: string;
  driver: StorageDriver;
  maxConcurrency: number;
  secrets: readonly string[];
}

/** Guesses a Content-Type from a file name ('application/octet-stream' when unknown). */
export function guessContentType(name: string): string {
  return mime.lookup(name) || 'application/octet-stream';
}

interface Scope {
  signal: AbortSignal;
  done: () => void;
}

/** What core's other modules (the copy) use of a repository: its layered driver and secrets. */
export interface RepositoryInternals {
  driver: StorageDriver;
  secrets: readonly string[];
}

let internals: (repo: ArtifactRepository) => RepositoryInternals;

/** Core only (never exported to users): the repository's layered driver; fails once it is closed. */
export function repositoryInternals(repo: ArtifactRepository): RepositoryInternals {
  return internals(repo);
}

/**
 * Every call linked to one caller's signal shares a single 'abort' listener on it. A directory
 * transfer runs up to `maxConcurrency` calls on the same signal at once, and one listener per call
 * makes Node 20 and 22 print a MaxListenersExceededWarning past ten. Each call's callback leaves
 * the set when the call ends, and the listener leaves the signal with the last callback.
 */
const abortFanouts = new WeakMap<AbortSignal, { callbacks: Set<() => void>; fire: () => void }>();

/** Runs `callback` when `signal` aborts; the returned function unlinks it (idempotent). */
function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let fanout = abortFanouts.get(signal);
  if (fanout === undefined) {
    const callbacks = new Set<() => void>();
    const fire = () => {
      abortFanouts.delete(signal);
      for (const each of [...callbacks]) each();
      callbacks.clear();
    };
    fanout = { callbacks, fire };
    abortFanouts.set(signal, fanout);
    signal.addEventListener('abort', fire, { once: true });
  }
  const own = fanout;
  const entry = () => callback();
  own.callbacks.add(entry);
  return () => {
    if (!own.callbacks.delete(entry) || own.callbacks.size > 0) return;
    if (abortFanouts.get(signal) === own) abortFanouts.delete(signal);
    signal.removeEventListener('abort', own.fire);
  };
}

/** Tracks bytes and files for one user call and reports them through `onProgress`. */
export class Progress {
  bytesDone = 0;
  filesDone = 0;

  constructor(
    private readonly onProgress: ((event: ProgressEvent) => void) | undefined,
    readonly bytesTotal?: number,
    readonly filesTotal?: number,
  ) {}

  bytes(delta: number, path: string): void {
    this.bytesDone += delta;
    this.emit(path);
  }

  file(path: string): void {
    this.filesDone++;
    this.emit(path);
  }

  private emit(path: string): void {
    this.onProgress?.({
      bytesDone: this.bytesDone,
      filesDone: this.filesDone,
      ...(this.bytesTotal === undefined ? {} : { bytesTotal: this.bytesTotal }),
      ...(this.filesTotal === undefined ? {} : { filesTotal: this.filesTotal }),
      path,
    });
  }
}

/**
 * Everything users call, written once for every backend: validates paths, walks directories, runs
 * transfers through one bounded pool, reports progress, applies timeouts and AbortSignals, verifies
 * checksums, maps errors to ArtifactsError codes and keeps secrets out of messages.
 */
export class ArtifactRepository {
  /** The root URI with any password redacted. */
  readonly uri: string;
  readonly #driver: StorageDriver;
  readonly #limiter: Limiter;
  readonly #secrets: readonly string[];
  #closed = false;

  static {
    internals = (repo) => {
      repo.#open();
      return { driver: repo.#driver, secrets: repo.#secrets };
    };
  }

  constructor(init: RepositoryInit) {
    this.uri = init.uri;
    this.#driver = init.driver;
    this.#limiter = new Limiter(init.maxConcurrency);
    this.#secrets = [...init.secrets, ...(init.driver.secrets ?? [])];
  }

  /** What the backend can do (multipart, presign, ranged reads, directories, checksums). */
  get capabilities(): DriverCapabilities {
    return this.#driver.capabilities;
  }

  /** Stores a local file at `<artifactPath>/<basename>`. */
  async logArtifact(localFile: string, artifactPath?: string, options: TransferOptions = {}): Promise<void> {
    const dir = this.#key(artifactPath);
    const local = await this.#localStat(localFile, 'file');
    const key = joinKey(dir, this.#key(baseName(local.path), { label: 'file name', allowRoot: false }));
    const progress = new Progress(options.onProgress, local.size, 1);
    await this.#upload(local.path, key, local.size, progress, options);
  }

  /** Stores the contents of a local directory, recursively, under `artifactPath`. */
  async logArtifacts(localDir: string, artifactPath?: string, options: TransferOptions = {}): Promise<void> {
    const dir = this.#key(artifactPath);
    const root = await this.#localStat(localDir, 'directory');
    this.#open();
    const files: Array<{ path: string; key: string; size: number }> = [];
    const emptyDirs: string[] = [];
    const failures: FailedFile[] = [];
    await walkLocal(root.path, async (absolute, isDir, size, empty) => {
      const rel = relative(root.path, absolute).split(sep).join('/');
      let key: string;
      try {
        key = joinKey(dir, validateArtifactPath(rel, { label: 'local file name' }));
      } catch (error) {
        failures.push({
          path: absolute,
          error: toArtifactsError(error, `local file ${JSON.stringify(absolute)}`),
        });
        return;
      }
      if (isDir) {
        if (empty && key !== '') emptyDirs.push(key);
      } else {
        files.push({ path: absolute, key, size });
      }
    });
    const progress = new Progress(
      options.onProgress,
      files.reduce((sum, file) => sum + file.size, 0),
      files.length,
    );
    if (this.#driver.capabilities.directories && this.#driver.mkdir) {
      for (const key of emptyDirs) {
        await this.#call(`creating directory ${JSON.stringify(key)}`, options, (o) =>
          this.#driver.mkdir!(key, o),
        );
      }
    }
    const results = await Promise.allSettled(
      files.map((file) =>
        this.#limiter.run(() => this.#upload(file.path, file.key, file.size, progress, options, false)),
      ),
    );
    results.forEach((result, i) => {
      if (result.status === 'rejected')
        failures.push({ path: files[i]!.path, error: result.reason as ArtifactsError });
    });
    throwGathered(failures, 'upload', files.length, options.signal);
  }

  /** Direct children of `path`, sorted by path; `[]` for a missing path or a file. */
  async listArtifacts(path?: string, options: OperationOptions = {}): Promise<FileInfo[]> {
    const prefix = this.#key(path);
    const entries = await this.#call(`listing ${describePath(prefix)}`, options, async (o) => {
      const out: FileInfo[] = [];
      for await (const entry of this.#driver.list(prefix, { ...o, recursive: false })) {
        if (!isTempFileName(baseName(entry.key))) out.push(this.#fileInfo(entry, prefix));
      }
      return out;
    });
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /** Every file (and, where directories exist on their own, every directory) under `path`. */
  async listArtifactsRecursive(path?: string, options: OperationOptions = {}): Promise<FileInfo[]> {
    const prefix = this.#key(path);
    const entries = await this.#call(`listing ${describePath(prefix)}`, options, async (o) => {
      const out: FileInfo[] = [];
      for await (const entry of this.#driver.list(prefix, { ...o, recursive: true }))
        if (!isTempFileName(baseName(entry.key))) out.push(this.#fileInfo(entry, prefix));
      return out;
    });
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * Downloads a file or a directory to `<dstPath>/<artifactPath>` and returns that local path.
   * `dstPath` must be an existing directory; without one, a new temporary directory is used.
   */
  async downloadArtifacts(
    artifactPath?: string,
    dstPath?: string,
    options: TransferOptions = {},
  ): Promise<string> {
    const key = this.#key(artifactPath);
    this.#open();
    let dst: string;
    if (dstPath === undefined) {
      dst = await mkdtemp(join(tmpdir(), 'artifacts-'));
    } else {
      const info = await stat(dstPath).catch((error: unknown) => {
        throw toArtifactsError(error, `download destination ${JSON.stringify(dstPath)}`);
      });
      if (!info.isDirectory()) {
        throw new ArtifactsError(
          'failed_precondition',
          `download destination ${JSON.stringify(dstPath)} is not a directory`,
        );
      }
      dst = resolve(dstPath);
    }
    const target = key === '' ? dst : join(dst, ...key.split('/'));
    const info =
      key === ''
        ? undefined
        : await this.#call(`reading ${describePath(key)}`, options, (o) => this.#driver.stat(key, o));
    if (key !== '' && info === undefined)
      throw ArtifactsError.notFound(`artifact ${JSON.stringify(key)} in ${this.uri}`, {
        context: { path: key },
      });
    if (info && !info.isDir) {
      const progress = new Progress(options.onProgress, info.size, 1);
      await mkdir(dirname(target), { recursive: true });
      await this.#download(key, target, progress, options);
      return target;
    }
    const entries = await this.listArtifactsRecursive(key, options);
    const files = entries.filter((entry) => !entry.isDir);
    await mkdir(target, { recursive: true });
    for (const entry of entries) {
      if (entry.isDir) await mkdir(join(dst, ...entry.path.split('/')), { recursive: true });
    }
    const progress = new Progress(
      options.onProgress,
      files.reduce((sum, file) => sum + (file.fileSize ?? 0), 0),
      files.length,
    );
    const results = await Promise.allSettled(
      files.map((file) =>
        this.#limiter.run(async () => {
          const local = join(dst, ...file.path.split('/'));
          await mkdir(dirname(local), { recursive: true });
          await this.#download(file.path, local, progress, options);
        }),
      ),
    );
    const failures: FailedFile[] = [];
    results.forEach((result, i) => {
      if (result.status === 'rejected')
        failures.push({ path: files[i]!.path, error: result.reason as ArtifactsError });
    });
    throwGathered(failures, 'download', files.length, options.signal);
    return target;
  }

  /** Removes `path` and everything under `path/` (never `pathfoo`); the whole root when omitted. Idempotent. */
  async deleteArtifacts(artifactPath?: string, options: OperationOptions = {}): Promise<void> {
    const key = this.#key(artifactPath);
    await this.#call(`deleting ${describePath(key)}`, options, (o) => deleteTree(this.#driver, key, o));
  }

  /** Opens a stream of an artifact's bytes, optionally a byte range (`end` inclusive). */
  async openRead(path: string, options: ReadOptions = {}): Promise<Readable> {
    const key = this.#key(path, { allowRoot: false });
    const range = options.range ? checkRange(options.range) : undefined;
    const native = this.#driver.capabilities.rangeRead;
    // The stream outlives this call: the caller's signal governs its whole life (the call's own
    // scope ends when it returns); the timeout layer watches it for stalls.
    const life = this.#scope(options);
    let result: DriverReadResult;
    try {
      result = await this.#call(`reading ${describePath(key)}`, options, (o) =>
        this.#driver.read(key, {
          ...o,
          signal: life.signal,
          ...(range && native ? { range } : {}),
        }),
      );
    } catch (error) {
      life.done();
      throw error;
    }
    // What the store served (a store that ignored the range: the whole object); the asked range is
    // cut out of it by the engine's slicer.
    const served =
      result.served ?? (range && native ? undefined : { start: 0, end: Number.MAX_SAFE_INTEGER });
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
    });
    const algorithm = result.checksum && !range ? result.checksum.algorithm : undefined;
    const meter = new Meter(algorithm, undefined, result.checksum, `artifact ${JSON.stringify(key)}`);
    const out = new PassThrough();
    const stages: Array<NodeJS.ReadableStream | NodeJS.WritableStream> = [
      cut && range && served ? sliceServed(result.stream, served, range) : result.stream,
    ];
    stages.push(meter, out);
    out.once('close', life.done);
    pipeline(stages as unknown as [Readable, PassThrough]).catch((error: unknown) => {
      if (error && (error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE' && out.writableFinished)
        return;
      out.destroy(toArtifactsError(error, `reading ${describePath(key)}`, { secrets: this.#secrets }));
    });
    return out;
  }

  /** Writes a body (stream, bytes or string) to `path`; nothing is visible there unless it all arrived. */
  async write(path: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const key = this.#key(path, { allowRoot: false });
    const { stream, size } = toReadable(body);
    const total = options.size ?? size;
    const progress = new Progress(options.onProgress, total, 1);
    await this.#limiter.run(() => this.#put(stream, key, total, progress, options));
  }

  /** Metadata of a file or directory; `not_found` when nothing is there. */
  async stat(path: string, options: OperationOptions = {}): Promise<StatInfo> {
    const key = this.#key(path);
    if (key === '') return { path: '', isDir: true };
    const info = await this.#call(`reading ${describePath(key)}`, options, (o) => this.#driver.stat(key, o));
    if (!info)
      throw ArtifactsError.notFound(`artifact ${JSON.stringify(key)} in ${this.uri}`, {
        context: { path: key },
      });
    return {
      path: key,
      isDir: info.isDir,
      ...(info.isDir || info.size === undefined ? {} : { fileSize: info.size }),
      ...(info.lastModified ? { lastModified: info.lastModified } : {}),
      ...(info.etag ? { etag: info.etag } : {}),
      ...(info.contentType ? { contentType: info.contentType } : {}),
    };
  }

  /** Whether a file or directory exists at `path`. */
  async exists(path: string, options: OperationOptions = {}): Promise<boolean> {
    try {
      await this.stat(path, options);
      return true;
    } catch (error) {
      if (ArtifactsError.is(error, 'not_found')) return false;
      throw error;
    }
  }

  /** Starts an upload whose parts go straight to storage through presigned URLs. */
  async createMultipartUpload(
    path: string,
    numParts: number,
    options: OperationOptions & { expiresInSeconds?: number } = {},
  ): Promise<MultipartUpload> {
    const key = this.#key(path, { allowRoot: false });
    if (!Number.isInteger(numParts) || numParts < 1 || numParts > 10000) {
      throw ArtifactsError.invalidArgument(
        `num_parts must be an integer between 1 and 10000, got ${numParts}`,
      );
    }
    const multipart = this.#multipart();
    return this.#call(`starting a multipart upload of ${describePath(key)}`, options, (o) =>
      multipart.create(key, {
        ...o,
        numParts,
        ...(options.expiresInSeconds ? { expiresInSeconds: options.expiresInSeconds } : {}),
      }),
    );
  }

  async completeMultipartUpload(
    path: string,
    uploadId: string | null,
    parts: CompletedPart[],
    options: OperationOptions = {},
  ): Promise<void> {
    const key = this.#key(path, { allowRoot: false });
    if (!Array.isArray(parts) || parts.length === 0)
      throw ArtifactsError.invalidArgument('parts must be a non-empty list');
    for (const part of parts) {
      // The etag may be '': Azure's Put Block answers without one, and MLflow's client then sends ''.
      if (!Number.isInteger(part?.partNumber) || part.partNumber < 1 || typeof part.etag !== 'string') {
        throw ArtifactsError.invalidArgument(
          'each part needs a positive integer part_number and an etag (a string)',
        );
      }
    }
    const multipart = this.#multipart();
    await this.#call(`completing the multipart upload of ${describePath(key)}`, options, (o) =>
      multipart.complete(key, uploadId, parts, o),
    );
  }

  async abortMultipartUpload(
    path: string,
    uploadId: string | null,
    options: OperationOptions = {},
  ): Promise<void> {
    const key = this.#key(path, { allowRoot: false });
    const multipart = this.#multipart();
    await this.#call(`aborting the multipart upload of ${describePath(key)}`, options, (o) =>
      multipart.abort(key, uploadId, o),
    );
  }

  /** A presigned URL to GET or PUT one artifact directly in storage. */
  async presignedUrl(
    path: string,
    method: 'GET' | 'PUT',
    options: OperationOptions & { expiresInSeconds?: number } = {},
  ): Promise<string> {
    const key = this.#key(path, { allowRoot: false });
    const presign = this.#driver.presign;
    if (!this.#driver.capabilities.presign || !presign)
      throw ArtifactsError.unsupported(`${this.uri} cannot presign URLs`);
    return this.#call(`presigning ${describePath(key)}`, options, (o) =>
      method === 'GET'
        ? presign.getUrl(key, { ...o, ...pickExpiry(options) })
        : presign.putUrl(key, { ...o, ...pickExpiry(options) }),
    );
  }

  /** Releases the backend's connections. Later calls fail with `failed_precondition`. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#driver.close();
  }

  // --- internals -------------------------------------------------------------------------------

  #open(): void {
    if (this.#closed) throw new ArtifactsError('failed_precondition', `repository ${this.uri} is closed`);
  }

  #key(path: string | undefined, options: { allowRoot?: boolean; label?: string } = {}): string {
    this.#open();
    return validateArtifactPath(path, options);
  }

  #multipart() {
    const multipart = this.#driver.multipart;
    if (!this.#driver.capabilities.multipartUpload || !multipart) {
      throw ArtifactsError.unsupported(
        'Multipart upload is not supported for the current artifact repository',
      );
    }
    return multipart;
  }

  /** Validates a name the driver (or a server behind it) returned: hostile listings are refused too. */
  #fileInfo(entry: DriverEntry, prefix: string): FileInfo {
    const key = validateArtifactPath(entry.key, {
      label: 'name returned by the storage listing',
      allowRoot: false,
    });
    if (prefix !== '' && !key.startsWith(`${prefix}/`)) {
      throw new ArtifactsError(
        'integrity',
        `the storage listing of ${JSON.stringify(prefix)} returned ${JSON.stringify(key)}, which is outside it`,
      );
    }
    return entry.isDir
      ? { path: key, isDir: true }
      : { path: key, isDir: false, ...(entry.size === undefined ? {} : { fileSize: entry.size }) };
  }

  /** Runs one driver call with the timeout and signal applied and errors mapped. */
  async #call<T>(
    what: string,
    options: OperationOptions,
    fn: (options: OperationOptions) => Promise<T>,
  ): Promise<T> {
    this.#open();
    const scope = this.#scope(options);
    try {
      return await fn({
        signal: scope.signal,
        ...timeoutOf(options),
      });
    } catch (error) {
      throw this.#error(error, what, scope);
    } finally {
      scope.done();
    }
  }

  /** Links the call to the caller's signal; timeouts are the timeout layer's (see `withTimeout`). */
  #scope(options: OperationOptions): Scope {
    // An already aborted signal is an `aborted` ArtifactsError like any later abort, not a raw DOMException.
    if (options.signal?.aborted)
      throw new ArtifactsError('aborted', 'the operation was aborted before it started', {
        cause: options.signal.reason,
      });
    const controller = new AbortController();
    const caller = options.signal;
    const unlink = caller ? onAbort(caller, () => controller.abort(caller.reason)) : undefined;
    return { signal: controller.signal, done: () => unlink?.() };
  }

  #error(error: unknown, what: string, scope?: Scope): ArtifactsError {
    if (scope?.signal.aborted && !ArtifactsError.is(error, 'timeout')) {
      const mapped = toArtifactsError(error, what, { secrets: this.#secrets, code: 'aborted' });
      return mapped.code === 'aborted'
        ? mapped
        : new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
    }
    return toArtifactsError(error, what, { secrets: this.#secrets });
  }

  #checksumAlgorithm(): ChecksumAlgorithm | undefined {
    return this.#driver.capabilities.checksums[0];
  }

  async #upload(
    localPath: string,
    key: string,
    size: number,
    progress: Progress,
    options: TransferOptions,
    limited = true,
  ): Promise<void> {
    const run = async () => {
      if (this.#driver.writeFromFile && !this.#checksumAlgorithm()) {
        await this.#putFile(localPath, key, size, progress, options);
        return;
      }
      // Without `end`, every read allocates a whole highWaterMark buffer (1 MiB per read of a 4 KiB
      // file): with many small files that is most of the CPU time and RSS.
      const source = createReadStream(localPath, {
        highWaterMark: 1024 * 1024,
        ...(size > 0 ? { end: size - 1 } : {}),
      });
      await this.#put(source, key, size, progress, options);
    };
    await (limited ? this.#limiter.run(run) : run());
  }

  async #put(
    source: Readable,
    key: string,
    size: number | undefined,
    progress: Progress,
    options: WriteOptions,
  ): Promise<void> {
    const what = `uploading ${describePath(key)}`;
    this.#open();
    const scope = this.#scope(options);
    const meter = new Meter(this.#checksumAlgorithm(), (n) => progress.bytes(n, key));
    // Errors of the source (a vanished local file, a failed network body) must reach the driver's
    // consumer as a stream error, so that it discards what it wrote.
    source.once('error', (error) => meter.destroy(error));
    // `pipe` re-emits a destination's error when no other listener is left; the driver's consumer
    // may already have detached by then, which would make the error uncaught and crash the process
    // (a server upload cut by its client). The driver still sees the error through its own listener.
    meter.on('error', () => undefined);
    const destroySource = () => source.destroy(scope.signal.reason as Error);
    scope.signal.addEventListener('abort', destroySource, { once: true });
    source.pipe(meter);
    try {
      const result = await this.#driver.write(key, meter, {
        signal: scope.signal,
        contentType: options.contentType ?? guessContentType(key),
        ...(size === undefined ? {} : { size }),
        ...timeoutOf(options),
      });
      if (!meter.writableFinished && !scope.signal.aborted) {
        throw new ArtifactsError('internal', `${what}: the backend returned before consuming the whole body`);
      }
      const reported = result?.checksum;
      if (reported && reported.algorithm === meter.algorithm && reported.value !== meter.digest()) {
        await this.#driver.delete(key, {}).catch(() => undefined);
        throw new ArtifactsError(
          'integrity',
          `${what}: the store's ${reported.algorithm} checksum (${reported.value}) does not match the bytes sent (${meter.digest()}); the object was removed`,
        );
      }
      progress.file(key);
    } catch (error) {
      source.destroy();
      throw this.#error(error, what, scope);
    } finally {
      scope.signal.removeEventListener('abort', destroySource);
      scope.done();
    }
  }

  /** The driver's whole-file fast path (a kernel copy on local disks): no bytes pass through JS. */
  async #putFile(localPath: string, key: string, size: number, progress: Progress, options: TransferOptions) {
    const what = `uploading ${describePath(key)}`;
    const scope = this.#scope(options);
    try {
      await this.#driver.writeFromFile!(key, localPath, {
        signal: scope.signal,
        contentType: guessContentType(key),
        size,
        ...timeoutOf(options),
      });
      scope.signal.throwIfAborted();
      progress.bytes(size, key);
      progress.file(key);
    } catch (error) {
      throw this.#error(error, what, scope);
    } finally {
      scope.done();
    }
  }

  async #download(key: string, target: string, progress: Progress, options: TransferOptions): Promise<void> {
    const what = `downloading ${describePath(key)}`;
    const scope = this.#scope(options);
    const temp = join(dirname(target), tempNameFor(baseName(target)));
    const untrack = trackTempFile(temp);
    let sink: WriteStream | undefined;
    try {
      if (this.#driver.readToFile) {
        // Object stores write parallel ranges at their offsets into the temporary file (the
        // ranged-read engine); bytes are reported as they land.
        let reported = 0;
        await this.#driver.readToFile(key, temp, {
          signal: scope.signal,
          ...timeoutOf(options),
          onBytes: (n) => {
            reported += n;
            progress.bytes(n, key);
          },
        });
        scope.signal.throwIfAborted();
        const { size } = await stat(temp);
        await rename(temp, target);
        if (Number(size) > reported) progress.bytes(Number(size) - reported, key);
        progress.file(key);
        return;
      }
      const result = await this.#driver.read(key, {
        signal: scope.signal,
        ...timeoutOf(options),
      });
      const algorithm = result.checksum?.algorithm;
      const meter = new Meter(
        algorithm,
        (n) => progress.bytes(n, key),
        result.checksum,
        `artifact ${JSON.stringify(key)}`,
      );
      sink = createWriteStream(temp, { highWaterMark: 1024 * 1024 });
      await pipeline(result.stream, meter, sink, { signal: scope.signal });
      if (result.size !== undefined && meter.bytes !== result.size) {
        throw new ArtifactsError(
          'integrity',
          `${what}: expected ${result.size} bytes, received ${meter.bytes}`,
        );
      }
      await rename(temp, target);
      progress.file(key);
    } catch (error) {
      // A file stream still opening when the pipeline failed creates the file after a quick `rm`:
      // wait for it to close first (seen on Node 20: an integrity failure left the temporary file).
      const opened = sink;
      if (opened && !opened.closed)
        await new Promise<void>((resolve) => opened.once('close', () => resolve()));
      await rm(temp, { force: true }).catch(() => undefined);
      throw this.#error(error, what, scope);
    } finally {
      untrack();
      scope.done();
    }
  }

  async #localStat(path: string, expect: 'file' | 'directory'): Promise<{ path: string; size: number }> {
    this.#open();
    if (typeof path !== 'string' || path === '')
      throw ArtifactsError.invalidArgument(`local ${expect} path must be a non-empty string`);
    if (path.includes('\0')) throw ArtifactsError.invalidArgument(`local ${expect} path contains a NUL byte`);
    const absolute = resolve(path);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(absolute);
    } catch (error) {
      throw toArtifactsError(error, `local ${expect} ${JSON.stringify(path)}`);
    }
    if (expect === 'file' && info.isDirectory()) {
      throw new ArtifactsError(
        'failed_precondition',
        `local path ${JSON.stringify(path)} is a directory; use logArtifacts to upload a directory`,
      );
    }
    if (expect === 'directory' && !info.isDirectory()) {
      throw new ArtifactsError(
        'failed_precondition',
        `local path ${JSON.stringify(path)} is not a directory; use logArtifact to upload a file`,
      );
    }
    if (expect === 'file' && !info.isFile())
      throw new ArtifactsError(
        'failed_precondition',
        `local path ${JSON.stringify(path)} is not a regular file`,
      );
    return { path: absolute, size: Number(info.size) };
  }
}

function timeoutOf(options: OperationOptions): { timeoutMs?: number } {
  return options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
}

function pickExpiry(options: { expiresInSeconds?: number }): { expiresInSeconds?: number } {
  return options.expiresInSeconds ? { expiresInSeconds: options.expiresInSeconds } : {};
}

function describePath(key: string): string {
  return key === '' ? 'the repository root' : `artifact ${JSON.stringify(key)}`;
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

/**
 * Walks a local directory depth-first without following directory symlinks (no loops, no escape);
 * symlinked files are uploaded as the file they point to, as MLflow does.
 */
async function walkLocal(
  dir: string,
  visit: (path: string, isDir: boolean, size: number, empty: boolean) => Promise<void>,
): Promise<void> {
  const handle = await opendir(dir);
  let count = 0;
  for await (const entry of handle) {
    count++;
    // What an interrupted transfer left behind (a `kill -9`) is never uploaded.
    if (isTempFileName(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await walkLocal(path, visit);
    } else if (entry.isFile()) {
      const info = await lstat(path);
      await visit(path, false, Number(info.size), false);
    } else if (entry.isSymbolicLink()) {
      const info = await stat(path).catch(() => undefined);
      if (info?.isFile()) await visit(path, false, Number(info.size), false);
    }
  }
  if (count === 0) await visit(dir, true, 0, true);
}
