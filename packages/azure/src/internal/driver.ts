import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import {
  ArtifactsError,
  type CompletedPart,
  type CopySource,
  chunkedUpload,
  type DriverCapabilities,
  type DriverCopyOptions,
  type DriverEntry,
  type DriverListOptions,
  type DriverStat,
  type DriverWriteOptions,
  type DriverWriteResult,
  engineOptions,
  guessContentType,
  type MultipartCapability,
  type MultipartUpload,
  type OpenContext,
  type OperationOptions,
  type PartLimits,
  type PresignCapability,
  type RangeSource,
  rangedReader,
  type StorageDriver,
} from '@artifacts/core';
import type { TokenCredential } from '@azure/core-auth';
import {
  BlobSASPermissions,
  BlobServiceClient,
  type BlockBlobClient,
  type ContainerClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  type StoragePipelineOptions,
  StorageSharedKeyCredential,
  type UserDelegationKey,
} from '@azure/storage-blob';
import type { AzureConfig } from './config.js';
import { mapAzureBodyError, mapAzureError, type Subject } from './errors.js';
import { loadDefaultAzureCredential } from './identity.js';

/** Copy Blob From URL copies at most this much in one synchronous call. */
const SYNC_COPY_MAX_BYTES = 256 * 1024 * 1024;
/** Presigned URLs default to one hour, as MLflow's do. */
const DEFAULT_EXPIRY_SECONDS = 3600;
/** Azure refuses a SAS valid for longer than 7 days with a user-delegation key. */
const MAX_DELEGATION_SECONDS = 7 * 24 * 3600;
/** Clock skew allowance: a SAS starts a little in the past. */
const SKEW_MS = 5 * 60 * 1000;

/**
 * The block id of part `n` of a proxied multipart upload. Azure wants every block id of a blob to be
 * base64 of the same length, so the number is zero-padded.
 */
export function partBlockId(partNumber: number): string {
  return Buffer.from(`artifacts-part-${String(partNumber).padStart(5, '0')}`).toString('base64');
}

/** Azure's block blob limits: 50,000 blocks of at most 4,000 MiB. */
export const AZURE_BLOCK_LIMITS: PartLimits = {
  maxParts: 50_000,
  minPartSize: 1,
  maxPartSize: 4000 * 1024 * 1024,
};

const digest = (data: Uint8Array): Buffer => createHash('md5').update(data).digest();

/** Parses `bytes 0-99/1234` into the total size (undefined for `*`). */
export function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = /\/(\d+)\s*$/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

function base64(value: Uint8Array | undefined): string | undefined {
  return value && value.length > 0 ? Buffer.from(value).toString('base64') : undefined;
}

/**
 * `body`, with its errors translated by `map` (the SDK's error for a connection cut under a body is
 * an AbortError, which must not read as the caller's abort). Destroying the result destroys `body`.
 */
function withBodyErrors(body: Readable, map: (error: unknown) => unknown): Readable {
  const out = new PassThrough({ highWaterMark: body.readableHighWaterMark });
  body.once('error', (error) => {
    const mapped = map(error);
    out.destroy(mapped instanceof Error ? mapped : error);
  });
  out.once('close', () => {
    if (!body.destroyed) body.destroy();
  });
  body.pipe(out);
  return out;
}

function withSignal(options: OperationOptions): { abortSignal?: AbortSignal } {
  return options.signal ? { abortSignal: options.signal } : {};
}

export class AzureBlobDriver implements StorageDriver {
  readonly capabilities: DriverCapabilities;
  readonly secrets: readonly string[];
  readonly multipart?: MultipartCapability;
  readonly presign?: PresignCapability;
  readonly #config: AzureConfig;
  readonly #service: BlobServiceClient;
  readonly #container: ContainerClient;
  readonly #sharedKey: StorageSharedKeyCredential | undefined;
  readonly #token: boolean;
  #delegationKey: { key: UserDelegationKey; expiresOn: number } | undefined;
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
    const credential = service.credential;
    this.#sharedKey = credential instanceof StorageSharedKeyCredential ? credential : undefined;
    this.#token = typeof (credential as Partial<TokenCredential>).getToken === 'function';
    this.secrets = secrets;
    const canSign = this.#sharedKey !== undefined || this.#token;
    this.capabilities = {
      rangeRead: true,
      directories: false,
      checksums: config.transactionalMd5 ? ['md5'] : [],
      multipartUpload: canSign,
      presign: canSign,
      serverSideCopy: true,
    };
    if (canSign) {
      this.multipart = {
        create: (key, options) => this.#createMultipart(key, options),
        complete: (key, uploadId, parts, options) => this.#completeMultipart(key, uploadId, parts, options),
        abort: async () => {
          // Uncommitted blocks cannot be deleted one by one; the service discards them after 7 days,
          // and nothing is visible at the name until a commit.
        },
      };
      this.presign = {
        getUrl: (key, options) => this.#sasUrl(key, 'r', options?.expiresInSeconds),
        putUrl: (key, options) => this.#sasUrl(key, 'cw', options?.expiresInSeconds),
      };
    }
  }

  /** The blob name of a key: the repository root joined with the key. */
  #name(key: string): string {
    const root = this.#config.root;
    if (key === '') return root;
    return root === '' ? key : `${root}/${key}`;
  }

  /** The listing prefix of the directory `key` ('' when the whole container is the root). */
  #dirPrefix(key: string): string {
    const name = this.#name(key);
    return name === '' ? '' : `${name}/`;
  }

  #relative(name: string): string {
    const root = this.#config.root;
    return root === '' ? name : name.slice(root.length + 1);
  }

  #blob(key: string): BlockBlobClient {
    return this.#container.getBlockBlobClient(this.#name(key));
  }

  #subject(what: string, key?: string): Subject {
    return {
      what,
      container: this.#config.container,
      account: this.#config.account,
      ...(key === undefined ? {} : { blob: this.#name(key) }),
    };
  }

  async #run<T>(what: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw mapAzureError(error, this.#subject(what, key), this.secrets);
    }
  }

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
          const stream =
            raw && withBodyErrors(raw, (e) => mapAzureBodyError(e, subject, this.secrets, request.signal));
          if (!stream) throw new ArtifactsError('internal', 'the blob service returned no body');
          const length = answer.contentLength ?? 0;
          const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(answer.contentRange ?? '');
          const total = totalFromContentRange(answer.contentRange) ?? length;
          const md5 = request.whole
            ? (base64(answer.blobContentMD5) ?? (answer.contentRange ? undefined : base64(answer.contentMD5)))
            : undefined;
          return {
            stream,
            served: range
              ? { start: Number(range[1]), end: Number(range[2]) }
              : { start: 0, end: length - 1 },
            totalSize: total,
            pin: answer.etag,
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
        for await (const page of this.#container
          .listBlobsFlat({ prefix: this.#dirPrefix(key), ...withSignal(options) })
          .byPage({ maxPageSize: 1 })) {
          if (status === 403) throw error;
          if (page.segment.blobItems.length > 0) return { key, isDir: true };
        }
      }
      return undefined;
    });
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const listPrefix = this.#dirPrefix(prefix);
    const subject = this.#subject('list', prefix);
    const maxPageSize = this.#config.listPageSize;
    const mapError = (error: unknown) => mapAzureError(error, subject, this.secrets);
    const base = { ...(listPrefix ? { prefix: listPrefix } : {}), ...withSignal(options) };
    try {
      if (options.recursive) {
        const flat = (continuationToken: string | undefined) =>
          this.#container
            .listBlobsFlat(base)
            .byPage({ maxPageSize, ...(continuationToken ? { continuationToken } : {}) });
        for await (const page of byPages(flat, options, mapError)) {
          for (const item of page.segment.blobItems) {
            const key = this.#relative(item.name);
            // A zero-length "directory marker" blob ending in '/' (left by other tools) is not a file.
            if (key === '' || key.endsWith('/')) continue;
            yield { key, isDir: false, size: item.properties.contentLength ?? 0 };
          }
        }
        return;
      }
      const tree = (continuationToken: string | undefined) =>
        this.#container
          .listBlobsByHierarchy('/', base)
          .byPage({ maxPageSize, ...(continuationToken ? { continuationToken } : {}) });
      for await (const page of byPages(tree, options, mapError)) {
        for (const dir of page.segment.blobPrefixes ?? []) {
          const key = this.#relative(dir.name).replace(/\/+$/, '');
          if (key !== '') yield { key, isDir: true };
        }
        for (const item of page.segment.blobItems) {
          const key = this.#relative(item.name);
          if (key === '' || key.endsWith('/')) continue;
          yield { key, isDir: false, size: item.properties.contentLength ?? 0 };
        }
      }
    } catch (error) {
      throw mapAzureError(error, subject, this.secrets);
    }
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    await this.#run('delete', key, async () => {
      const names: string[] = [];
      if (key !== '') names.push(this.#name(key));
      const listPrefix = this.#dirPrefix(key);
      const deleting = new Set<Promise<void>>();
      let failure: unknown;
      const remove = (name: string) => {
        const task = this.#container
          .deleteBlob(name, { deleteSnapshots: 'include', ...withSignal(options) })
          .then(
            () => undefined,
            (error: unknown) => {
              // Gone already (another deleter, or the exact key never existed): that is the goal.
              if (
                (error as { statusCode?: number; details?: { errorCode?: string } }).details?.errorCode ===
                'BlobNotFound'
              )
                return;
              failure ??= error;
            },
          );
        deleting.add(task);
        void task.finally(() => deleting.delete(task));
      };
      for (const name of names) remove(name);
      const base = { ...(listPrefix ? { prefix: listPrefix } : {}), ...withSignal(options) };
      for await (const page of this.#container
        .listBlobsFlat(base)
        .byPage({ maxPageSize: this.#config.listPageSize })) {
        for (const item of page.segment.blobItems) {
          if (failure) break;
          remove(item.name);
          while (deleting.size >= this.#config.deleteConcurrency) await Promise.race(deleting);
        }
        if (failure) break;
      }
      await Promise.all(deleting);
      if (failure) throw failure;
    });
  }

  async close(): Promise<void> {
    // The SDK keeps no connections that need closing (keep-alive sockets are unref'd).
  }

  // --- SAS: presigned URLs and proxied multipart uploads ------------------------------------------

  async #sas(
    key: string,
    permissions: string,
    expiresInSeconds = DEFAULT_EXPIRY_SECONDS,
    target?: { container: string; blob: string },
  ): Promise<string> {
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1) {
      throw ArtifactsError.invalidArgument(
        `expiresInSeconds must be a positive integer, got ${expiresInSeconds}`,
      );
    }
    const now = Date.now();
    const startsOn = new Date(now - SKEW_MS);
    const expiresOn = new Date(now + expiresInSeconds * 1000);
    const values = {
      containerName: target?.container ?? this.#config.container,
      blobName: target?.blob ?? this.#name(key),
      permissions: BlobSASPermissions.parse(permissions),
      startsOn,
      expiresOn,
      // Plain HTTP only for emulators and private endpoints configured as http://.
      protocol:
        this.#config.endpoint.startsWith('http:') || this.#service.url.startsWith('http:')
          ? SASProtocol.HttpsAndHttp
          : SASProtocol.Https,
    };
    if (this.#sharedKey) return generateBlobSASQueryParameters(values, this.#sharedKey).toString();
    if (expiresInSeconds > MAX_DELEGATION_SECONDS) {
      throw ArtifactsError.invalidArgument(
        `a user-delegation SAS can be valid for at most 7 days (${MAX_DELEGATION_SECONDS} s), got ${expiresInSeconds}`,
      );
    }
    const key_ = await this.#userDelegationKey(expiresOn.getTime());
    return generateBlobSASQueryParameters(values, key_, this.#service.accountName).toString();
  }

  /** A user-delegation key valid at least until `until`, reused while it is. */
  async #userDelegationKey(until: number): Promise<UserDelegationKey> {
    const cached = this.#delegationKey;
    if (cached && cached.expiresOn >= until) return cached.key;
    const now = Date.now();
    const expiresOn = new Date(now + MAX_DELEGATION_SECONDS * 1000 - SKEW_MS);
    const response = await this.#service.getUserDelegationKey(new Date(now - SKEW_MS), expiresOn);
    this.#delegationKey = { key: response, expiresOn: expiresOn.getTime() };
    return response;
  }

  /** Containers of one account, reached at one endpoint, copy between them. */
  locate(key: string): CopySource {
    return {
      scope: `azure ${this.#service.url.replace(/\?.*$/, '')} ${this.#service.accountName}`,
      address: `${this.#config.container}/${this.#name(key)}`,
    };
  }

  /**
   * Copy Blob From URL (synchronous, atomic) up to its 256 MiB limit when a SAS can authorize the
   * source; otherwise Copy Blob, polled until done (within one account the destination's identity
   * authorizes it) and aborted, its destination removed, when it fails or is cancelled. Both are
   * pinned to the source's ETag.
   */
  async copy(source: CopySource, toKey: string, options: DriverCopyOptions): Promise<void> {
    const slash = source.address.indexOf('/');
    const from = { container: source.address.slice(0, slash), blob: source.address.slice(slash + 1) };
    const sourceBlob = this.#service.getContainerClient(from.container).getBlobClient(from.blob);
    const dst = this.#blob(toKey);
    await this.#run('copy', toKey, async () => {
      let properties: Awaited<ReturnType<typeof sourceBlob.getProperties>>;
      try {
        properties = await sourceBlob.getProperties(withSignal(options));
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404)
          throw ArtifactsError.notFound(`blob ${JSON.stringify(source.address)}`, { cause: error });
        throw error;
      }
      const pinned = { sourceConditions: { ifMatch: properties.etag! }, ...withSignal(options) };
      const canSign = this.#sharedKey !== undefined || this.#token;
      if (canSign && (properties.contentLength ?? 0) <= SYNC_COPY_MAX_BYTES) {
        const sas = await this.#sas(toKey, 'r', DEFAULT_EXPIRY_SECONDS, from);
        await dst.syncCopyFromURL(`${sourceBlob.url}?${sas}`, pinned);
        return;
      }
      const poller = await dst.beginCopyFromURL(sourceBlob.url, pinned);
      try {
        await poller.pollUntilDone();
      } catch (error) {
        const copyId = poller.getOperationState().result?.copyId;
        if (copyId) await dst.abortCopyFromURL(copyId).catch(() => undefined);
        await dst.deleteIfExists().catch(() => undefined);
        throw error;
      }
    });
  }

  async #sasUrl(key: string, permissions: string, expiresInSeconds?: number): Promise<string> {
    return this.#run('presign', key, async () => {
      const sas = await this.#sas(key, permissions, expiresInSeconds);
      return `${this.#blob(key).url}?${sas}`;
    });
  }

  async #createMultipart(
    key: string,
    options: OperationOptions & { numParts: number; expiresInSeconds?: number },
  ): Promise<MultipartUpload> {
    return this.#run('multipart create', key, async () => {
      const sas = await this.#sas(key, 'w', options.expiresInSeconds);
      const url = this.#blob(key).url;
      const credentials = [];
      for (let partNumber = 1; partNumber <= options.numParts; partNumber++) {
        credentials.push({
          url: `${url}?comp=block&blockid=${encodeURIComponent(partBlockId(partNumber))}&${sas}`,
          partNumber,
          headers: {},
        });
      }
      return { uploadId: null, credentials };
    });
  }

  async #completeMultipart(
    key: string,
    _uploadId: string | null,
    parts: CompletedPart[],
    options: OperationOptions = {},
  ): Promise<void> {
    const numbers = parts.map((part) => part.partNumber).sort((a, b) => a - b);
    if (new Set(numbers).size !== numbers.length) {
      throw ArtifactsError.invalidArgument('each part number may appear only once');
    }
    await this.#run('multipart complete', key, async () => {
      await this.#blob(key).commitBlockList(numbers.map(partBlockId), {
        ...withSignal(options),
        blobHTTPHeaders: { blobContentType: guessContentType(key) },
      });
    });
  }
}

/** Pipeline options shared by every client this package builds. */
export function pipelineOptions(config: AzureConfig): StoragePipelineOptions {
  return {
    retryOptions: {
      maxTries: config.maxTries,
      ...(config.requestTimeoutMs === undefined ? {} : { tryTimeoutInMs: config.requestTimeoutMs }),
    },
  };
}

/** Builds the service client for the configured credential, in MLflow's order. */
export async function createServiceClient(
  config: AzureConfig,
): Promise<{ service: BlobServiceClient; secrets: string[] }> {
  const options = pipelineOptions(config);
  const source = config.credential;
  switch (source.kind) {
    case 'connection-string': {
      const secrets = [source.connectionString, ...connectionStringSecrets(source.connectionString)];
      let service: BlobServiceClient;
      try {
        service = BlobServiceClient.fromConnectionString(source.connectionString, options);
      } catch (error) {
        throw ArtifactsError.invalidArgument(
          `the Azure connection string (${source.from === 'option' ? 'option connectionString' : source.from}) is not valid: ${
            error instanceof Error ? error.message.split('\n')[0] : String(error)
          }`.replaceAll(source.connectionString, '***'),
        );
      }
      if (service.accountName && service.accountName !== config.account) {
        throw ArtifactsError.invalidArgument(
          `the Azure connection string is for storage account ${JSON.stringify(service.accountName)}, but the artifact URI names ${JSON.stringify(config.account)}`,
        );
      }
      return { service, secrets };
    }
    case 'account-key': {
      const credential = new StorageSharedKeyCredential(config.account, source.accountKey);
      return {
        service: new BlobServiceClient(config.endpoint, credential, options),
        secrets: [source.accountKey],
      };
    }
    case 'token':
      return { service: new BlobServiceClient(config.endpoint, source.credential, options), secrets: [] };
    case 'default-azure-credential': {
      const credential = await loadDefaultAzureCredential();
      return { service: new BlobServiceClient(config.endpoint, credential, options), secrets: [] };
    }
  }
}

/** The secret parts of a connection string (AccountKey, SharedAccessSignature). */
export function connectionStringSecrets(connectionString: string): string[] {
  const out: string[] = [];
  for (const part of connectionString.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if ((name === 'accountkey' || name === 'sharedaccesssignature') && value) {
      out.push(value);
      // The SAS's signature alone is the secret part that may show up in a URL.
      const sig = /(?:^|&)sig=([^&]+)/.exec(value);
      if (sig?.[1]) out.push(decodeURIComponent(sig[1]));
    }
  }
  return out;
}

/**
 * The pages of a listing, each one a request of its own sent through core's `options.page` (which
 * repeats a page that failed with a temporary error): a listing broken on page 2 resumes at page 2.
 */
async function* byPages<P extends { continuationToken?: string }>(
  open: (continuationToken: string | undefined) => AsyncIterator<P>,
  options: DriverListOptions,
  mapError: (error: unknown) => unknown,
): AsyncIterable<P> {
  let token: string | undefined;
  do {
    // mapped inside the request, so that core sees whether the failure is temporary
    const request = () =>
      open(token)
        .next()
        .catch((error: unknown) => {
          throw mapError(error);
        });
    const next = await (options.page ? options.page(request) : request());
    if (next.done) return;
    yield next.value;
    token = next.value.continuationToken || undefined;
  } while (token);
}
