import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import {
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
  discardBody,
  engineOptions,
  forEachLimited,
  type HttpAnswer,
  headerString,
  type MultipartCapability,
  mappedCalls,
  type ObjectListRequest,
  ObjectNames,
  ObjectTree,
  type OpenContext,
  type OperationOptions,
  objectStoreCapabilities,
  type PartLimits,
  type PartRequest,
  type PresignCapability,
  parseContentRange,
  parseHttpDate,
  type RangeSource,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import type { AzureClients } from './client.js';
import { copyBlob } from './copy.js';
import { mapAzureError, type Subject } from './errors.js';
import { type LeanAzure, parseBlobList } from './lean.js';
import { AzureSas } from './sas.js';
import type { AzureConfig } from './settings.js';

/** Azure's block blob limits: 50,000 blocks of at most 4,000 MiB. */
export const AZURE_BLOCK_LIMITS: PartLimits = {
  maxParts: 50_000,
  minPartSize: 1,
  maxPartSize: 4000 * 1024 * 1024,
};

const md5Of = (data: Uint8Array): string => createHash('md5').update(data).digest('base64');

/** A header's value, when present and not empty. */
const header = (answer: HttpAnswer, name: string) => headerString(answer.headers[name]) || undefined;

/** A folder blob of Hadoop's WASB or of a hierarchical-namespace account seen through the Blob API. */
const isFolder = (metadata: Record<string, string> | undefined) => metadata?.hdi_isfolder === 'true';

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

/** The Put Block List body: the blocks, in order, each the latest version staged under its id. */
function blockList(ids: readonly string[]): Buffer {
  let xml = '<?xml version="1.0" encoding="utf-8"?><BlockList>';
  for (const id of ids) xml += `<Latest>${id}</Latest>`;
  return Buffer.from(`${xml}</BlockList>`);
}

export class AzureBlobDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: AzureConfig;
  readonly #clients: AzureClients;
  readonly #lean: LeanAzure;
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
    this.#lean = clients.lean;
    this.#names = new ObjectNames(config.root);
    this.#tree = new ObjectTree(this.#names, (request) =>
      this.#run(request.what, request.key, () => this.#listPage(request)),
    );
    this.secrets = clients.secrets;
    this.#sas = new AzureSas({
      clients,
      container: config.container,
      endpoint: this.#lean.url,
      name: (key) => this.#names.name(key),
      url: (key) => this.#lean.blobUrl(config.container, this.#names.name(key)),
      commit: async (key, ids, contentType, signal) => {
        await this.#commit(this.#names.name(key), ids, { 'x-ms-blob-content-type': contentType }, signal);
      },
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

  #subject(what: string, key?: string): Subject {
    const { container, account } = this.#config;
    return {
      what,
      container,
      account,
      reached: this.#lean.reached(),
      ...(key === undefined ? {} : { blob: this.#names.name(key) }),
    };
  }

  readonly #run = mappedCalls((error, what, key) =>
    mapAzureError(error, this.#subject(what, key), this.secrets),
  );

  /** Put Block List: commits the staged blocks as the blob, with its properties. */
  async #commit(name: string, ids: readonly string[], headers: Record<string, string>, signal?: AbortSignal) {
    const body = blockList(ids);
    const answer = await this.#lean.send({
      method: 'PUT',
      container: this.#config.container,
      blob: name,
      query: [['comp', 'blocklist']],
      headers: { 'content-length': String(body.length), 'content-type': 'application/xml', ...headers },
      body,
      signal,
    });
    await discardBody(answer.body);
  }

  async write(
    key: string,
    body: Readable,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult | undefined> {
    const name = this.#names.name(key);
    const container = this.#config.container;
    // One MD5 of the whole body, in order: the blob's recorded MD5 (later downloads are verified
    // against it), a single Put Blob's Content-MD5, and what core compares with the service's.
    const whole = this.#config.transactionalMd5 ? createHash('md5') : undefined;
    let bytes = 0;
    let wholeMd5: string | undefined;
    const finalMd5 = () => {
      wholeMd5 ??= whole?.digest('base64');
      return wholeMd5;
    };
    // A random prefix per upload: two writers of the same name never commit each other's blocks.
    const nonce = randomBytes(12).toString('hex');
    const type: Record<string, string> = options.contentType
      ? { 'x-ms-blob-content-type': options.contentType }
      : {};
    const run = <T>(fn: () => Promise<T>) => this.#run('upload', key, fn);
    // Under a stall timeout, bodies go as a stream of the part's buffer: each chunk the socket takes
    // is progress for the timeout. Without one, the buffer itself.
    const put = async (part: PartRequest, query: [string, string][], headers: Record<string, string>) => {
      const answer = await this.#lean.send({
        method: 'PUT',
        container,
        blob: name,
        query,
        headers: { 'content-length': String(part.data.length), ...headers },
        body: part.watched ? part.body() : part.data,
        signal: part.signal,
      });
      await discardBody(answer.body);
      return answer;
    };
    const serviceMd5 = await run(() =>
      chunkedUpload<string, string | undefined>(
        body,
        {
          // The service checks the Content-MD5 it is sent and answers the MD5 it stored.
          putWhole: (part) =>
            run(async () => {
              const md5 = finalMd5();
              const answer = await put(part, [], {
                'x-ms-blob-type': 'BlockBlob',
                ...type,
                ...(md5 ? { 'content-md5': md5 } : {}),
              });
              return whole ? header(answer, 'content-md5') : undefined;
            }),
          // Block blobs need no start: staged blocks stay invisible until the commit.
          create: async () => {},
          // Each block's Content-MD5 makes the service check the bytes it stages: the blob's MD5
          // recorded at the commit is ours, which it does not check.
          uploadPart: (part) =>
            run(async () => {
              const id = Buffer.from(`${nonce}-${String(part.partNumber).padStart(6, '0')}`).toString(
                'base64',
              );
              await put(
                part,
                [
                  ['comp', 'block'],
                  ['blockid', id],
                ],
                whole ? { 'content-md5': md5Of(part.data) } : {},
              );
              return id;
            }),
          complete: (ids, context) =>
            run(async () => {
              const md5 = finalMd5();
              await this.#commit(
                name,
                ids,
                { ...type, ...(md5 ? { 'x-ms-blob-content-md5': md5 } : {}) },
                context.signal,
              );
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
          onData: whole
            ? (data) => {
                whole.update(data);
                bytes += data.length;
              }
            : undefined,
          what: `uploading ${JSON.stringify(key)}`,
        },
      ),
    );
    const md5 = finalMd5();
    if (!md5) return undefined;
    return {
      ...(serviceMd5 ? { checksum: { algorithm: 'md5', value: serviceMd5 } } : {}),
      sent: { checksum: { algorithm: 'md5', value: md5 }, bytes },
    };
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
    const name = this.#names.name(key);
    const get = (range: string | undefined, signal: AbortSignal, etag: string | undefined) =>
      this.#lean.send({
        method: 'GET',
        container: this.#config.container,
        blob: name,
        headers: { ...(range ? { 'x-ms-range': range } : {}), ...(etag ? { 'if-match': etag } : {}) },
        signal,
      });
    return {
      readRange: (request) =>
        this.#run('download', key, async () => {
          const whole = request.whole && this.#config.downloadConcurrency <= 1;
          const range = whole ? undefined : `bytes=${request.start}-${request.end}`;
          let answer: HttpAnswer;
          try {
            answer = await get(range, request.signal, request.pin);
          } catch (error) {
            // A range on an empty blob is unsatisfiable: read it whole instead.
            if ((error as { statusCode?: number }).statusCode === 416 && request.start === 0) {
              answer = await get(undefined, request.signal, request.pin);
            } else throw error;
          }
          const length = Number(header(answer, 'content-length') ?? 0);
          const contentRange = header(answer, 'content-range');
          const served = parseContentRange(contentRange);
          const md5 = request.whole
            ? (header(answer, 'x-ms-blob-content-md5') ??
              (contentRange ? undefined : header(answer, 'content-md5')))
            : undefined;
          const subject = this.#subject('download', key);
          return {
            stream: mapBodyErrors(answer.body, (error) => mapAzureError(error, subject, this.secrets)),
            served: served ?? { start: 0, end: length - 1 },
            totalSize: served?.total ?? length,
            pin: header(answer, 'etag'),
            lastModified: parseHttpDate(header(answer, 'last-modified')),
            ...(whole ? { rangesHonoured: true } : {}),
            ...(md5 ? { checksum: { algorithm: 'md5' as const, value: md5 } } : {}),
            contentType: header(answer, 'content-type'),
          };
        }),
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key, isDir: true };
    return this.#run('stat', key, async () => {
      let answer: HttpAnswer;
      try {
        answer = await this.#lean.send({
          method: 'HEAD',
          container: this.#config.container,
          blob: this.#names.name(key),
          signal: options.signal,
        });
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        // A HEAD answer has no body: a missing container shows only as a 404, and Azurite's answer to a
        // bad signature only as a 403. The listing below (which has a body) tells them apart.
        if (status !== 404 && status !== 403) throw error;
        const isDir = await this.#tree.hasChildren(key, 'stat', options.signal);
        if (status === 403) throw error;
        return isDir ? { key, isDir: true } : undefined;
      }
      await discardBody(answer.body);
      if (header(answer, 'x-ms-meta-hdi_isfolder') === 'true') return { key, isDir: true };
      const lastModified = parseHttpDate(header(answer, 'last-modified'));
      const etag = header(answer, 'etag');
      const contentType = header(answer, 'content-type');
      const md5 = header(answer, 'content-md5');
      return {
        key,
        isDir: false,
        size: Number(header(answer, 'content-length') ?? 0),
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
    const query: [string, string][] = [
      ['restype', 'container'],
      ['comp', 'list'],
      ['include', 'metadata'],
      ['maxresults', String(limit ?? this.#config.listPageSize)],
    ];
    if (prefix) query.push(['prefix', prefix]);
    if (!recursive) query.push(['delimiter', '/']);
    if (token) query.push(['marker', token]);
    const answer = await this.#lean.send({ method: 'GET', container: this.#config.container, query, signal });
    const chunks: Buffer[] = [];
    for await (const chunk of answer.body) chunks.push(chunk as Buffer);
    const page = parseBlobList(Buffer.concat(chunks).toString('utf8'));
    return {
      page: {
        objects: page.blobs.map((blob) => ({
          name: blob.name,
          size: blob.size,
          folder: isFolder(blob.metadata),
        })),
        prefixes: page.prefixes,
      },
      next: page.next,
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
        try {
          const answer = await this.#lean.send({
            method: 'DELETE',
            container: this.#config.container,
            blob: this.#names.name(key),
            headers: { 'x-ms-delete-snapshots': 'include' },
            signal: options.signal,
          });
          await discardBody(answer.body);
        } catch (error) {
          if ((error as { details?: { errorCode?: string } }).details?.errorCode !== 'BlobNotFound')
            throw error;
        }
      }),
    );
  }

  async close(): Promise<void> {
    this.#clients.destroy();
  }

  /** Containers of one account, reached at one endpoint, copy between them. */
  locate(key: string): CopySource {
    return {
      scope: `azure ${this.#lean.url} ${this.#clients.account}`,
      address: `${this.#config.container}/${this.#names.name(key)}`,
    };
  }

  /** Copy Blob From URL, or Copy Blob polled until done: see `copyBlob`. */
  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = { container: source.address.slice(0, slash), blob: source.address.slice(slash + 1) };
    const sas = this.#sas.canSign ? () => this.#sas.sas(toKey, 'r', undefined, from) : undefined;
    await this.#run('copy', toKey, async () => {
      const service = await this.#clients.service();
      const sourceBlob = service.getContainerClient(from.container).getBlobClient(from.blob);
      const target = service
        .getContainerClient(this.#config.container)
        .getBlockBlobClient(this.#names.name(toKey));
      await copyBlob(sourceBlob, target, sas, options);
    });
  }
}
