import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  type CopySource,
  chunkedUpload,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  deleteTree,
  engineOptions,
  forEachLimited,
  type MultipartCapability,
  mappedCalls,
  type ObjectListRequest,
  ObjectNames,
  ObjectTree,
  type OpenContext,
  type OperationOptions,
  objectStoreCapabilities,
  type PartLimits,
  type PresignCapability,
  parseContentRange,
  type RangeSource,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import type { BlobServiceClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { copyBlob } from './copy.js';
import { azureBody, mapAzureError, type Subject } from './errors.js';
import { AzureSas } from './sas.js';
import type { AzureConfig } from './settings.js';

/** Azure's block blob limits: 50,000 blocks of at most 4,000 MiB. */
export const AZURE_BLOCK_LIMITS: PartLimits = {
  maxParts: 50_000,
  minPartSize: 1,
  maxPartSize: 4000 * 1024 * 1024,
};

const digest = (data: Uint8Array): Buffer => createHash('md5').update(data).digest();

function base64(value: Uint8Array | undefined): string | undefined {
  return value && value.length > 0 ? Buffer.from(value).toString('base64') : undefined;
}

function withSignal(options: OperationOptions): { abortSignal?: AbortSignal } {
  return options.signal ? { abortSignal: options.signal } : {};
}

/** A folder blob of Hadoop's WASB or of a hierarchical-namespace account seen through the Blob API. */
const isFolder = (metadata: Record<string, string> | undefined) => metadata?.hdi_isfolder === 'true';

export class AzureBlobDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: AzureConfig;
  readonly #service: BlobServiceClient;
  readonly #container: ContainerClient;
  readonly #names: ObjectNames;
  readonly #sas: AzureSas;
  readonly #tree: ObjectTree;
  readonly #context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'>;

  constructor(
    config: AzureConfig,
    service: BlobServiceClient,
    secrets: readonly string[],
    context: Pick<OpenContext, 'timeoutMs' | 'maxRetries'> = {},
  ) {
    this.#context = context;
    this.#config = config;
    this.#service = service;
    this.#container = service.getContainerClient(config.container);
    this.#names = new ObjectNames(config.root);
    this.#tree = new ObjectTree(this.#names, (request) =>
      this.#run(request.what, request.key, () => this.#listPage(request)),
    );
    this.secrets = secrets;
    this.#sas = new AzureSas({
      service,
      container: config.container,
      endpoint: config.endpoint,
      name: (key) => this.#names.name(key),
      blob: (key) => this.#blob(key),
      run: (what, key, fn) => this.#run(what, key, fn),
    });
    this.capabilities = objectStoreCapabilities(config.transactionalMd5 ? ['md5'] : [], this.#sas.canSign);
    if (this.#sas.canSign) {
      this.multipart = this.#sas.multipart();
      this.presign = this.#sas.presign();
    }
  }

  #blob(key: string): BlockBlobClient {
    return this.#container.getBlockBlobClient(this.#names.name(key));
  }

  #subject(what: string, key?: string): Subject {
    const { container, account } = this.#config;
    return { what, container, account, ...(key === undefined ? {} : { blob: this.#names.name(key) }) };
  }

  readonly #run = mappedCalls((error, what, key) =>
    mapAzureError(error, this.#subject(what, key), this.secrets),
  );

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const blob = this.#blob(key);
    const md5 = this.#config.transactionalMd5;
    const whole = md5 ? createHash('md5') : undefined;
    // A random prefix per upload: two writers of the same name never commit each other's blocks.
    const nonce = randomBytes(12).toString('hex');
    const headers = options.contentType ? { blobContentType: options.contentType } : {};
    const run = <T>(fn: () => Promise<T>) => this.#run('upload', key, fn);
    // Bodies go as a factory of streams of the part's buffer: the SDK takes a chunk as the socket
    // drains (progress for the stall timeout) and can start a new stream for a new try.
    const serviceMd5 = await run(() =>
      chunkedUpload<string, string | undefined>(
        body,
        {
          putWhole: (part) =>
            run(async () => {
              const response = await blob.upload(
                part.watched ? () => part.body() : part.data,
                part.data.length,
                {
                  abortSignal: part.signal,
                  blobHTTPHeaders: headers,
                  ...(md5 ? { transactionalContentMD5: digest(part.data) } : {}),
                },
              );
              return base64(response.contentMD5);
            }),
          // Block blobs need no start: staged blocks stay invisible until the commit.
          create: async () => {},
          uploadPart: (part) =>
            run(async () => {
              const id = Buffer.from(`${nonce}-${String(part.partNumber).padStart(6, '0')}`).toString(
                'base64',
              );
              await blob.stageBlock(id, part.watched ? () => part.body() : part.data, part.data.length, {
                abortSignal: part.signal,
                ...(md5 ? { transactionalContentMD5: digest(part.data) } : {}),
              });
              return id;
            }),
          complete: (ids, context) =>
            run(async () => {
              await blob.commitBlockList(ids, {
                abortSignal: context.signal,
                blobHTTPHeaders: { ...headers, ...(whole ? { blobContentMD5: whole.digest() } : {}) },
              });
              return undefined;
            }),
          // Uncommitted blocks cannot be deleted one by one; the service discards them.
          abort: async () => {},
        },
        {
          partSize: this.#config.blockSize,
          concurrency: this.#config.uploadConcurrency,
          limits: AZURE_BLOCK_LIMITS,
          size: options.size,
          ...engineOptions(this.#context, options),
          onData: whole ? (data) => whole.update(data) : undefined,
          what: `uploading ${JSON.stringify(key)}`,
        },
      ),
    );
    return serviceMd5 ? { checksum: { algorithm: 'md5', value: serviceMd5 } } : undefined;
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
   * One GET for the engine: with one download in flight (the default) the first request of a
   * whole-blob read takes the whole blob; later ranges are pinned to the first answer's ETag
   * (If-Match), so a blob replaced mid-read fails (412) instead of mixing two versions. The engine
   * resumes a broken body itself, so the SDK's own resuming is off.
   */
  #rangeSource(key: string): RangeSource {
    const blob = this.#blob(key);
    const subject = this.#subject('download', key);
    const download = (offset: number, count: number | undefined, signal: AbortSignal, etag?: string) =>
      blob.download(offset, count, {
        maxRetryRequests: 0,
        abortSignal: signal,
        ...(etag ? { conditions: { ifMatch: etag } } : {}),
      });
    return {
      readRange: (request) =>
        this.#run('download', key, async () => {
          const whole = request.whole && this.#config.downloadConcurrency <= 1;
          const count = whole ? undefined : request.end - request.start + 1;
          let answer: Awaited<ReturnType<typeof download>>;
          try {
            answer = await download(request.start, count, request.signal, request.pin);
          } catch (error) {
            // A range on an empty blob is unsatisfiable: read it whole instead.
            if ((error as { statusCode?: number }).statusCode === 416 && request.start === 0) {
              answer = await download(0, undefined, request.signal, request.pin);
            } else throw error;
          }
          const raw = answer.readableStreamBody as Readable | undefined;
          const stream = raw && azureBody(raw, subject, this.secrets, request.signal);
          if (!stream) throw new ArtifactsError('internal', 'the blob service returned no body');
          const length = answer.contentLength ?? 0;
          const range = parseContentRange(answer.contentRange);
          const total = range?.total ?? length;
          const md5 = request.whole
            ? (base64(answer.blobContentMD5) ?? (answer.contentRange ? undefined : base64(answer.contentMD5)))
            : undefined;
          return {
            stream,
            served: range ?? { start: 0, end: length - 1 },
            totalSize: total,
            pin: answer.etag,
            lastModified: answer.lastModified,
            ...(whole ? { rangesHonoured: true } : {}),
            ...(md5 ? { checksum: { algorithm: 'md5' as const, value: md5 } } : {}),
            contentType: answer.contentType,
          };
        }),
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key, isDir: true };
    return this.#run('stat', key, async () => {
      try {
        const props = await this.#blob(key).getProperties(withSignal(options));
        if (isFolder(props.metadata)) return { key, isDir: true };
        const md5 = base64(props.contentMD5);
        return {
          key,
          isDir: false,
          size: props.contentLength ?? 0,
          ...(props.lastModified ? { lastModified: props.lastModified } : {}),
          ...(props.etag ? { etag: props.etag } : {}),
          ...(props.contentType ? { contentType: props.contentType } : {}),
          ...(md5 ? { checksum: { algorithm: 'md5' as const, value: md5 } } : {}),
        };
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        // A HEAD answer has no body: a missing container shows only as a 404, and Azurite's answer to a
        // bad signature only as a 403. The listing below (which has a body) tells them apart.
        if (status !== 404 && status !== 403) throw error;
        const isDir = await this.#tree.hasChildren(key, 'stat', options.signal);
        if (status === 403) throw error;
        return isDir ? { key, isDir: true } : undefined;
      }
    });
  }

  /**
   * Listings (core's `ObjectTree`): `listBlobsByHierarchy('/')` or `listBlobsFlat`, one page a
   * request, with metadata: a Hadoop/ADLS folder blob (`hdi_isfolder`) is a directory, not a file.
   */
  list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    return this.#tree.list(prefix, options);
  }

  async #listPage({ prefix, recursive, token, limit, signal }: ObjectListRequest) {
    const base = { ...(prefix ? { prefix } : {}), includeMetadata: true, ...withSignal({ signal }) };
    const settings = { maxPageSize: limit ?? this.#config.listPageSize, continuationToken: token };
    const pages = recursive
      ? this.#container.listBlobsFlat(base).byPage(settings)
      : this.#container.listBlobsByHierarchy('/', base).byPage(settings);
    const next = await pages.next();
    const segment = next.done ? undefined : next.value.segment;
    const objects = (segment?.blobItems ?? []).map((item) => ({
      name: item.name,
      size: item.properties.contentLength ?? 0,
      folder: isFolder(item.metadata),
    }));
    const prefixes = (segment as { blobPrefixes?: { name: string }[] } | undefined)?.blobPrefixes ?? [];
    return {
      page: { objects, prefixes: prefixes.map((p) => p.name) },
      next: next.done ? undefined : next.value.continuationToken,
    };
  }

  /** Core lists the tree and hands over batches (`deleteTree`): never a sibling sharing the prefix. */
  delete(key: string, options: OperationOptions): Promise<void> {
    return deleteTree(this, key, options);
  }

  /** One Delete Blob per blob (snapshots included), `deleteConcurrency` at once; gone already is done. */
  async deleteMany(keys: readonly string[], options: OperationOptions): Promise<void> {
    await this.#run('delete', keys[0], () =>
      forEachLimited(keys, this.#config.deleteConcurrency, async (key) => {
        await this.#container
          .deleteBlob(this.#names.name(key), {
            deleteSnapshots: 'include',
            ...withSignal(options),
          })
          .catch((error: { details?: { errorCode?: string } }) => {
            if (error.details?.errorCode !== 'BlobNotFound') throw error;
          });
      }),
    );
  }

  async close(): Promise<void> {
    // The SDK keeps no connections that need closing (keep-alive sockets are unref'd).
  }

  /** Containers of one account, reached at one endpoint, copy between them. */
  locate(key: string): CopySource {
    return {
      scope: `azure ${this.#service.url.replace(/\?.*$/, '')} ${this.#service.accountName}`,
      address: `${this.#config.container}/${this.#names.name(key)}`,
    };
  }

  /** Copy Blob From URL, or Copy Blob polled until done: see `copyBlob`. */
  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = { container: source.address.slice(0, slash), blob: source.address.slice(slash + 1) };
    const sas = this.#sas.canSign ? () => this.#sas.sas(toKey, 'r', undefined, from) : undefined;
    const sourceBlob = this.#service.getContainerClient(from.container).getBlobClient(from.blob);
    await this.#run('copy', toKey, () => copyBlob(sourceBlob, this.#blob(toKey), sas, options));
  }
}
