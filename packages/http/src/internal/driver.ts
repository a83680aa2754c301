import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import {
  ArtifactsError,
  baseName,
  type DriverCapabilities,
  type DriverEntry,
  type DriverListOptions,
  type DriverRetryPolicy,
  type DriverStat,
  type DriverWriteOptions,
  discardBody,
  engineOptions,
  FILE_TREE_CAPABILITIES,
  type HttpAnswer,
  headerString,
  joinKey,
  MlflowHttpClient,
  type OperationOptions,
  parentKey,
  parseContentRange,
  type RangeSource,
  rangedReader,
  Spnego,
  type StorageDriver,
  statFromHeaders,
  validateArtifactPath,
} from '@artifacts/core';
import { type ArtifactEndpoint, artifactUrl, listUrl } from '../endpoint.js';
import { uploadMultipart } from './multipart.js';
import type { ResolvedHttpOptions } from './settings.js';

interface ListedFile {
  path?: unknown;
  is_dir?: unknown;
  file_size?: unknown;
}

// A variable keeps bundlers and tsc from resolving the optional dependency at build time.
const KERBEROS_PACKAGE = 'kerberos';
const loadKerberos = () => import(KERBEROS_PACKAGE);

/** What a 401 asking for Kerberos (`WWW-Authenticate: Negotiate`) says when Kerberos is off. */
const NEGOTIATE_HINT =
  'the server asks for Kerberos (SPNEGO): kinit, then set ARTIFACTS_HTTP_KERBEROS=true (or ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE to the ticket cache)';

/** Bytes per ranged GET of a large download from a server elsewhere. */
const DOWNLOAD_PART_SIZE = 8 * 1024 * 1024;
/**
 * The part of a download from a server on this machine: the whole file, one GET. Parallel ranges buy
 * nothing over loopback (no latency to hide, no per-connection window) and cost CPU on both sides.
 * A size, not "unbounded", so that offsets stay safe integers; a range reaching it is sent open-ended.
 */
const WHOLE_FILE = 2 ** 48;
/** Parallel listings while walking a tree (each is one request to the server). */
const LIST_CONCURRENCY = 8;
/** A listing equal to its parent's this many levels in a row is a loop, not a tree. */
const LOOP_REPEATS = 8;

interface Walk {
  key: string;
  depth: number;
  /** The parent directory's listing, as `fingerprint` gives it. */
  print: string | undefined;
  /** How many ancestors in a row listed what their parent listed. */
  repeats: number;
}

/** A listing by names, kinds and sizes, independent of where it was taken. */
function fingerprint(entries: DriverEntry[]): string {
  return entries
    .map((entry) => `${baseName(entry.key)}\u0000${entry.isDir ? 'd' : (entry.size ?? '')}`)
    .join('\u0001');
}

/**
 * The client of an artifact proxy (MLflow's `mlflow server --serve-artifacts`, or @artifacts/server):
 * keys map to `<apiBase>/mlflow-artifacts/artifacts/<root>/<key>`.
 */
export class HttpDriver implements StorageDriver {
  /**
   * Ranged reads (against a server that ignores Range, MLflow's, the driver cuts the range out
   * itself), no checksums; the API cannot create an empty directory.
   */
  readonly capabilities: DriverCapabilities = {
    ...FILE_TREE_CAPABILITIES,
    directories: false,
    contentTypes: true,
  };
  readonly secrets: readonly string[];
  /** MLflow's retry schedule, for core's retry layer; the engines take its attempts too. */
  readonly retryPolicy: DriverRetryPolicy;
  readonly #client: MlflowHttpClient;
  readonly #endpoint: ArtifactEndpoint;
  readonly #options: ResolvedHttpOptions;
  readonly #timeoutMs: number | undefined;
  /** `downloadPartSize`, else 8 MiB, or the whole file when the server is on this machine. */
  readonly #partSize: number;

  constructor(
    endpoint: ArtifactEndpoint,
    options: ResolvedHttpOptions,
    setup: { connections: number; timeoutMs?: number | undefined; retryPolicy?: DriverRetryPolicy },
  ) {
    this.#endpoint = endpoint;
    this.#options = options;
    this.#timeoutMs = setup.timeoutMs;
    // Decided once (not a URL parsed per file read).
    this.#partSize =
      options.downloadPartSize ??
      (isLoopback(new URL(endpoint.apiBase).hostname) ? WHOLE_FILE : DOWNLOAD_PART_SIZE);
    this.retryPolicy = setup.retryPolicy ?? { maxRetries: options.maxRetries };
    // SPNEGO, core's (hdfs's too): a new token for HTTP/<host> with every request.
    const spnego =
      options.kerberos &&
      new Spnego(options.kerberos, {
        load: loadKerberos,
        owner: '@artifacts/http',
        principalSetting: 'ARTIFACTS_HTTP_KERBEROS_PRINCIPAL',
        server: 'the server',
      });
    this.#client = new MlflowHttpClient(options, setup.connections, {
      spnego,
      negotiateHint: NEGOTIATE_HINT,
    });
    this.secrets = [...this.#client.secrets, ...(endpoint.password ? [endpoint.password] : [])];
  }

  /** The engines' bound on each stall, and attempts per part or range (MLflow's retries). */
  get #context() {
    return {
      timeoutMs: this.#timeoutMs,
      maxRetries: this.retryPolicy.maxRetries ?? this.#options.maxRetries,
    };
  }

  /** The key's path inside the server's destination. */
  #full(key: string): string {
    return joinKey(this.#endpoint.root, key);
  }

  #url(key: string): string {
    return artifactUrl(this.#endpoint.apiBase, this.#full(key));
  }

  async write(key: string, body: Readable, options: DriverWriteOptions): Promise<undefined> {
    const { size } = options;
    const o = this.#options;
    if (o.multipartUpload && size !== undefined && size >= o.multipartMinimumFileSize && size > 0) {
      const uploaded = await uploadMultipart(this.#client, {
        apiBase: this.#endpoint.apiBase,
        dir: parentKey(this.#full(key)),
        name: baseName(key),
        body,
        size,
        chunkSize: o.multipartChunkSize,
        concurrency: o.multipartConcurrency,
        engine: engineOptions(this.#context, options),
      });
      if (uploaded) return undefined;
    }
    const response = await this.#client.send('PUT', this.#url(key), {
      body,
      headers: {
        'content-type': options.contentType ?? 'application/octet-stream',
        ...(size === undefined ? {} : { 'content-length': String(size) }),
      },
      oneShot: true,
      what: `uploading artifact ${JSON.stringify(key)}`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await discardBody(response.body);
    return undefined;
  }

  /** Reads: parallel ranged GETs through core's engine (downloads written at their offsets). */
  readonly #reads = rangedReader({
    source: (key) => this.#rangeSource(key),
    plan: (key) => ({
      partSize: this.#partSize,
      concurrency: this.#options.downloadConcurrency,
      context: this.#context,
      what: `reading artifact ${JSON.stringify(key)}`,
    }),
  });
  readonly read = this.#reads.read;
  readonly readToFile = this.#reads.readToFile;

  /**
   * One GET for the engine, always for the range it asks: the first request of a read is the first
   * part (its answer names the file's length and the version, ETag, every later range is pinned to
   * with If-Match, so a replaced file fails instead of mixing two versions), so no byte is asked for
   * twice and a small file is still one request. An empty file has no byte to range over (416): it
   * is read with a plain GET. A server that ignores Range (MLflow's) answers 200 with the whole file,
   * which the engine reads from that one answer.
   */
  #rangeSource(key: string): RangeSource {
    const get = (headers: Record<string, string>, signal: AbortSignal) =>
      this.#client.send('GET', this.#url(key), {
        headers,
        what: `reading artifact ${JSON.stringify(key)}`,
        signal,
      });
    return {
      readRange: async ({ start, end, pin, signal }) => {
        let response: HttpAnswer;
        try {
          const last = end >= WHOLE_FILE - 1 ? '' : String(end);
          const headers: Record<string, string> = { range: `bytes=${start}-${last}` };
          if (pin !== undefined) headers['if-match'] = pin;
          response = await get(headers, signal);
        } catch (error) {
          const unsatisfiable = ArtifactsError.is(error) && error.context.status === 416;
          if (!(unsatisfiable && start === 0 && pin === undefined)) throw error;
          response = await get({}, signal);
        }
        const { size, etag, ...version } = versionOf(response);
        const range = parseContentRange(headerString(response.headers['content-range']));
        return {
          stream: response.body,
          served: range ?? { start: 0, end: size === undefined ? Number.MAX_SAFE_INTEGER : size - 1 },
          totalSize: range ? range.total : size,
          pin: etag,
          ...version,
        };
      },
    };
  }

  async stat(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    if (key === '') return { key: '', isDir: true };
    // @artifacts/server answers HEAD from a stat of its store: the size and the validators a read of
    // this version names (ETag, Last-Modified), so a read can be pinned to what stat saw. MLflow's
    // server answers HEAD by fetching the whole file from its store: it is only asked for listings.
    if (this.#client.answeredByOurServer) {
      const head = await this.#head(key, options);
      if (head) return head;
    }
    // A directory or nothing (404 to HEAD), or another server: the parent's listing says what it is.
    const entry = (await this.#listOnce(parentKey(key), options)).find(
      (e) => baseName(e.key) === baseName(key),
    );
    // The listing was this client's first answer from our server: its HEAD adds the validators.
    if (entry && !entry.isDir && this.#client.answeredByOurServer)
      return (await this.#head(key, options)) ?? entry;
    return entry;
  }

  /**
   * The file `key` as @artifacts/server's HEAD describes it; undefined when it answered with an
   * error (a directory or a missing key is 404), which the listing then decides. A connection
   * failure is thrown.
   */
  async #head(key: string, options: OperationOptions): Promise<DriverStat | undefined> {
    let response: HttpAnswer;
    try {
      response = await this.#client.send('HEAD', this.#url(key), {
        what: `reading artifact ${JSON.stringify(key)}`,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      if (ArtifactsError.is(error) && error.context.status !== undefined) return undefined;
      throw error;
    }
    await discardBody(response.body);
    return { key, isDir: false, ...versionOf(response) };
  }

  async *list(prefix: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    if (!options.recursive) {
      yield* await this.#listOnce(prefix, options);
      return;
    }
    // Breadth-first, up to LIST_CONCURRENCY listings in flight: each directory is asked for as soon
    // as its parent's listing names it (not after a whole batch of its parent's level; MLflow's
    // listing is one directory per request, so a deep tree is as many round trips as it has levels).
    // Directories are walked, files reported. The server is not trusted to describe a finite tree:
    // depth and entry count are bounded, and a directory whose listing repeats its parent's level
    // after level is a loop (a symlink cycle in the server's store, or a hostile server).
    const { listMaxDepth, listMaxEntries } = this.#options;
    const below = prefix === '' ? 'the repository root' : JSON.stringify(prefix);
    const stop = (code: 'integrity' | 'failed_precondition', what: string, raise = '') =>
      new ArtifactsError(code, `listing ${what}; stopped walking${raise && ` (raise ${raise})`}`);
    const pending: Walk[] = [{ key: prefix, depth: 0, print: undefined, repeats: 0 }];
    // Each listing in flight settles to its result or its error (a walk that stops leaves the others
    // to settle unobserved, never as an unhandled rejection).
    type Listed = { dir: Walk; entries?: DriverEntry[]; error?: unknown; done: Promise<Listed> };
    const inFlight = new Set<Promise<Listed>>();
    const start = (dir: Walk) => {
      const done: Promise<Listed> = this.#listOnce(dir.key, options).then(
        (entries) => ({ dir, entries, done }),
        (error: unknown) => ({ dir, error, done }),
      );
      inFlight.add(done);
    };
    let total = 0;
    while (pending.length > 0 || inFlight.size > 0) {
      while (inFlight.size < LIST_CONCURRENCY && pending.length > 0) start(pending.shift()!);
      const { dir, entries, error, done } = await Promise.race(inFlight);
      inFlight.delete(done);
      if (!entries) throw error;
      const print = fingerprint(entries);
      const repeats = dir.print === print ? dir.repeats + 1 : 0;
      if (repeats >= LOOP_REPEATS) {
        const loop = `the server returned the same listing ${LOOP_REPEATS + 1} levels in a row, a loop (a symbolic link cycle in its store?)`;
        throw stop('integrity', `${JSON.stringify(dir.key)}: ${loop}`);
      }
      total += entries.length;
      if (total > listMaxEntries) {
        const raise = 'listMaxEntries / ARTIFACTS_HTTP_LIST_MAX_ENTRIES if the tree is really that large';
        throw stop('failed_precondition', `${below}: more than ${listMaxEntries} entries`, raise);
      }
      for (const entry of entries) {
        if (!entry.isDir) yield entry;
        else if (dir.depth < listMaxDepth)
          pending.push({ key: entry.key, depth: dir.depth + 1, print, repeats });
        else {
          const raise = 'listMaxDepth / ARTIFACTS_HTTP_LIST_MAX_DEPTH if the tree is really that deep';
          const deep = `deeper than ${listMaxDepth} levels below ${below}`;
          throw stop('failed_precondition', `${JSON.stringify(entry.key)}: ${deep}`, raise);
        }
      }
    }
  }

  /**
   * One listing request (through core's `page`, which repeats it alone when it fails: a walk broken
   * deep in a tree resumes there); every name the server returns is validated before it is a key.
   */
  async #listOnce(prefix: string, options: OperationOptions & Pick<DriverListOptions, 'page'>) {
    const request = () =>
      this.#client.json<{ files?: unknown }>('GET', listUrl(this.#endpoint.apiBase, this.#full(prefix)), {
        what: `listing ${prefix === '' ? 'the repository root' : `artifact ${JSON.stringify(prefix)}`}`,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    const body = await (options.page ? options.page(request) : request());
    if (body.files === undefined) return [];
    if (!Array.isArray(body.files)) {
      throw new ArtifactsError('integrity', 'the server listing is malformed: `files` is not a list');
    }
    return body.files.map((file: ListedFile): DriverEntry => {
      if (typeof file?.path !== 'string') {
        throw new ArtifactsError('integrity', 'the server listing is malformed: an entry has no path');
      }
      // MLflow's server returns base names; a name with a separator or a `..` is hostile.
      const name = validateArtifactPath(file.path, {
        label: 'name returned by the server listing',
        allowRoot: false,
      });
      if (name.includes('/')) {
        throw ArtifactsError.invalidArgument(
          `name returned by the server listing ${JSON.stringify(file.path)} is refused: it is not a single file name`,
        );
      }
      const key = joinKey(prefix, name);
      if (file.is_dir === true) return { key, isDir: true };
      const size =
        file.file_size === undefined || file.file_size === null ? undefined : Number(file.file_size);
      return {
        key,
        isDir: false,
        ...(size !== undefined && Number.isSafeInteger(size) && size >= 0 ? { size } : {}),
      };
    });
  }

  async delete(key: string, options: OperationOptions): Promise<void> {
    if (this.#full(key) === '') {
      // The API has no "delete everything" call (and servers refuse it): delete each top-level entry.
      for (const entry of await this.#listOnce('', options)) await this.delete(entry.key, options);
      return;
    }
    try {
      const response = await this.#client.send('DELETE', this.#url(key), {
        what: `deleting artifact ${JSON.stringify(key)}`,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      await discardBody(response.body);
    } catch (error) {
      // Deleting nothing is not an error; an unknown endpoint (ENDPOINT_NOT_FOUND) still is.
      if (ArtifactsError.is(error, 'not_found') && error.context.errorCode === 'RESOURCE_DOES_NOT_EXIST')
        return;
      throw error;
    }
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/** A server on this machine: a loopback address or `localhost`. */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  // An IPv4-mapped loopback address, as the URL parser writes it (`[::ffff:7f00:1]`).
  return /^::ffff:(127\.|7f[0-9a-f]{2}:)/.test(host);
}

/** What an answer's headers say of the file: its length and version (ETag, Last-Modified), its type. */
function versionOf(answer: HttpAnswer): Omit<DriverStat, 'key' | 'isDir'> {
  const { key: _key, isDir: _isDir, ...version } = statFromHeaders('', answer);
  return version;
}
