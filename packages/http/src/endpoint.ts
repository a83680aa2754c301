import {
  ArtifactsError,
  type ArtifactUri,
  encodePath,
  parseArtifactUri,
  redactUri,
  validateArtifactPath,
} from '@artifacts/core';

/** Where the artifact API of a server lives and which directory of it a repository is rooted at. */
export interface ArtifactEndpoint {
  /**
   * The server's API base, without credentials: `http(s)://host[:port][/prefix]/api/2.0`. The
   * artifact routes hang below it (`<apiBase>/mlflow-artifacts/artifacts/<path>`).
   */
  apiBase: string;
  /** The repository's root inside the server's artifact destination ('' = the destination itself). */
  root: string;
  /** Basic credentials found in the URI or tracking URI's user info (never shown). */
  username?: string;
  password?: string;
}

const ARTIFACTS_ROUTE = '/mlflow-artifacts/artifacts';

function origin(scheme: string, host: string, port: number | undefined): string {
  return `${scheme}://${host}${port === undefined ? '' : `:${port}`}`;
}

/**
 * Resolves an artifact URI to the server endpoint it names, as MLflow does:
 * - `mlflow-artifacts:/<p>` + tracking URI `http(s)://host[:port][/prefix]` →
 *   `http(s)://host[:port][/prefix]/api/2.0/mlflow-artifacts/artifacts/<p>`;
 * - `mlflow-artifacts://host:port/<p>` takes host and port from the URI, the scheme (and prefix) from
 *   the tracking URI when it is http(s), else `http`;
 * - `http(s)://host[:port]/…/api/2.0/mlflow-artifacts/artifacts/<p>` is used as it is.
 * `trackingUri` defaults to `MLFLOW_TRACKING_URI`.
 */
export function resolveArtifactEndpoint(
  uri: string | ArtifactUri,
  trackingUri: string | undefined = process.env.MLFLOW_TRACKING_URI,
): ArtifactEndpoint {
  const location = typeof uri === 'string' ? parseArtifactUri(uri) : uri;
  if (location.scheme === 'mlflow-artifacts') return resolveMlflowArtifacts(location, trackingUri);
  if (location.scheme === 'http' || location.scheme === 'https') return resolveHttp(location);
  throw ArtifactsError.invalidArgument(
    `@artifacts/http serves mlflow-artifacts:, http: and https: URIs, not ${location.scheme}:`,
  );
}

function resolveMlflowArtifacts(location: ArtifactUri, trackingUri: string | undefined): ArtifactEndpoint {
  const tracking = trackingUri?.trim() ? parseTracking(trackingUri.trim()) : undefined;
  const root = validateArtifactPath(location.path, { label: 'artifact URI path' });
  if (!location.host) {
    if (!tracking) {
      throw ArtifactsError.invalidArgument(
        `${redactUri(location.uri)} names no server, so the tracking URI must be an http(s) URI of the MLflow server; set MLFLOW_TRACKING_URI (e.g. http://localhost:5000)${trackingUri?.trim() ? `; it is ${JSON.stringify(redactUri(trackingUri))}` : ''}`,
      );
    }
    return { ...tracking.credentials, apiBase: `${tracking.origin}${tracking.prefix}/api/2.0`, root };
  }
  const scheme = tracking?.scheme ?? 'http';
  const prefix = tracking?.prefix ?? '';
  return { apiBase: `${origin(scheme, location.host, location.port)}${prefix}/api/2.0`, root };
}

function parseTracking(
  trackingUri: string,
):
  | { scheme: string; origin: string; prefix: string; credentials: { username?: string; password?: string } }
  | undefined {
  let parsed: ArtifactUri;
  try {
    parsed = parseArtifactUri(trackingUri);
  } catch {
    return undefined;
  }
  if ((parsed.scheme !== 'http' && parsed.scheme !== 'https') || !parsed.host) return undefined;
  const prefix = parsed.path === '/' ? '' : encodePath(parsed.path.replace(/\/+$/, ''));
  return {
    scheme: parsed.scheme,
    origin: origin(parsed.scheme, parsed.host, parsed.port),
    prefix,
    credentials: {
      ...(parsed.username === undefined ? {} : { username: parsed.username }),
      ...(parsed.password === undefined ? {} : { password: parsed.password }),
    },
  };
}

function resolveHttp(location: ArtifactUri): ArtifactEndpoint {
  const path = location.path;
  // `/mlflow-artifacts/artifacts` as a whole segment pair.
  const at = path.search(/\/mlflow-artifacts\/artifacts(?=\/|$)/);
  if (at === -1) {
    throw ArtifactsError.invalidArgument(
      `${redactUri(location.uri)} is not an artifact proxy URI: expected http(s)://host[:port]/…/api/2.0${ARTIFACTS_ROUTE}/<path>`,
    );
  }
  const head = path.slice(0, at).replace(/\/+$/, '');
  const root = validateArtifactPath(path.slice(at + ARTIFACTS_ROUTE.length).replace(/^\/+/, ''), {
    label: 'artifact URI path',
  });
  return {
    apiBase: `${origin(location.scheme, location.host!, location.port)}${encodePath(head)}`,
    root,
    ...(location.username === undefined ? {} : { username: location.username }),
    ...(location.password === undefined ? {} : { password: location.password }),
  };
}

/** `<apiBase>/mlflow-artifacts/artifacts/<key>`, each segment percent-encoded. */
export function artifactUrl(apiBase: string, key: string): string {
  return `${apiBase}${ARTIFACTS_ROUTE}/${encodePath(key)}`;
}

/** `<apiBase>/mlflow-artifacts/artifacts?path=<key>`. */
export function listUrl(apiBase: string, key: string): string {
  return `${apiBase}${ARTIFACTS_ROUTE}?path=${encodeURIComponent(key)}`;
}

/** `<apiBase>/mlflow-artifacts/mpu/<action>/<dir>`. */
export function multipartUrl(apiBase: string, action: 'create' | 'complete' | 'abort', dir: string): string {
  return `${apiBase}/mlflow-artifacts/mpu/${action}/${encodePath(dir)}`;
}
