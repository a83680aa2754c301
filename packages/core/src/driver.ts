import type { Readable } from 'node:stream';
import type { RequestRetry, RetryEvent } from './layers/retry.js';
import type { ArtifactUri } from './uri.js';

/**
 * Set by core's retry layer on the calls whose transfer engine repeats single requests (a part, a
 * range) on its own: the repository's retry policy, which the engines follow through
 * `engineOptions` so that a part is retried by the same rule as a call.
 */
export interface EngineRetryOptions {
  retry?: RequestRetry;
}

/** Every operation's options extend these. */
export interface OperationOptions {
  /** Cancels the operation; the promise rejects with an `aborted` ArtifactsError. */
  signal?: AbortSignal;
  /**
   * Bounds each storage request and each stall of a stream (no byte moved for this long), in
   * milliseconds — never a whole transfer: a long upload lives as long as it keeps moving. Default:
   * the repository's `timeoutMs`, else `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` (seconds), else the
   * backend's default; `-1` = no limit. For a deadline over a whole operation, pass
   * `signal: AbortSignal.timeout(ms)`.
   */
  timeoutMs?: number;
}

/** Checksum algorithms core can compute while streaming. Values are base64 of the raw digest. */
export type ChecksumAlgorithm = 'md5' | 'crc32' | 'crc32c' | 'sha256';

export interface Checksum {
  algorithm: ChecksumAlgorithm;
  /** Base64 of the big-endian digest bytes (the form S3, GCS and Azure headers use). */
  value: string;
}

/** What a driver can do beyond the required primitives. Core and the testkit gate on it. */
export interface DriverCapabilities {
  /**
   * `read` is given `range` (otherwise core reads the whole object). What a read served is in its
   * result (`DriverReadResult.served`): core cuts the range out of whatever the store sent.
   */
  rangeRead: boolean;
  /** Directories exist on their own (file systems): empty directories can be created and listed. */
  directories: boolean;
  /**
   * Checksums the store reports (from `write`'s result or `read`'s result) that core verifies by
   * hashing the bytes it streamed. Empty when the store offers none.
   */
  checksums: readonly ChecksumAlgorithm[];
  /**
   * The driver hashes what it sends with `checksums[0]` itself (a CRC of each part, which the store
   * needs anyway) and returns it as `DriverWriteResult.sent`: core then does not hash the body again.
   */
  hashesWrites?: boolean;
  /** `multipart` is implemented (the proxy server's mpu/create, complete, abort). */
  multipartUpload: boolean;
  /** `presign` is implemented. */
  presign: boolean;
  /** `copy` and `locate` are implemented (server-side copy; see `copyArtifacts`). */
  serverSideCopy: boolean;
  /**
   * `false`: the store keeps no Content-Type (a file system), so core guesses none for a write
   * (`DriverWriteOptions.contentType` is the caller's, if any): the guess costs a lookup per file
   * and loads mime-types' table (~0.13 s of CPU) into the process. Default true.
   */
  contentTypes?: boolean;
}

/** Where an object lives in its store, as one driver names it for another driver's `copy`. */
export interface CopySource {
  /**
   * Equal for two drivers that reach the same store with the same identity (endpoint or account,
   * plus the public id of the credential — never a secret): either may copy from the other.
   */
  scope: string;
  /** The store-wide name of the object (`bucket/root/key`), opaque to core. */
  address: string;
}

export interface DriverCopyOptions extends OperationOptions {
  /** The source's size when core knows it (from the listing), so the driver need not ask again. */
  size?: number;
}

export interface DriverEntry {
  /** Key relative to the repository root: POSIX, no leading or trailing slash. */
  key: string;
  isDir: boolean;
  /** Bytes; files only. */
  size?: number;
  /**
   * A folder-marker object of an object store (a zero-length `dir/`, or Azure's `hdi_isfolder`
   * blob), yielded only when `DriverListOptions.markers` asks; its key is the object's own (a
   * trailing '/' kept). Never a file of the repository.
   */
  marker?: boolean;
}

export interface DriverStat extends DriverEntry {
  /** The same as a read of this version reports (`DriverReadResult.lastModified`). */
  lastModified?: Date;
  /** The version a read pins to, as a read reports it (`DriverReadResult.etag`): one validator for both. */
  etag?: string;
  contentType?: string;
  checksum?: Checksum;
}

export interface DriverWriteOptions extends OperationOptions, EngineRetryOptions {
  /** Total bytes when known in advance (local files): lets drivers choose single-shot vs multipart. */
  size?: number;
  /** Guessed from the file name by core. */
  contentType?: string;
  /**
   * Set by core's timeout layer: a driver that sends buffered parts after it has read the body
   * (the chunked-upload engine) calls it whenever bytes move, so a slow but steady upload is not
   * taken for a stalled one.
   */
  onActivity?: () => void;
}

export interface DriverWriteResult {
  /** A checksum the store computed over what it received; core compares with its own. */
  checksum?: Checksum;
  /** With `capabilities.hashesWrites`: the checksum and length of the bytes the driver sent. */
  sent?: SentBody;
}

/** What a driver sent: `checksums[0]` of its bytes (from its parts' CRCs) and their count. */
export interface SentBody {
  checksum: Checksum;
  bytes: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive (as in HTTP Range). Omitted = to the end. */
  end?: number;
}

export interface DriverReadOptions extends OperationOptions, EngineRetryOptions {
  range?: ByteRange;
}

export interface DriverReadResult {
  stream: Readable;
  /**
   * The bytes the stream holds, as the store actually served them (`end` inclusive): a store that
   * ignored the range served the whole object. Omitted: the range asked for when
   * `capabilities.rangeRead`, else the whole object. Core cuts the asked range out of what was served.
   */
  served?: { start: number; end: number };
  /** Bytes this stream will deliver, when known. */
  size?: number;
  /** Size of the whole object, when known. */
  totalSize?: number;
  /** Checksum of the whole object (only for full reads); core verifies it while streaming. */
  checksum?: Checksum;
  contentType?: string;
  /** The version the bytes are from (the ETag, or the store's generation), when the store named one. */
  etag?: string;
  /** When that version was written, as `stat` reports it. */
  lastModified?: Date;
}

/**
 * A chunk of a read stream, or of a body handed to `write`, may carry this key: a function its last consumer calls once it is done
 * with the chunk's bytes (the proxy server when the socket has taken them, core's `rangedReadToFile`
 * once they are written), which gives the chunk's memory back at once: to the store for a later
 * read (the local store's read buffers), or to the system (each body chunk of core's `HttpPool`, a
 * buffer nothing else holds). Only a consumer that writes out the very chunk object it received,
 * and keeps no other reference, may call it; one that keeps chunks never calls it, and the chunk is
 * garbage as any other. The one record of who owns a chunk's memory.
 *
 * The producer that lends a chunk (sets the key) never reads or writes it after handing it on: the
 * local store's `FileBody`, `HttpPool`'s answers, the proxy server's request bodies (`lendChunks`).
 * What passes a chunk through (core's `Meter`, the layers' views) hands on the very object and never
 * calls it; a write path's last consumer does, once (see `StorageDriver.write`, `lent-chunks.ts`).
 */
export const RELEASE_CHUNK: unique symbol = Symbol.for('@artifacts/release-chunk');

export interface ReadToFileOptions extends OperationOptions, EngineRetryOptions {
  /** Called with each count of bytes written (progress); a driver that never calls it is counted whole at the end. */
  onBytes?: (bytes: number) => void;
}

export interface DriverListOptions extends OperationOptions {
  /** Every file below the prefix (and, for drivers with `directories`, every directory). */
  recursive: boolean;
  /**
   * Set by core's retry layer. A driver that lists in pages sends each page request through it
   * (`options.page ? options.page(request) : request()`): core repeats a page request that failed
   * with a temporary error, so a listing broken on page 2 resumes at page 2. A listing that does not
   * page through it is repeated only while it has not yielded an entry.
   */
  page?: <T>(request: () => Promise<T>) => Promise<T>;
  /**
   * Set by `deleteTree` on a recursive listing: a store with folder-marker objects also yields them
   * (`marker: true`), so that deleting a directory leaves none behind.
   */
  markers?: boolean;
}

export interface PartUploadCredential {
  url: string;
  partNumber: number;
  /** Headers the client must send with its PUT. */
  headers: Record<string, string>;
}

export interface MultipartUpload {
  /** `null` where the store has no upload id (Azure block blobs). */
  uploadId: string | null;
  credentials: PartUploadCredential[];
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
  url?: string;
}

/** Uploads whose parts go straight to storage through presigned URLs (the proxy's mpu/* routes). */
export interface MultipartCapability {
  create(
    key: string,
    options: OperationOptions & { numParts: number; expiresInSeconds?: number },
  ): Promise<MultipartUpload>;
  complete(
    key: string,
    uploadId: string | null,
    parts: CompletedPart[],
    options?: OperationOptions,
  ): Promise<void>;
  abort(key: string, uploadId: string | null, options?: OperationOptions): Promise<void>;
}

export interface PresignCapability {
  /** A URL anyone can GET for `expiresInSeconds` (default 3600). */
  getUrl(key: string, options?: OperationOptions & { expiresInSeconds?: number }): Promise<string>;
  /** A URL anyone can PUT the whole object to. */
  putUrl(
    key: string,
    options?: OperationOptions & { expiresInSeconds?: number; contentType?: string },
  ): Promise<string>;
}

/**
 * A backend's primitive, key-based operations on keys relative to the store's root. Keys reaching a
 * driver are already validated and normalized by core ('' is the root). A driver never re-implements
 * what core does (paths, walking, concurrency, progress, timeouts, checksum verification).
 *
 * Errors: throw anything; core maps it with `toArtifactsError`. Throw an ArtifactsError yourself
 * where you know the right code (missing key → `not_found`, bad credentials → `unauthenticated`).
 */
/** A driver's own retry schedule, applied by core's retry layer (see `StorageDriver.retryPolicy`). */
export interface DriverRetryPolicy {
  /** Attempts after the first. Default: the repository's `maxRetries`. */
  maxRetries?: number;
  /** First backoff step, ms (doubles each retry). */
  baseDelayMs?: number;
  /** Cap on one wait, ms. */
  maxDelayMs?: number;
  /** Up to this many random ms added to each whole step (see `RetryOptions.jitterMs`). */
  jitterMs?: number;
  /** Called before each retry, beside the repository's `onRetry`. */
  onRetry?: (event: RetryEvent) => void;
}

export interface StorageDriver {
  readonly capabilities: DriverCapabilities;
  /**
   * Secrets this driver holds (passwords, keys, tokens). Core scrubs them from every error message
   * before it reaches the user.
   */
  readonly secrets?: readonly string[];
  /**
   * The retry schedule of a protocol that documents its own (http's `MLFLOW_HTTP_REQUEST_*`): core's
   * retry layer uses it for this driver in place of its defaults. Omitted: core's.
   */
  readonly retryPolicy?: DriverRetryPolicy;
  /**
   * Writes the whole stream to `key`, creating parents as needed. Nothing may be visible at `key`
   * unless the stream ended and the write succeeded (object stores: single put or completed
   * multipart; file systems: temporary name + rename). Overwrites an existing file.
   *
   * A body chunk may carry `RELEASE_CHUNK` (lent: a local file's pooled reads, the proxy server's
   * request chunks): the driver calls it once, after the chunk's bytes have left it (written to the
   * file, taken by the socket, copied into a part buffer or packet), and only if it keeps no reference
   * it may still read (a retry must send a copy, never the lent chunk). A driver that keeps chunks, or
   * hands them to a client that may, never calls it; core's `releaseWritten` does it for a file's
   * write stream. See `RELEASE_CHUNK`.
   */
  write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult | undefined>;
  /** Opens a stream of the key's bytes. A missing key (or a directory) is a `not_found` ArtifactsError. */
  read(key: string, options: DriverReadOptions): Promise<DriverReadResult>;
  /** Metadata, or undefined when nothing is at `key`. For a key that is a directory/prefix: `isDir`. */
  stat(key: string, options: OperationOptions): Promise<DriverStat | undefined>;
  /**
   * Entries under the directory `prefix` ('' = root). Non-recursive: direct children, files and
   * directories. A missing prefix or a file yields nothing. Order does not matter.
   */
  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry>;
  /**
   * Removes the exact `key` and everything under `key/` — never a sibling that merely shares the
   * prefix. '' removes everything in the store's root. Deleting nothing is not an error.
   */
  delete(key: string, options: OperationOptions): Promise<void>;
  /**
   * Optional batch delete of exact keys (files; at most 1000 a call): S3's DeleteObjects, or one
   * request per key with bounded concurrency. A missing key is not an error. With it, core does the
   * prefix recursion and the never-a-sibling rule (`deleteTree`), and a driver's `delete` can be
   * `deleteTree(this, key, options)`.
   */
  deleteMany?(keys: readonly string[], options: OperationOptions): Promise<void>;
  /**
   * Optional fast path: stores a whole local file at `key` (e.g. a kernel copy for local disks),
   * with the same all-or-nothing rule as `write`. Core prefers it for `logArtifact(s)` when no
   * checksum needs computing; progress is then reported once the file is stored.
   */
  writeFromFile?(
    key: string,
    localPath: string,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined>;
  /**
   * Optional fast path: copies the key's bytes into `localPath` (a temporary file core renames into
   * place once complete; core removes it on failure) — object stores through the ranged-read engine
   * (`rangedReadToFile`: parallel ranges written at their offsets, checksum verified). A missing key
   * is `not_found`.
   */
  readToFile?(key: string, localPath: string, options: ReadToFileOptions): Promise<void>;
  /** Creates a directory (drivers with `directories` only; object stores do not need it). */
  mkdir?(key: string, options: OperationOptions): Promise<void>;
  /** Names `key` for the `copy` of a driver whose `locate(…).scope` is the same. */
  locate?(key: string): CopySource;
  /**
   * Server-side copy: the store copies `source` (another driver's, or this one's, `locate` result)
   * to `toKey` without the bytes passing through this process, with `write`'s all-or-nothing rule.
   * A missing source is `not_found`. Core calls it only for a source of the same `scope`.
   */
  copy?(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void>;
  multipart?: MultipartCapability;
  presign?: PresignCapability;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}

/** What `openRepository` passes to a plugin besides its own options. */
export interface OpenContext {
  /** The parsed URI (as the plugin's `parse` returned it). */
  location: ArtifactUri;
  /**
   * The timeout resolved once by core (option, `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT`, the
   * plugin's `defaultTimeoutMs`); undefined = none. Core's timeout layer applies it around the
   * driver; a driver may also hand it to its SDK as the per-request timeout.
   */
  timeoutMs?: number;
  maxConcurrency: number;
  /**
   * Attempts after the first for a temporary failure, resolved once by core (`maxRetries`,
   * `ARTIFACTS_MAX_RETRIES`): the engines' per-part and per-range retries use it. Drivers leave
   * their SDK's own retries off so that the two never stack.
   */
  maxRetries?: number;
  /**
   * The user chose `maxRetries` (the option or `ARTIFACTS_MAX_RETRIES`) rather than core's default.
   * A driver whose protocol has its own documented retry setting (http's
   * `MLFLOW_HTTP_REQUEST_MAX_RETRIES`) keeps it only when this is false.
   */
  maxRetriesExplicit?: boolean;
}

/**
 * A backend plugin: `{ name, schemes, parse(uri) → location, open(location, options) → driver }`.
 * Importing a backend package registers its plugin; it also exports it for `registerBackend`.
 */
export interface BackendPlugin<Options = Record<string, unknown>> {
  /** The package name (`@artifacts/s3`), shown in messages. */
  name: string;
  /** Lower-case URI schemes it serves ('file' also serves bare paths). */
  schemes: readonly string[];
  /**
   * The store's timeout when neither the option nor `MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT` sets
   * one, in ms (MLflow's: 600 s for Azure, 60 s for GCS). Omitted: none from core (the SDK's own).
   */
  defaultTimeoutMs?: number;
  /**
   * Files in flight (and storage calls) when neither the `maxConcurrency` option nor
   * `ARTIFACTS_MAX_CONCURRENCY` sets it. Omitted: core's `DEFAULT_MAX_CONCURRENCY` (16). An object
   * store over HTTPS sets more: a small file costs one round trip, so files/s ≤ in flight ÷ RTT.
   */
  defaultMaxConcurrency?: number;
  /** Parses and validates a URI of one of its schemes. Default: core's `parseArtifactUri`. */
  parse?(uri: string): ArtifactUri;
  open(location: ArtifactUri, options: Options, context: OpenContext): Promise<StorageDriver> | StorageDriver;
}
