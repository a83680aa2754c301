import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import {
  answerHeader,
  type CopySource,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteEach,
  deleteTree,
  engineOptions,
  type HttpAnswer,
  httpStatusOf,
  type MultipartCapability,
  mappedCalls,
  type ObjectListRequest,
  ObjectNames,
  ObjectTree,
  type OpenContext,
  type OperationOptions,
  objectStoreCapabilities,
  type PresignCapability,
  parseHttpDate,
  type RangeSource,
  rangedReader,
  type StorageDriver,
  type StoreHttp,
  splitAddress,
  storeRange,
} from '@artifacts/core';
import { copyBlob } from './copy.js';
import { mapAzureError, type Subject } from './errors.js';
import { type AzureClients, blobPath, parseBlobList } from './lean.js';
import { AzureSas } from './sas.js';
import type { AzureConfig } from './settings.js';
import { AZURE_BLOCK_LIMITS, commitBlocks, uploadBlob } from './upload.js';

/**
 * Maps the errors a blob's body emits (a connection closed under it) with `map`, in the stream's own
 * destroy path: no stream is piped in between, so the bytes pay nothing for it. (A whole read to a
 * file is mapped by the engine's guard anyway; a stream handed to the caller is not.)
 */
function mapBodyErrors(body: IncomingMessage, map: (error: Error) => unknown): IncomingMessage {
  const destroy = body._destroy.bind(body);
  body._destroy = (error, callback) =>
    destroy(error, (final) => {
      const mapped = final ? map(final) : final;
      callback(mapped instanceof Error ? mapped : final);
    });
  return body;
}

/**
 * The Azure Blob driver: our own requests (core's `StoreHttp`) plugged into core's engines — block
 * uploads (`upload.ts`), ranged reads, listings (`ObjectTree`), prefix deletes — and server-side copy.
 */
export class AzureBlobDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: AzureConfig;
  readonly #clients: AzureClients;
  readonly #http: StoreHttp;
  readonly #names: ObjectNames;
  readonly #sas: AzureSas;
  readonly #tree: ObjectTree;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;

  constructor(
    config: AzureConfig,
    clients: AzureClients,
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    this.#context = context;
    this.#config = config;
    this.#clients = clients;
    this.#http = clients.http;
    this.#names = new ObjectNames(config.root);
    this.#tree = new ObjectTree(this.#names, (request) =>
      this.#run(request.what, request.key, () => this.#listPage(request)),
    );
    this.secrets = clients.secrets;
    this.#sas = new AzureSas({
      clients,
      container: config.container,
      endpoint: this.#http.url,
      name: (key) => this.#names.name(key),
      url: (key) => `${this.#http.url}${this.#path(key)}`,
      commit: (key, ids, contentType, signal) =>
        commitBlocks(this.#http, this.#path(key), ids, { 'x-ms-blob-content-type': contentType }, signal),
      run: (what, key, fn) => this.#run(what, key, fn),
    });
    this.capabilities = {
      ...objectStoreCapabilities(config.transactionalMd5 ? ['md5'] : [], this.#sas.canSign),
      // The MD5 this driver computes for the blob's record is the whole body's (`sent`).
      hashesWrites: config.transactionalMd5,
    };
    if (this.#sas.canSign) {
      this.multipart = this.#sas.multipart();
      this.presign = this.#sas.presign();
    }
  }

  /** A blob's path below the service URL. */
  #path(key: string): string {
    return blobPath(this.#config.container, this.#names.name(key));
  }

  #subject(what: string, key?: string): Subject {
    const { container, account } = this.#config;
    const blob = key === undefined ? {} : { blob: this.#names.name(key) };
    return { what, container, account, reached: this.#http.reached(), ...blob };
  }

  readonly #run = mappedCalls((error, what, key) =>
    mapAzureError(error, this.#subject(what, key), this.secrets),
  );

  /** One request of `key`'s blob whose answer has no body worth reading. */
  #send(method: string, key: string, headers: Record<string, string>, signal?: AbortSignal) {
    return this.#http.drain({ method, path: this.#path(key), headers, signal });
  }

  /** Put Blob, or blocks and Put Block List, through core's chunked-upload engine (`upload.ts`). */
  write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult | undefined> {
    return uploadBlob(this.#http, body, {
      container: this.#config.container,
      blob: this.#names.name(key),
      contentType: options.contentType,
      md5: this.#config.transactionalMd5,
      run: (fn) => this.#run('upload', key, fn),
      engine: {
        partSize: this.#config.blockSize,
        concurrency: this.#config.uploadConcurrency,
        limits: AZURE_BLOCK_LIMITS,
        size: options.size,
        ...engineOptions(this.#context, options),
        what: `uploading ${JSON.stringify(key)}`,
      },
    });
  }

  /** Reads through core's ranged-read engine: this driver gives its ranged GET and its part plan. */
  readonly #reads = rangedReader({
    source: (key) => this.#rangeSource(key),
    plan: (key) => ({
      partSize: this.#config.downloadPartSize,
      concurrency: this.#config.downloadConcurrency,
      context: this.#context,
      what: `reading ${this.#config.container}/${key}`,
    }),
    guard: (key, read) => this.#run('download', key, read),
  });
  readonly read = this.#reads.read;
  /** A download: ranged GETs written at their offsets into `localPath` (core's temporary file). */
  readonly readToFile = this.#reads.readToFile;

  /**
   * One Get Blob for the engine: with one download in flight (the default) the first request of a
   * whole-blob read takes the whole blob; later ranges are pinned to the first answer's ETag
   * (If-Match), so a blob replaced mid-read fails (412) instead of mixing two versions. The engine
   * resumes a broken body itself.
   */
  #rangeSource(key: string): RangeSource {
    return {
      readRange: (request) =>
        this.#run('download', key, async () => {
          const whole = request.whole && this.#config.downloadConcurrency <= 1;
          const { answer, response } = await storeRange(
            request,
            (range) =>
              this.#http.send({
                method: 'GET',
                path: this.#path(key),
                headers: {
                  ...(range ? { 'x-ms-range': range } : {}),
                  ...(request.pin ? { 'if-match': request.pin } : {}),
                },
                signal: request.signal,
              }),
            { whole },
          );
          const md5 = request.whole
            ? (answerHeader(answer, 'x-ms-blob-content-md5') ??
              (answerHeader(answer, 'content-range') ? undefined : answerHeader(answer, 'content-md5')))
            : undefined;
          const subject = this.#subject('download', key);
          return {
            ...response,
            stream: mapBodyErrors(answer.body, (error) => mapAzureError(error, subject, this.secrets)),
            ...(md5 ? { checksum: { algorithm: 'md5' as const, value: md5 } } : {}),
          };
        }),
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key, isDir: true };
    return this.#run('stat', key, async () => {
      let answer: HttpAnswer;
      try {
        answer = await this.#send('HEAD', key, {}, options.signal);
      } catch (error) {
        const status = httpStatusOf(error);
        // A HEAD answer has no body: a missing container shows only as a 404, and Azurite's answer to a
        // bad signature only as a 403. The listing below (which has a body) tells them apart.
        if (status !== 404 && status !== 403) throw error;
        const isDir = await this.#tree.hasChildren(key, 'stat', options.signal);
        if (status === 403) throw error;
        return isDir ? { key, isDir: true } : undefined;
      }
      if (answerHeader(answer, 'x-ms-meta-hdi_isfolder') === 'true') return { key, isDir: true };
      const lastModified = parseHttpDate(answerHeader(answer, 'last-modified'));
      const etag = answerHeader(answer, 'etag');
      const contentType = answerHeader(answer, 'content-type');
      const md5 = answerHeader(answer, 'content-md5');
      return {
        key,
        isDir: false,
        size: Number(answerHeader(answer, 'content-length') ?? 0),
        ...(lastModified ? { lastModified } : {}),
        ...(etag ? { etag } : {}),
        ...(contentType ? { contentType } : {}),
        ...(md5 ? { checksum: { algorithm: 'md5' as const, value: md5 } } : {}),
      };
    });
  }

  /**
   * Listings (core's `ObjectTree`): List Blobs with the `/` delimiter, or flat, one page a request,
   * with metadata: a Hadoop/ADLS folder blob (`hdi_isfolder`) is a directory, not a file.
   */
  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return this.#tree.list(prefix, options);
  }

  async #listPage({ prefix, recursive, token, limit, signal }: ObjectListRequest) {
    const { blobs, prefixes, next } = await parseBlobList(
      await this.#http.text({
        method: 'GET',
        path: blobPath(this.#config.container),
        query: [
          ['restype', 'container'],
          ['comp', 'list'],
          ['include', 'metadata'],
          ['maxresults', String(limit ?? this.#config.listPageSize)],
          ['prefix', prefix || undefined],
          ['delimiter', recursive ? undefined : '/'],
          ['marker', token],
        ],
        signal,
      }),
    );
    return { page: { objects: blobs, prefixes }, next };
  }

  /** Core lists the tree and hands over batches (`deleteTree`): never a sibling sharing the prefix. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  /** One Delete Blob per blob (snapshots included), `deleteConcurrency` at once; gone already is done. */
  async deleteMany(keys: readonly string[], options: OperationOptions): Promise<void> {
    await this.#run('delete', keys[0], () =>
      deleteEach(
        keys,
        this.#config.deleteConcurrency,
        (key) => this.#send('DELETE', key, { 'x-ms-delete-snapshots': 'include' }, options.signal),
        (error) => (error as { serviceCode?: string }).serviceCode === 'BlobNotFound',
      ),
    );
  }

  async close(): Promise<void> {
    this.#http.destroy();
  }

  /** Containers of one account, reached at one endpoint, copy between them. */
  locate(key: string): CopySource {
    return {
      scope: `azure ${this.#http.url} ${this.#clients.account}`,
      address: `${this.#config.container}/${this.#names.name(key)}`,
    };
  }

  /** Copy Blob From URL, or Copy Blob polled until done: see `copyBlob`. */
  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const { bucket, name } = splitAddress(source.address);
    const from = { container: bucket, blob: name };
    const to = { container: this.#config.container, blob: this.#names.name(toKey) };
    const { sas } = this.#clients;
    // The source is authorized by a SAS of its own (signed, or the connection string's), else by the
    // destination's identity (within one account).
    const sourceSas = this.#sas.canSign
      ? () => this.#sas.sas(toKey, 'r', undefined, from)
      : sas === undefined
        ? undefined
        : async () => sas;
    await this.#run('copy', toKey, () => copyBlob(this.#http, from, to, sourceSas, options));
  }
}
