import type {
  ByteRange,
  DriverReadOptions,
  DriverReadResult,
  OpenContext,
  OperationOptions,
  ReadToFileOptions,
} from '../driver.js';
import { engineOptions } from './chunked-upload.js';
import { type RangedReadOptions, type RangeSource, rangedRead, rangedReadToFile } from './ranged-read.js';

/** How a driver reads one key: its part plan, and where the stall bound and attempts come from. */
export interface RangedReadPlan {
  /** Bytes per ranged request. */
  partSize: number;
  /** Ranged requests in flight at once. */
  concurrency: number;
  /** Reads smaller than this that one answer already holds are not split (`RangedReadOptions`). */
  parallelThreshold?: number | undefined;
  /**
   * The repository the driver was opened in: its timeout (the stall bound when a read names none)
   * and `maxRetries` (attempts per range = `maxRetries + 1`), as `engineOptions` derives them.
   */
  context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  /** Names the read in errors (`reading s3://bucket/key`). */
  what: string;
}

/**
 * What an object-store driver gives for its reads: its range primitive (one ranged GET of a key)
 * and its plan. Both are asked when a read starts, so a spec built in a field initializer may use
 * settings the constructor sets later.
 */
export interface RangedReaderSpec {
  /** One ranged GET of `key` for the engine (`RangeSource.readRange`). */
  source(key: string): RangeSource;
  plan(key: string): RangedReadPlan;
  /**
   * Runs one read of `key` (the driver's error mapping); the engine's own `ArtifactsError`s pass
   * through it too. Default: the read as is.
   */
  guard?: (<T>(key: string, read: () => Promise<T>) => Promise<T>) | undefined;
}

/** A driver's `read` and `readToFile`, built from its range primitive. */
export interface RangedReader {
  read(key: string, options: DriverReadOptions): Promise<DriverReadResult>;
  readToFile(key: string, localPath: string, options: ReadToFileOptions): Promise<void>;
}

/**
 * The read side of an object-store driver, written once: a streamed `read` (parallel ranges with
 * bounded read-ahead, the range the store served in the result) and a `readToFile` (ranges written
 * at their offsets into core's temporary file, checksum verified), both through the ranged-read
 * engine: pinned to the first answer's version, retried per range, bounded per stall. A driver
 * composes it and exposes its members:
 * `readonly #reads = rangedReader({ source: (key) => this.#rangeSource(key), plan: … })`,
 * `readonly read = this.#reads.read`, `readonly readToFile = this.#reads.readToFile`.
 */
export function rangedReader(spec: RangedReaderSpec): RangedReader {
  const guard = spec.guard ?? (<T>(_key: string, read: () => Promise<T>) => read());
  const options = (key: string, read: OperationOptions, range: ByteRange | undefined): RangedReadOptions => {
    const { context, ...plan } = spec.plan(key);
    return { ...plan, range, ...engineOptions(context, read) };
  };
  return {
    read: (key, read) => guard(key, () => rangedRead(spec.source(key), options(key, read, read.range))),
    readToFile: async (key, localPath, read) => {
      await guard(key, () =>
        rangedReadToFile(spec.source(key), localPath, {
          ...options(key, read, undefined),
          onBytes: read.onBytes,
        }),
      );
    },
  };
}
