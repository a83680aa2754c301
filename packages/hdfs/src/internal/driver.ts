import { posix } from 'node:path';
import { Readable } from 'node:stream';
import {
  ArtifactsError,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  FILE_TREE_CAPABILITIES,
  type FileEntry,
  isConnectionError,
  listFileTree,
  NO_CONNECTIONS,
  type OpenContext,
  type OperationOptions,
  type RangeSource,
  RemoteFiles,
  rangedReader,
  type StorageDriver,
  type SweepCandidate,
} from '@artifacts/core';
import type { HdfsSettings } from './settings.js';
import { type FileStatus, WebHdfsClient } from './webhdfs-client.js';

/** Entries per LISTSTATUS_BATCH page are set by the NameNode (dfs.ls.limit, 1000 by default). */
interface DirectoryListing {
  DirectoryListing: {
    partialListing: { FileStatuses: { FileStatus: FileStatus[] } };
    remainingEntries: number;
  };
}

/** Ranged OPENs of one file in flight at once. */
const RANGES_AT_ONCE = 4;

/** The HDFS StorageDriver over WebHDFS: keys are paths below the repository's root directory. */
export class HdfsDriver implements StorageDriver {
  // GETFILECHECKSUM is an MD5 of per-block MD5s of CRCs: not a digest of the bytes core can compare.
  readonly capabilities = FILE_TREE_CAPABILITIES;
  readonly client: WebHdfsClient;
  readonly #settings: HdfsSettings;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;
  /** Atomic writes, and the temporary files of failed removals (an unreachable NameNode) and killed writers. */
  readonly #files = new RemoteFiles(NO_CONNECTIONS, {
    remove: (_, temp) => this.#removeTemp(temp),
    list: async (_, dir) => {
      const entries: SweepCandidate[] = [];
      for await (const { pathSuffix: name, modificationTime, type } of this.#listDir(dir, undefined))
        entries.push({
          name,
          isFile: type === 'FILE',
          ...(modificationTime ? { modified: modificationTime } : {}),
        });
      return entries;
    },
    isConnectionError,
  });
  /** Null until known: whether the NameNode has LISTSTATUS_BATCH (Hadoop ≥ 2.8). */
  #batchListing: boolean | null = null;

  constructor(settings: HdfsSettings, context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {}) {
    this.#settings = settings;
    this.#context = context;
    this.client = new WebHdfsClient(settings);
  }

  get label(): string {
    return this.#settings.label;
  }

  #path(key: string): string {
    return key === '' ? this.#settings.root : posix.join(this.#settings.root, key);
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const target = this.#path(key);
    const what = `writing ${target} on ${this.label}`;
    const signal = options.signal;
    await this.#files.write(target, options, () => {
      let created = false;
      return {
        write: async (temp) => {
          // CREATE makes the missing parents. A failure before the body was read is repeated by
          // core's retry layer (the whole write, with a fresh temporary name).
          const location = await this.client.redirect('PUT', temp, 'CREATE', {}, { signal, what });
          created = true;
          await this.client.upload(location, body, { signal, what });
        },
        rename: (temp) => this.#rename(temp, target, what, signal),
        remove: async (temp) => {
          if (!created) return;
          // After an abort the server may be the stalled one: each request gets 2 s, not 10, and
          // what stays is removed by the next write (a user's abort still leaves nothing).
          await this.#removeTemp(temp, signal?.aborted ? 2_000 : 10_000);
        },
      };
    });
    return undefined;
  }

  /**
   * RENAME with OVERWRITE (WebHDFS `renameoptions`, the NameNode's rename2): atomic, and replaces an
   * existing file, unlike the plain RENAME that answers `false` when the target exists.
   */
  async #rename(temp: string, target: string, what: string, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.client.json(
        'PUT',
        temp,
        'RENAME',
        { destination: target, renameoptions: 'OVERWRITE' },
        { signal, what },
      );
    } catch (error) {
      // A retried RENAME whose first attempt went through finds no source: the file is in place.
      if (
        ArtifactsError.is(error, 'not_found') &&
        (await this.#status(target, signal, what))?.type === 'FILE'
      ) {
        return;
      }
      throw error;
    }
  }

  async #removeTemp(temp: string, boundMs = 10_000): Promise<void> {
    // Not the operation's signal: it may be the abort that got us here. The DataNode creates the
    // file on its side when the upload reaches it, possibly after a first DELETE: check and repeat.
    // An error (the NameNode is unreachable, restarting say) leaves it to OrphanTemps, which tries
    // again before the next write.
    const options = { what: `removing ${temp}` };
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.client.json(
        'DELETE',
        temp,
        'DELETE',
        { recursive: false },
        {
          ...options,
          signal: AbortSignal.timeout(boundMs),
        },
      );
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
      if (!(await this.#status(temp, AbortSignal.timeout(boundMs), options.what))) return;
    }
    throw new ArtifactsError('unavailable', `${options.what}: the file is still there after 5 deletes`);
  }

  readonly #readPlan = (key: string) => ({
    partSize: this.#settings.downloadPartSize,
    // The ranges of one file in flight at once. Memory does not grow with the part size: a stream
    // holds at most 8 MiB per range ahead of its reader (core), a file download writes each range
    // at its offset.
    concurrency: Math.min(this.#settings.maxConnections, RANGES_AT_ONCE),
    context: this.#context,
    what: `reading ${this.#path(key)} on ${this.label}`,
  });
  /** Reads: parallel OPENs of ranges through core's ranged-read engine. */
  readonly #reads = rangedReader({ source: (key) => this.#rangeSource(key, false), plan: this.#readPlan });
  /**
   * Downloads into a file report no version (`readToFile` gives the bytes only), so a file that one
   * range holds is read without GETFILESTATUS first (`#rangeSource`): two requests instead of three.
   */
  readonly #fileReads = rangedReader({ source: (key) => this.#rangeSource(key, true), plan: this.#readPlan });
  readonly read = this.#reads.read;
  readonly readToFile = this.#fileReads.readToFile;

  /**
   * OPEN with offset/length for core's ranged-read engine. The first request learns the file's size
   * and inode id (GETFILESTATUS); every later range opens that inode (`/.reserved/.inodes/<id>`), so
   * a file replaced mid-read (a new inode) fails as changed instead of mixing two files.
   */
  #rangeSource(key: string, unversioned: boolean): RangeSource {
    const path = this.#path(key);
    const what = `reading ${path} on ${this.label}`;
    let total = 0;
    let lastModified: Date | undefined;
    return {
      readRange: async ({ start, end, pin, signal }) => {
        if (pin === undefined && unversioned && start === 0) {
          // The file by its path: an answer shorter than asked for is the whole file (the DataNode
          // answers min(length, the file's length) bytes, from one open of one inode), which nothing
          // can mix. A longer file needs the pin for its other ranges: that answer is dropped and the
          // read starts again from GETFILESTATUS, as below.
          unversioned = false;
          const length = end - start + 1;
          const location = await this.client.redirect(
            'GET',
            path,
            'OPEN',
            { offset: 0, length },
            { signal, what },
          );
          const answer = await this.client.download(location, { signal, what });
          if (answer.length !== undefined && answer.length < length)
            return {
              stream: answer.stream,
              served: { start, end: answer.length - 1 },
              totalSize: answer.length,
            };
          answer.stream.on('error', () => undefined).destroy();
        }
        if (pin === undefined) {
          const status = await this.#status(path, signal, what);
          if (status?.type !== 'FILE') throw ArtifactsError.notFound(`${path} on ${this.label}`);
          total = status.length;
          pin = versionOf(status);
          lastModified = modifiedOf(status);
        }
        const last = Math.min(end, total - 1);
        // OPEN refuses an offset at or past the end: an empty range needs no DataNode.
        if (start > last)
          return {
            stream: Readable.from([]),
            served: { start, end: start - 1 },
            totalSize: total,
            pin,
            lastModified,
          };
        const source = pin === undefined ? path : `/.reserved/.inodes/${pin}`;
        const length = last - start + 1;
        const location = await this.client.redirect(
          'GET',
          source,
          'OPEN',
          { offset: start, length },
          { signal, what },
        );
        const { stream } = await this.client.download(location, { signal, what });
        return { stream, served: { start, end: last }, totalSize: total, pin, lastModified };
      },
    };
  }

  async #status(
    path: string,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<FileStatus | undefined> {
    try {
      const answer = await this.client.json<{ FileStatus: FileStatus }>(
        'GET',
        path,
        'GETFILESTATUS',
        {},
        { signal, what },
      );
      return answer.FileStatus;
    } catch (error) {
      if (ArtifactsError.is(error, 'not_found')) return undefined;
      throw error;
    }
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    const path = this.#path(key);
    const status = await this.#status(path, options.signal, `stat of ${path} on ${this.label}`);
    if (!status) return undefined;
    const isDir = status.type === 'DIRECTORY';
    return {
      key,
      isDir,
      ...(isDir ? {} : { size: status.length }),
      ...(modifiedOf(status) ? { lastModified: modifiedOf(status) } : {}),
      // The version a read pins to (the inode, which a replacing rename changes): one validator for both.
      ...(isDir || versionOf(status) === undefined ? {} : { etag: versionOf(status) }),
    };
  }

  /**
   * The entries of one directory, page by page (LISTSTATUS_BATCH; all at once by LISTSTATUS on a
   * NameNode before Hadoop 2.8), or nothing for a file or a missing path.
   */
  async *#listDir(path: string, signal: AbortSignal | undefined): AsyncGenerator<FileStatus> {
    const what = `listing ${path} on ${this.label}`;
    for (let startAfter: string | undefined; ; ) {
      let page: FileStatus[];
      let remaining = 0;
      try {
        if (this.#batchListing === false) {
          page = (
            await this.client.json<{ FileStatuses: { FileStatus: FileStatus[] } }>(
              'GET',
              path,
              'LISTSTATUS',
              {},
              { signal, what },
            )
          ).FileStatuses.FileStatus;
        } else {
          const answer = await this.client.json<DirectoryListing>(
            'GET',
            path,
            'LISTSTATUS_BATCH',
            { startAfter },
            { signal, what },
          );
          this.#batchListing = true;
          page = answer.DirectoryListing.partialListing.FileStatuses.FileStatus;
          remaining = answer.DirectoryListing.remainingEntries;
        }
      } catch (error) {
        if (ArtifactsError.is(error, 'not_found')) return;
        // NameNodes before Hadoop 2.8 refuse the op: fall back to LISTSTATUS for good.
        if (!(this.#batchListing === null && ArtifactsError.is(error, 'invalid_argument'))) throw error;
        this.#batchListing = false;
        continue;
      }
      for (const status of page) {
        // A file lists as itself, with an empty suffix: a file has no children.
        if (status.pathSuffix === '') return;
        yield status;
      }
      startAfter = page.at(-1)?.pathSuffix;
      if (remaining === 0 || startAfter === undefined) return;
    }
  }

  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return listFileTree(prefix, options, (key) => this.#entries(this.#path(key), options.signal));
  }

  async *#entries(path: string, signal: AbortSignal | undefined): AsyncGenerator<FileEntry> {
    for await (const { pathSuffix, type, length } of this.#listDir(path, signal))
      yield { name: pathSuffix, isDir: type === 'DIRECTORY', size: length };
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    if (key === '') {
      // The root directory itself stays: empty it.
      const children: string[] = [];
      for await (const status of this.#listDir(this.#settings.root, options.signal))
        children.push(status.pathSuffix);
      for (const child of children)
        await this.#delete(posix.join(this.#settings.root, child), options.signal);
      return;
    }
    await this.#delete(this.#path(key), options.signal);
  }

  async #delete(path: string, signal: AbortSignal | undefined): Promise<void> {
    // Answers {"boolean": false} when nothing is there: deleting nothing is not an error.
    await this.client.json(
      'DELETE',
      path,
      'DELETE',
      { recursive: true },
      { signal, what: `deleting ${path} on ${this.label}` },
    );
  }

  async mkdir(key: string, options: OperationOptions): Promise<void> {
    const path = this.#path(key);
    await this.client.json(
      'PUT',
      path,
      'MKDIRS',
      {},
      { signal: options.signal, what: `creating directory ${path} on ${this.label}` },
    );
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** The version of a file a read pins to: its inode id (a replacement is a new inode). */
function versionOf(status: FileStatus): string | undefined {
  return status.fileId === undefined ? undefined : String(status.fileId);
}

function modifiedOf(status: FileStatus): Date | undefined {
  return status.modificationTime ? new Date(status.modificationTime) : undefined;
}
