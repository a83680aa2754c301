import { ArtifactsError } from './errors.js';
import { createRetrier, mlflowRetrySchedule, type Retrier, type RetryEvent } from './layers/retry.js';
import { MlflowHttpClient, mlflowClientSettings } from './mlflow-client.js';
import { validateArtifactPath } from './path-safety.js';
import { defineSettings, type OptionsOf } from './settings.js';
import { appendToUri, parseArtifactUri, redactUri } from './uri.js';

/**
 * How to reach an MLflow tracking server, declared once: the tracking URI plus the settings of
 * every MLflow client (`mlflowClientSettings`: credentials, TLS, timeout, retries), each falling back
 * to the variable MLflow reads, then to MLflow's default. The same names are options of
 * `@artifacts/http`, so one options object serves both the tracking lookup and an
 * `mlflow-artifacts:` root it leads to.
 */
export const trackingSettings = defineSettings('@artifacts/core (tracking)', {
  ...mlflowClientSettings.specs,
  onRetry: {
    type: 'function',
    help: 'called before each retry of a request (the CLI prints it with `--verbose`)',
    parse: (value: (event: RetryEvent) => void) => value,
  },
});

/** Options of `TrackingClient` and `resolveTrackingUri` (see `trackingSettings` and core's README). */
export type TrackingOptions = OptionsOf<typeof trackingSettings.specs>;

/** The option names above: only these reach the tracking client; stripped before a non-HTTP backend is opened. */
export const TRACKING_OPTION_KEYS = Object.keys(trackingSettings.specs) as readonly (keyof TrackingOptions)[];

/** A run as the tracking REST API returns its `info` (the fields @artifacts uses). */
export interface TrackingRunInfo {
  runId: string;
  experimentId: string;
  artifactUri: string;
  /** `active` or `deleted`. */
  lifecycleStage: string;
  status?: string;
  startTime?: number;
  endTime?: number;
  /** When the run was deleted (ms since the epoch), where the server reports it. */
  deletedTime?: number;
}

export interface TrackingExperiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: string;
}

export interface SearchRunsOptions {
  experimentIds: readonly string[];
  /** `ACTIVE_ONLY` (MLflow's default), `DELETED_ONLY` or `ALL`. */
  viewType?: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';
  filter?: string;
  /** Page size (the server caps it). Default 1000. */
  pageSize?: number;
  signal?: AbortSignal;
}

/** Keep-alive connections to the tracking server (gc pages through searches one request at a time). */
const CONNECTIONS = 2;

function pickTrackingOptions(options: object): TrackingOptions {
  const given = options as Record<string, unknown>;
  const picked: Record<string, unknown> = {};
  for (const key of TRACKING_OPTION_KEYS) if (given[key] !== undefined) picked[key] = given[key];
  return picked as TrackingOptions;
}

/**
 * A small client for the MLflow tracking REST API (`/api/2.0/mlflow/…`): what URI resolution and
 * `artifacts gc` need. Requests go through core's `MlflowHttpClient` (the artifact proxy's client:
 * credentials, TLS, stall timeout, MLflow error answers) and core's retry loop on MLflow's schedule.
 */
export class TrackingClient {
  readonly #client: MlflowHttpClient;
  readonly #retrier: Retrier;
  /** `http(s)://host[:port][/prefix]/api/2.0/mlflow`, without credentials. */
  readonly #base: string;
  /** The tracking URI with any password redacted. */
  readonly uri: string;
  /** The tracking URI as configured (may hold a password: never print it). */
  readonly rawUri: string;

  constructor(options: TrackingOptions = {}) {
    const { values } = trackingSettings.resolve(options);
    const uri = values.trackingUri?.trim();
    if (!uri) {
      throw ArtifactsError.invalidArgument(
        'runs:/ and models:/ URIs are resolved through an MLflow tracking server; set MLFLOW_TRACKING_URI (e.g. http://localhost:5000)',
      );
    }
    const parsed = (() => {
      try {
        return parseArtifactUri(uri);
      } catch {
        return undefined;
      }
    })();
    if (!parsed || (parsed.scheme !== 'http' && parsed.scheme !== 'https') || !parsed.host) {
      throw ArtifactsError.invalidArgument(
        `runs:/ and models:/ URIs need an http(s) tracking server, but the tracking URI is ${JSON.stringify(redactUri(uri))}; set MLFLOW_TRACKING_URI to the MLflow server (e.g. http://localhost:5000)`,
      );
    }
    const { requestTimeoutSeconds, maxRetries, backoffFactor, backoffJitter, onRetry } = values;
    this.#client = new MlflowHttpClient(
      {
        ...values,
        // The URI's user info comes after the options and variables, as in @artifacts/http.
        username: values.username ?? parsed.username,
        password: values.password ?? parsed.password,
        requestTimeoutMs: requestTimeoutSeconds * 1000,
      },
      CONNECTIONS,
    );
    this.rawUri = uri;
    this.uri = redactUri(uri);
    const prefix = parsed.path === '/' ? '' : parsed.path.replace(/\/+$/, '');
    this.#base = `${parsed.scheme}://${parsed.host}${parsed.port === undefined ? '' : `:${parsed.port}`}${prefix}/api/2.0/mlflow`;
    this.#retrier = createRetrier({
      maxAttempts: maxRetries + 1,
      ...mlflowRetrySchedule(backoffFactor, backoffJitter),
      ...(onRetry ? { onRetry } : {}),
    });
  }

  /** GET `/api/2.0/mlflow/<endpoint>?<query>`. */
  get<T>(endpoint: string, query: Record<string, string>, signal?: AbortSignal): Promise<T> {
    const qs = new URLSearchParams(query).toString();
    return this.#call<T>('GET', `${endpoint}${qs ? `?${qs}` : ''}`, undefined, signal);
  }

  /** POST `/api/2.0/mlflow/<endpoint>` with a JSON body. */
  post<T>(endpoint: string, body: unknown, signal?: AbortSignal): Promise<T> {
    return this.#call<T>('POST', endpoint, JSON.stringify(body), signal);
  }

  async getRun(runId: string, signal?: AbortSignal): Promise<TrackingRunInfo> {
    checkId(runId, 'run id');
    const answer = await this.get<{ run?: { info?: RawRunInfo } }>('runs/get', { run_id: runId }, signal);
    return runInfo(answer.run?.info, `run ${runId}`);
  }

  /** Every run matching, page by page (runs/search with page tokens). */
  async *searchRuns(options: SearchRunsOptions): AsyncGenerator<TrackingRunInfo> {
    if (options.experimentIds.length === 0) return;
    let pageToken: string | undefined;
    do {
      const answer = await this.post<{ runs?: { info?: RawRunInfo }[]; next_page_token?: string }>(
        'runs/search',
        {
          experiment_ids: options.experimentIds,
          run_view_type: options.viewType ?? 'ACTIVE_ONLY',
          max_results: options.pageSize ?? 1000,
          ...(options.filter ? { filter: options.filter } : {}),
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        options.signal,
      );
      for (const run of answer.runs ?? []) yield runInfo(run.info, 'a run in runs/search');
      pageToken = answer.next_page_token || undefined;
    } while (pageToken);
  }

  /** Every experiment, active and deleted (experiments/search, paged). */
  async *searchExperiments(
    options: { viewType?: 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL'; signal?: AbortSignal } = {},
  ): AsyncGenerator<TrackingExperiment> {
    let pageToken: string | undefined;
    do {
      const answer = await this.post<{ experiments?: RawExperiment[]; next_page_token?: string }>(
        'experiments/search',
        {
          view_type: options.viewType ?? 'ALL',
          max_results: 1000,
          ...(pageToken ? { page_token: pageToken } : {}),
        },
        options.signal,
      );
      for (const e of answer.experiments ?? []) {
        yield {
          experimentId: String(e.experiment_id ?? ''),
          name: String(e.name ?? ''),
          artifactLocation: String(e.artifact_location ?? ''),
          lifecycleStage: String(e.lifecycle_stage ?? 'active'),
        };
      }
      pageToken = answer.next_page_token || undefined;
    } while (pageToken);
  }

  /** The artifact URI of a registered model version (model-versions/get-download-uri). */
  async modelVersionDownloadUri(name: string, version: string, signal?: AbortSignal): Promise<string> {
    const answer = await this.get<{ artifact_uri?: string }>(
      'model-versions/get-download-uri',
      { name, version },
      signal,
    );
    if (!answer.artifact_uri) {
      throw new ArtifactsError(
        'internal',
        `${this.uri} returned no artifact_uri for model ${JSON.stringify(name)} version ${version}`,
      );
    }
    return answer.artifact_uri;
  }

  /** Closes the client's idle connections (they never keep the process alive). */
  async close(): Promise<void> {
    await this.#client.close();
  }

  async #call<T>(
    method: 'GET' | 'POST',
    endpoint: string,
    body: string | undefined,
    signal?: AbortSignal,
  ): Promise<T> {
    const url = `${this.#base}/${endpoint}`;
    const what = `tracking request ${method} ${endpoint}`;
    try {
      // Every request here only reads, or is a search: safe to repeat on a temporary error (408,
      // 429, 5xx, a stall, a broken connection), `Retry-After` honoured.
      return await this.#retrier.run(
        'tracking request',
        `${method} ${redactUri(url)}`,
        () =>
          this.#client.json<T>(method, url, {
            ...(body === undefined ? {} : { body }),
            headers: {
              accept: 'application/json',
              ...(body === undefined
                ? {}
                : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
            },
            what,
            ...(signal ? { signal } : {}),
          }),
        signal,
      );
    } catch (error) {
      if (signal?.aborted && !ArtifactsError.is(error, 'aborted')) {
        throw new ArtifactsError('aborted', `${what} was aborted`, { cause: error });
      }
      throw error;
    }
  }
}

interface RawRunInfo {
  run_id?: string;
  run_uuid?: string;
  experiment_id?: string | number;
  artifact_uri?: string;
  lifecycle_stage?: string;
  status?: string;
  start_time?: number | string;
  end_time?: number | string;
  deleted_time?: number | string;
}

interface RawExperiment {
  experiment_id?: string | number;
  name?: string;
  artifact_location?: string;
  lifecycle_stage?: string;
}

function optionalNumber(value: number | string | undefined): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function runInfo(raw: RawRunInfo | undefined, what: string): TrackingRunInfo {
  const runId = raw?.run_id ?? raw?.run_uuid;
  if (!raw || !runId || typeof raw.artifact_uri !== 'string') {
    throw new ArtifactsError(
      'internal',
      `the tracking server returned no run id or artifact_uri for ${what}`,
    );
  }
  const startTime = optionalNumber(raw.start_time);
  const endTime = optionalNumber(raw.end_time);
  const deletedTime = optionalNumber(raw.deleted_time);
  return {
    runId,
    experimentId: String(raw.experiment_id ?? ''),
    artifactUri: raw.artifact_uri,
    lifecycleStage: raw.lifecycle_stage ?? 'active',
    ...(raw.status === undefined ? {} : { status: raw.status }),
    ...(startTime === undefined ? {} : { startTime }),
    ...(endTime === undefined ? {} : { endTime }),
    ...(deletedTime === undefined ? {} : { deletedTime }),
  };
}

function checkId(value: string, what: string): void {
  if (!/^[A-Za-z0-9_.-]+$/.test(value) || value === '.' || value === '..') {
    throw ArtifactsError.invalidArgument(
      `${what} ${JSON.stringify(value)} must be letters, digits, '_', '-' or '.'`,
    );
  }
}

/** A parsed `runs:/` or `models:/` URI. */
export type TrackingUri =
  | { kind: 'run'; runId: string; path: string }
  | { kind: 'model-version'; name: string; version: string; path: string }
  | { kind: 'model-alias'; name: string; alias: string; path: string }
  | { kind: 'model-latest'; name: string; stage: string | undefined; path: string }
  | { kind: 'logged-model'; modelId: string; path: string };

/** True for `runs:` and `models:` URIs, which name artifacts through a tracking server. */
export function isTrackingUri(uri: string): boolean {
  return typeof uri === 'string' && /^(runs|models):/i.test(uri);
}

function invalidUri(uri: string, why: string): ArtifactsError {
  return ArtifactsError.invalidArgument(
    `invalid ${uri.split(':')[0]!.toLowerCase()}:/ URI ${JSON.stringify(uri)}: ${why}`,
  );
}

function decodeSegment(uri: string, segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw invalidUri(uri, `malformed percent-escape in ${JSON.stringify(segment)}`);
  }
}

/**
 * Parses MLflow's tracking URIs: `runs:/<run_id>[/<path>]`, `models:/<name>/<version>`,
 * `models:/<name>/latest`, `models:/<name>/<stage>`, `models:/<name>@<alias>` and
 * `models:/<model_id>` (a logged model, `m-…`). Models URIs may carry a path below the model
 * (`models:/name/1/MLmodel`), which the CLI uses to name one file.
 */
export function parseTrackingUri(uri: string): TrackingUri {
  const match = /^(runs|models):(.*)$/is.exec(uri);
  if (!match) throw ArtifactsError.invalidArgument(`${JSON.stringify(uri)} is not a runs:/ or models:/ URI`);
  const scheme = match[1]!.toLowerCase();
  let rest = match[2]!;
  if (/[\u0000-\u001f\u007f#?]/.test(rest)) {
    throw invalidUri(uri, "it contains '#', '?' or a control character");
  }
  if (rest.startsWith('//')) {
    // MLflow reads runs://<profile>/… as a Databricks profile: not something this store can reach.
    const slash = rest.indexOf('/', 2);
    if (slash !== 2) {
      throw invalidUri(
        uri,
        `a host or profile is not supported; write ${scheme}:/<…> and set MLFLOW_TRACKING_URI`,
      );
    }
    rest = rest.slice(2);
  }
  if (!rest.startsWith('/')) throw invalidUri(uri, `expected ${scheme}:/<…>`);
  const segments = rest.slice(1).split('/');
  while (segments.length > 0 && segments.at(-1) === '') segments.pop();
  const first = segments.shift();
  if (!first) {
    throw invalidUri(
      uri,
      scheme === 'runs'
        ? 'expected runs:/<run_id>[/<artifact path>]'
        : 'expected models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest',
    );
  }
  const subPath = (raw: string[]): string => {
    const decoded = raw.map((s) => decodeSegment(uri, s)).join('/');
    try {
      return validateArtifactPath(decoded, { label: 'its artifact path' });
    } catch (error) {
      throw invalidUri(uri, error instanceof Error ? error.message : String(error));
    }
  };
  if (scheme === 'runs') {
    const runId = decodeSegment(uri, first);
    try {
      checkId(runId, 'run id');
    } catch (error) {
      throw invalidUri(uri, (error as Error).message);
    }
    return { kind: 'run', runId, path: subPath(segments) };
  }
  const head = decodeSegment(uri, first);
  const at = head.lastIndexOf('@');
  if (at !== -1) {
    const name = head.slice(0, at);
    const alias = head.slice(at + 1);
    if (!name || !alias) throw invalidUri(uri, 'expected models:/<name>@<alias>');
    return { kind: 'model-alias', name, alias, path: subPath(segments) };
  }
  const second = segments.shift();
  if (second === undefined || second === '') {
    if (LOGGED_MODEL_ID.test(head)) return { kind: 'logged-model', modelId: head, path: '' };
    throw invalidUri(
      uri,
      'expected models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/latest',
    );
  }
  const suffix = decodeSegment(uri, second);
  if (/^\d+$/.test(suffix))
    return { kind: 'model-version', name: head, version: suffix, path: subPath(segments) };
  if (suffix.toLowerCase() === 'latest') {
    return { kind: 'model-latest', name: head, stage: undefined, path: subPath(segments) };
  }
  if (STAGES.has(suffix.toLowerCase())) {
    return { kind: 'model-latest', name: head, stage: suffix, path: subPath(segments) };
  }
  if (LOGGED_MODEL_ID.test(head)) {
    return { kind: 'logged-model', modelId: head, path: subPath([second, ...segments]) };
  }
  throw invalidUri(
    uri,
    `${JSON.stringify(suffix)} is not a version number, 'latest' or a stage (None, Staging, Production, Archived); for an alias write models:/<name>@<alias>`,
  );
}

const STAGES = new Set(['none', 'staging', 'production', 'archived']);
const LOGGED_MODEL_ID = /^m-[0-9a-f]+$/i;

interface RawModelVersion {
  version?: string | number;
}

/**
 * Resolves a `runs:/` or `models:/` URI through the tracking server to the artifact URI it names:
 * the run's `artifact_uri` (plus the path), or the model version's download URI
 * (model-versions/get-download-uri). The result may itself be `mlflow-artifacts:/…`, which the HTTP
 * backend resolves against the same tracking URI.
 */
export async function resolveTrackingUri(
  uri: string,
  options: TrackingOptions & { signal?: AbortSignal; [other: string]: unknown } = {},
): Promise<string> {
  const parsed = parseTrackingUri(uri);
  const client = new TrackingClient(pickTrackingOptions(options));
  try {
    return await resolveWith(client, uri, parsed, options.signal);
  } finally {
    await client.close();
  }
}

async function resolveWith(
  client: TrackingClient,
  uri: string,
  parsed: TrackingUri,
  signal: AbortSignal | undefined,
): Promise<string> {
  let root: string;
  switch (parsed.kind) {
    case 'run':
      root = (await client.getRun(parsed.runId, signal)).artifactUri;
      break;
    case 'model-version':
      root = await client.modelVersionDownloadUri(parsed.name, parsed.version, signal);
      break;
    case 'model-alias': {
      const answer = await client.get<{ model_version?: RawModelVersion }>(
        'registered-models/alias',
        { name: parsed.name, alias: parsed.alias },
        signal,
      );
      const version = answer.model_version?.version;
      if (version === undefined)
        throw ArtifactsError.notFound(`model ${JSON.stringify(parsed.name)}@${parsed.alias}`);
      root = await client.modelVersionDownloadUri(parsed.name, String(version), signal);
      break;
    }
    case 'model-latest': {
      const answer = await client.post<{ model_versions?: RawModelVersion[] }>(
        'registered-models/get-latest-versions',
        { name: parsed.name, ...(parsed.stage ? { stages: [parsed.stage] } : {}) },
        signal,
      );
      const versions = (answer.model_versions ?? [])
        .map((v) => Number(v.version))
        .filter((v) => Number.isInteger(v));
      if (versions.length === 0) {
        throw ArtifactsError.notFound(
          `a ${parsed.stage ? `${JSON.stringify(parsed.stage)} ` : ''}version of model ${JSON.stringify(parsed.name)}`,
        );
      }
      root = await client.modelVersionDownloadUri(parsed.name, String(Math.max(...versions)), signal);
      break;
    }
    case 'logged-model': {
      const answer = await client.get<{ model?: { info?: { artifact_uri?: string } } }>(
        `logged-models/${encodeURIComponent(parsed.modelId)}`,
        {},
        signal,
      );
      const found = answer.model?.info?.artifact_uri;
      if (!found) throw ArtifactsError.notFound(`logged model ${parsed.modelId}`);
      root = found;
      break;
    }
  }
  if (isTrackingUri(root)) {
    throw new ArtifactsError(
      'internal',
      `${client.uri} resolved ${uri} to ${redactUri(root)}, another tracking URI, instead of a storage location`,
    );
  }
  return parsed.path ? appendToUri(root, parsed.path) : root;
}

const HTTP_SCHEMES = new Set(['mlflow-artifacts', 'http', 'https']);

/**
 * openRepository's step for `runs:/` and `models:/`: resolve, then open the storage URI with the
 * same options. Tracking options stay only for a backend that talks to the same server.
 */
export async function openTrackingUri<R>(
  uri: string,
  options: TrackingOptions & Record<string, unknown>,
  open: (resolved: string, options: Record<string, unknown>) => Promise<R>,
): Promise<R> {
  const resolved = await resolveTrackingUri(uri, options);
  const scheme = parseArtifactUri(resolved).scheme;
  const rest: Record<string, unknown> = { ...options };
  // `onRetry` is the tracking client's alone; the rest are @artifacts/http's options too.
  delete rest.onRetry;
  if (!HTTP_SCHEMES.has(scheme)) for (const key of TRACKING_OPTION_KEYS) delete rest[key];
  return open(resolved, rest);
}
