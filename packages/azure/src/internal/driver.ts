import type { Readable } from 'node:stream';
import {
  answerHeader,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteEach,
  engineOptions,
  type HttpAnswer,
  httpStatusOf,
  type MultipartCapability,
  mapBodyErrors,
  type ObjectAddress,
  type ObjectListRequest,
  ObjectStoreDriver,
  type OpenContext,
  objectStoreCapabilities,
  type PresignCapability,
  type RangeRequest,
  type RangeResponse,
  type RangeSource,
  type StoreHttp,
  statFromHeaders,
  storeRange,
} from '@artifacts/core';
import { copyBlob } from './copy.js';
import { mapAzureError, type Subject } from './errors.js';
import { type AzureClients, blobPath, parseBlobList } from './lean.js';
import { AzureSas } from './sas.js';
import type { AzureConfig } from './settings.js';
import { AZURE_BLOCK_LIMITS, commitBlocks, uploadBlob } from './upload.js';

/**
 * The Azure Blob driver: our own requests (core's `StoreHttp`) as the primitives of core's
 * `ObjectStoreDriver` (ranged reads, listings, stat, prefix deletes, copy), block uploads through
 * core's chunked-upload engine (`upload.ts`), and SAS signing (`sas.ts`).
 */
export class AzureBlobDriver extends ObjectStoreDriver {
  readonly capabilities: DriverCapabilities;
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: AzureConfig;
  readonly #clients: AzureClients;
  readonly #http: StoreHttp;
  readonly #sas: AzureSas;

  constructor(
    config: AzureConfig,
    clients: AzureClients,
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    super({
      bucket: config.container,
      root: config.root,
      secrets: clients.secrets,
      context,
      reads: { partSize: config.downloadPartSize, concurrency: config.downloadConcurrency },
      // Containers of one account, reached at one endpoint, copy between them.
      copyScope: `azure ${clients.http.url} ${clients.account}`,
      transport: clients.http,
    });
    this.#config = config;
    this.#clients = clients;
    this.#http = clients.http;
    this.#sas = new AzureSas({
      clients,
      container: config.container,
      endpoint: this.#http.url,
      name: (key) => this.names.name(key),
      url: (key) => `${this.#http.url}${this.#path(key)}`,
      commit: (key, ids, contentType, signal) =>
        commitBlocks(this.#http, this.#path(key), ids, { 'x-ms-blob-content-type': contentType }, signal),
      run: (what, key, fn) => this.run(what, key, fn),
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
    return blobPath(this.#config.container, this.names.name(key));
  }

  #subject(what: string, key?: string): Subject {
    const { container, account } = this.#config;
    const blob = key === undefined ? {} : { blob: this.names.name(key) };
    return { what, container, account, reached: this.#http.reached(), ...blob };
  }

  protected mapError(error: unknown, what: string, key: string | undefined): unknown {
    return mapAzureError(error, this.#subject(what, key), this.secrets);
  }

  protected describe(key: string): string {
    return `${this.#config.container}/${key}`;
  }

  /** One request of `key`'s blob: its answer's body read (`body`), or drained. */
  #send(method: string, key: string, headers: Record<string, string>, signal?: AbortSignal, body = false) {
    return this.#http[body ? 'send' : 'drain']({ method, path: this.#path(key), headers, signal });
  }

  /** Put Blob, or blocks and Put Block List, through core's chunked-upload engine (`upload.ts`). */
  write(key: string, body: Readable, options: DriverWriteOptions): Promise<DriverWriteResult | undefined> {
    return uploadBlob(this.#http, body, {
      container: this.#config.container,
      blob: this.names.name(key),
      contentType: options.contentType,
      md5: this.#config.transactionalMd5,
      run: (fn) => this.run('upload', key, fn),
      engine: {
        partSize: this.#config.blockSize,
        concurrency: this.#config.uploadConcurrency,
        limits: AZURE_BLOCK_LIMITS,
        size: options.size,
        ...engineOptions(this.context, options),
        what: `uploading ${JSON.stringify(key)}`,
      },
    });
  }

  /**
   * One Get Blob for the engine: with one download in flight (the default) the first request of a
   * whole-blob read takes the whole blob; later ranges are pinned to the first answer's ETag
   * (If-Match), so a blob replaced mid-read fails (412) instead of mixing two versions. The engine
   * resumes a broken body itself.
   */
  protected rangeSource(key: string): RangeSource {
    const readRange = async (request: RangeRequest): Promise<RangeResponse> => {
      const pin: Record<string, string> = request.pin ? { 'if-match': request.pin } : {};
      const { answer, response } = await storeRange(
        request,
        (range) =>
          this.#send('GET', key, range ? { ...pin, 'x-ms-range': range } : pin, request.signal, true),
        { whole: request.whole && this.#config.downloadConcurrency <= 1 },
      );
      const md5 = request.whole
        ? (answerHeader(answer, 'x-ms-blob-content-md5') ??
          (answerHeader(answer, 'content-range') ? undefined : answerHeader(answer, 'content-md5')))
        : undefined;
      return {
        ...response,
        stream: mapBodyErrors(answer.body, (error) => this.mapError(error, 'download', key)),
        ...(md5 ? { checksum: { algorithm: 'md5' as const, value: md5 } } : {}),
      };
    };
    return { readRange };
  }

  /** Get Blob Properties; a Hadoop/ADLS folder blob (`hdi_isfolder`) is a directory. */
  protected async statObject(key: string, signal: AbortSignal | undefined): Promise<DriverStat | undefined> {
    let answer: HttpAnswer;
    try {
      answer = await this.#send('HEAD', key, {}, signal);
    } catch (error) {
      const status = httpStatusOf(error);
      // A HEAD answer has no body: a missing container shows only as a 404, and Azurite's answer to a
      // bad signature only as a 403. A listing (which has a body) tells them apart.
      if (status === 403) await this.hasChildren(key, signal);
      if (status !== 404) throw error;
      return undefined;
    }
    if (answerHeader(answer, 'x-ms-meta-hdi_isfolder') === 'true') return { key, isDir: true };
    const md5 = answerHeader(answer, 'content-md5');
    return statFromHeaders(key, answer, { checksum: md5 ? { algorithm: 'md5', value: md5 } : undefined });
  }

  /** One List Blobs page, with metadata (a folder blob, `hdi_isfolder`, is a directory, not a file). */
  protected async listPage({ prefix, recursive, token, limit, signal }: ObjectListRequest) {
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

  /** One Delete Blob per blob (snapshots included), `deleteConcurrency` at once; gone already is done. */
  protected deleteObjects(keys: readonly string[], signal: AbortSignal | undefined): Promise<void> {
    const remove = (key: string) => this.#send('DELETE', key, { 'x-ms-delete-snapshots': 'include' }, signal);
    const gone = (error: unknown) => (error as { serviceCode?: string }).serviceCode === 'BlobNotFound';
    return deleteEach(keys, this.#config.deleteConcurrency, remove, gone);
  }

  /**
   * Copy Blob From URL, or Copy Blob polled until done (`copyBlob`). The source is authorized by a
   * SAS of its own (signed, or the connection string's), else by the destination's identity (within
   * one account).
   */
  protected copyObject(from: ObjectAddress, to: ObjectAddress, options: DriverCopyOptions): Promise<void> {
    const source = { container: from.bucket, blob: from.name };
    const { sas } = this.#clients;
    const sourceSas = this.#sas.canSign
      ? () => this.#sas.sas('', 'r', undefined, source)
      : sas === undefined
        ? undefined
        : async () => sas;
    return copyBlob(this.#http, source, { container: to.bucket, blob: to.name }, sourceSas, options);
  }
}
