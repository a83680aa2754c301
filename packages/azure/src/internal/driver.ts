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
  guessContentType,
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
  partCredentials,
  type RangeRequest,
  type RangeResponse,
  type RangeSource,
  type StoreHttp,
  sortedParts,
  statFromHeaders,
  storeRange,
} from '@artifacts/core';
import { copyBlob } from './copy.js';
import { mapAzureError, type Subject } from './errors.js';
import { type AzureClients, type BlobAddress, blobPath, parseBlobList } from './lean.js';
import { AzureSas, partBlockId } from './sas.js';
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
      secrets: config.secrets,
      context,
      reads: { partSize: config.downloadPartSize, concurrency: config.downloadConcurrency },
      // Containers of one account, reached at one endpoint, copy between them.
      copyScope: `azure ${clients.http.url} ${clients.account}`,
      transport: clients.http,
    });
    this.#config = config;
    this.#clients = clients;
    this.#http = clients.http;
    this.#sas = new AzureSas(clients, this.#http.url);
    this.capabilities = {
      ...objectStoreCapabilities(config.transactionalMd5 ? ['md5'] : [], this.#sas.canSign),
      // The MD5 this driver computes for the blob's record is the whole body's (`sent`).
      hashesWrites: config.transactionalMd5,
    };
    if (this.#sas.canSign) {
      this.multipart = this.#multipart();
      this.presign = {
        getUrl: (key, options) => this.#signedUrl(key, 'r', options?.expiresInSeconds),
        putUrl: (key, options) => this.#signedUrl(key, 'cw', options?.expiresInSeconds),
      };
    }
  }

  /** `key`'s blob: its container and name. */
  #address(key: string): BlobAddress {
    return { container: this.#config.container, blob: this.names.name(key) };
  }

  /** A blob's path below the service URL. */
  #path(key: string): string {
    return blobPath(this.#config.container, this.names.name(key));
  }

  /** A blob's URI as users write it, the scheme and host of the repository's. */
  #uri({ container, blob }: BlobAddress): string {
    return `${this.#config.scheme}://${container}@${this.#config.host}/${blob}`;
  }

  #subject(what: string, key?: string): Subject {
    const { container, account } = this.#config;
    const blob = key === undefined ? {} : { blob: this.names.name(key), uri: this.#uri(this.#address(key)) };
    return { what, container, account, reached: this.#http.reached(), ...blob };
  }

  protected mapError(error: unknown, what: string, key: string | undefined): unknown {
    return mapAzureError(error, this.#subject(what, key), this.secrets);
  }

  protected describe(key: string): string {
    return this.#uri(this.#address(key));
  }

  /** A presigned URL of `key`'s blob: its URL with a SAS of `permissions`. */
  #signedUrl(key: string, permissions: string, seconds: number | undefined): Promise<string> {
    return this.run('presign', key, async () => {
      const sas = await this.#sas.sas(this.#address(key), permissions, seconds);
      return `${this.#http.url}${this.#path(key)}?${sas}`;
    });
  }

  /** Proxied multipart uploads: a Put Block URL per part, committed as one block list. */
  #multipart(): MultipartCapability {
    return {
      create: (key, options) =>
        this.run('multipart create', key, async () => {
          const sas = await this.#sas.sas(this.#address(key), 'w', options.expiresInSeconds);
          const url = `${this.#http.url}${this.#path(key)}`;
          const block = async (n: number) =>
            `${url}?comp=block&blockid=${encodeURIComponent(partBlockId(n))}&${sas}`;
          return { uploadId: null, credentials: await partCredentials(options.numParts, block) };
        }),
      complete: async (key, _uploadId, parts, options = {}) => {
        const ids = sortedParts(parts).map((part) => partBlockId(part.partNumber));
        const type = { 'x-ms-blob-content-type': guessContentType(key) };
        await this.run('multipart complete', key, () =>
          commitBlocks(this.#http, this.#path(key), ids, type, options.signal),
        );
      },
      // Uncommitted blocks cannot be deleted one by one; the service discards them after 7 days,
      // and nothing is visible at the name until a commit.
      abort: async () => {},
    };
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
        what: `uploading ${this.describe(key)}`,
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
   * Copy Blob From URL, or Copy Blob polled until done or stalled for the timeout (`copyBlob`). The
   * source is authorized by a SAS of its own: signed (a key, a token credential), or the connection
   * string's.
   */
  protected copyObject(from: ObjectAddress, to: ObjectAddress, options: DriverCopyOptions): Promise<void> {
    const source = { container: from.bucket, blob: from.name };
    const { auth } = this.#clients;
    const sourceSas = auth.kind === 'sas' ? async () => auth.sas : () => this.#sas.sas(source, 'r');
    const target = { container: to.bucket, blob: to.name };
    const timeoutMs = options.timeoutMs ?? this.context.timeoutMs;
    const stalls = { ...options, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
    return copyBlob(this.#http, { ...source, uri: this.#uri(source) }, target, sourceSas, stalls);
  }
}
