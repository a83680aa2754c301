import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { deleteTree } from './delete.js';
import type {
  ByteRange,
  CompletedPart,
  DriverCapabilities,
  DriverEntry,
  MultipartUpload,
  OperationOptions,
  StorageDriver,
} from './driver.js';
import { ArtifactsError } from './errors.js';
import { Limiter } from './internal/pool.js';
import { toReadable, type WriteBody } from './internal/streams.js';
import { baseName, joinKey, validateArtifactPath } from './path-safety.js';
import { runBatch } from './repository/batch.js';
import { describePath, throwGathered } from './repository/failures.js';
import {
  collectLocalTree,
  directoryMaker,
  downloadRoot,
  localStat,
  onLocalDisk,
} from './repository/local-files.js';
import { Progress, type ProgressEvent } from './repository/progress.js';
import { runScoped } from './repository/scope.js';
import { download, openReadStream, put, type TransferContext, upload } from './repository/transfers.js';
import { isTempFileName } from './temp-files.js';

// The repository's public API. Its mechanisms live beside it in ./repository/: transfers (upload,
// download, ranged reads), local files (tree walks, download destinations and temporary files),
// progress, scopes (signals and error mapping of one call) and failure gathering.

export type { ProgressEvent } from './repository/progress.js';
export { guessContentType } from './repository/transfers.js';

/** MLflow's FileInfo: `path` is POSIX and relative to the repository root; directories have no size. */
export interface FileInfo {
  path: string;
  isDir: boolean;
  fileSize?: number;
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
  /** The version the bytes are from (every later read pinned to it sees the same bytes), when known: `stat`'s `etag`. */
  etag?: string;
  /** When that version was written, when known: `stat`'s `lastModified`. */
  lastModified?: Date;
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
  readonly #transfers: TransferContext;
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
    this.#transfers = {
      driver: this.#driver,
      secrets: this.#secrets,
      limiter: this.#limiter,
      assertOpen: () => this.#open(),
    };
  }

  /**
   * Storage calls (and file transfers) this repository runs at once, at most: the `maxConcurrency`
   * it was opened with, else `ARTIFACTS_MAX_CONCURRENCY`, else its backend's default.
   */
  get maxConcurrency(): number {
    return this.#limiter.limit;
  }

  /** What the backend can do (multipart, presign, ranged reads, directories, checksums). */
  get capabilities(): DriverCapabilities {
    return this.#driver.capabilities;
  }

  /** Stores a local file at `<artifactPath>/<basename>`. */
  async logArtifact(localFile: string, artifactPath?: string, options: TransferOptions = {}): Promise<void> {
    const dir = this.#key(artifactPath);
    const local = await localStat(localFile, 'file');
    const key = joinKey(dir, this.#key(baseName(local.path), { label: 'file name', allowRoot: false }));
    const progress = new Progress(options.onProgress, local.size, 1);
    const localDisk = await onLocalDisk(local.path);
    await upload(this.#transfers, local.path, key, local.size, progress, options, { localDisk });
  }

  /** Stores the contents of a local directory, recursively, under `artifactPath`. */
  async logArtifacts(localDir: string, artifactPath?: string, options: TransferOptions = {}): Promise<void> {
    const dir = this.#key(artifactPath);
    const root = await localStat(localDir, 'directory');
    this.#open();
    // One `statfs` for the walk's stats and the files' reads (synchronous on a local disk); a mount
    // inside the tree is asked again (`collectLocalTree`).
    const localDisk = await onLocalDisk(root.path);
    const { files, emptyDirs, failures } = await collectLocalTree(root.path, dir, localDisk);
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
    failures.push(
      ...(await runBatch(
        files,
        this.#limiter,
        (file) => file.path,
        (file) =>
          upload(this.#transfers, file.path, file.key, file.size, progress, options, {
            limited: false,
            localDisk: file.localDisk ?? localDisk,
          }),
      )),
    );
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
    const dst = await downloadRoot(dstPath);
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
      await download(this.#transfers, key, target, progress, options, info.size);
      return target;
    }
    const entries = await this.listArtifactsRecursive(key, options);
    const files = entries.filter((entry) => !entry.isDir);
    const makeDirectory = directoryMaker();
    await makeDirectory(target);
    for (const entry of entries) {
      if (entry.isDir) await makeDirectory(join(dst, ...entry.path.split('/')));
    }
    const progress = new Progress(
      options.onProgress,
      files.reduce((sum, file) => sum + (file.fileSize ?? 0), 0),
      files.length,
    );
    const failures = await runBatch(
      files,
      this.#limiter,
      (file) => file.path,
      async (file) => {
        const local = join(dst, ...file.path.split('/'));
        await makeDirectory(dirname(local));
        await download(this.#transfers, file.path, local, progress, options, file.fileSize);
      },
    );
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
    return openReadStream(this.#transfers, key, options);
  }

  /** Writes a body (stream, bytes or string) to `path`; nothing is visible there unless it all arrived. */
  async write(path: string, body: WriteBody, options: WriteOptions = {}): Promise<void> {
    const key = this.#key(path, { allowRoot: false });
    const { stream, size } = toReadable(body);
    const total = options.size ?? size;
    const progress = new Progress(options.onProgress, total, 1);
    await this.#limiter.run(() => put(this.#transfers, stream, key, total, progress, options));
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
        ...pickExpiry(options),
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

  /** Runs one driver call with the caller's signal and timeout applied and errors mapped. */
  async #call<T>(
    what: string,
    options: OperationOptions,
    fn: (options: OperationOptions) => Promise<T>,
  ): Promise<T> {
    this.#open();
    return runScoped(what, options, this.#secrets, fn);
  }
}

function pickExpiry(options: { expiresInSeconds?: number }): { expiresInSeconds?: number } {
  return options.expiresInSeconds === undefined ? {} : { expiresInSeconds: options.expiresInSeconds };
}
