import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactsError } from './errors.js';
import { validateArtifactPath } from './path-safety.js';

/** A parsed artifact URI. Which fields are set depends on the scheme. */
export interface ArtifactUri {
  /** Lower-case scheme; 'file' for bare paths. */
  scheme: string;
  /** The URI as given (may hold a password: never print it; print `redactUri(uri)`). */
  uri: string;
  host?: string;
  port?: number;
  /** Percent-decoded user name. */
  username?: string;
  /** Percent-decoded password. A secret. */
  password?: string;
  /** S3/GCS bucket, Azure container. */
  bucket?: string;
  /** Azure storage account. */
  account?: string;
  /** Azure endpoint suffix, e.g. 'core.windows.net' or 'core.chinacloudapi.cn'. */
  endpointSuffix?: string;
  /**
   * The location inside the store. Object stores (s3, gs, wasbs): the key prefix, no leading or
   * trailing slash, kept literally. File systems (file, sftp, ftp, hdfs, viewfs): an absolute,
   * percent-decoded POSIX path. HTTP-like schemes: the decoded URL path.
   */
  path: string;
  /** The raw query string without '?', when there is one. */
  query?: string;
}

const OBJECT_STORE_SCHEMES = new Set(['s3', 's3a', 's3n', 'gs', 'wasbs', 'wasb']);
const AUTHORITY_REQUIRED = new Set(['s3', 's3a', 's3n', 'gs', 'ftp', 'ftps', 'sftp']);

/**
 * The pieces of a `scheme:…` URI, still percent-encoded, for a backend plugin's own `parse` (the
 * Azure plugin reads `wasbs://<container>@<account>.blob.<suffix>/…` from them).
 */
export interface UriParts {
  /** Lower-case scheme. */
  scheme: string;
  authority?: string;
  /** The raw (still percent-encoded) user information before the authority's `@`. */
  userInfo?: string;
  /** The authority's host and port (the authority minus any user information). */
  hostPort?: string;
  path: string;
  query?: string;
}

/** The `invalid_argument` error for a malformed URI: says why, never echoes its password. */
export function invalidUri(uri: string, why: string): ArtifactsError {
  return invalid(uri, why);
}

/**
 * The `invalid_argument` error for a malformed authority, showing only the scheme (the authority may
 * hold a password that was not percent-encoded).
 */
export function invalidUriAuthority(uri: string, why: string): ArtifactsError {
  return invalidAuthority(uri, why);
}

function invalid(uri: string, why: string): ArtifactsError {
  return ArtifactsError.invalidArgument(`invalid artifact URI ${JSON.stringify(redactUri(uri))}: ${why}`);
}

/**
 * For a malformed authority: its text (and what follows, when the authority ended early at a `/`)
 * may be a password that the user did not percent-encode, so only the scheme is shown.
 */
function invalidAuthority(uri: string, why: string): ArtifactsError {
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.exec(uri)?.[0] ?? '';
  return ArtifactsError.invalidArgument(`invalid artifact URI "${scheme}//…": ${why}`);
}

function firstDelimiter(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '/' || c === '?' || c === '#') return i;
  }
  return text.length;
}

/** A plain `host`, `host:port`, `[v6]` or `[v6]:port`, with nothing that would end user information. */
const HOST_PORT = /^(?:\[[^\]]*\]|[^:@]*)(?::\d*)?$/;

/**
 * Splits what follows `scheme://` into user information, host-and-port and the rest (path, query).
 * The one rule for parsing and for redaction alike: the user information ends at the last `@`
 * before the path, so a password holding `@` stays whole. When the authority (up to the first `/`,
 * `?` or `#`) has no `@` and is not a plain host[:port] (`u:pa` in `ftp://u:pa/ss@host/x`), a
 * password with an unencoded `/`, `?` or `#` is the only reading that makes it a URI: the path then
 * starts after the first `@` that follows, and the user information ends at the last `@` before it.
 * Left: a password whose part before such a character is all digits reads as a port (RFC 3986's
 * reading); percent-encode those characters.
 */
export function splitAuthority(rest: string): { userInfo?: string; hostPort: string; after: string } {
  const end = firstDelimiter(rest, 0);
  const authority = rest.slice(0, end);
  let at = authority.lastIndexOf('@');
  if (at === -1 && !HOST_PORT.test(authority)) {
    const firstAt = rest.indexOf('@', end);
    if (firstAt !== -1) at = rest.lastIndexOf('@', firstDelimiter(rest, firstAt) - 1);
  }
  if (at === -1) return { hostPort: authority, after: rest.slice(end) };
  const pathStart = firstDelimiter(rest, at);
  return {
    userInfo: rest.slice(0, at),
    hostPort: rest.slice(at + 1, pathStart),
    after: rest.slice(pathStart),
  };
}

function splitUri(uri: string): UriParts | undefined {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(uri);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  let rest = match[2]!;
  let auth: Pick<UriParts, 'authority' | 'userInfo' | 'hostPort'> = {};
  if (rest.startsWith('//')) {
    const { userInfo, hostPort, after } = splitAuthority(rest.slice(2));
    auth = {
      authority: userInfo === undefined ? hostPort : `${userInfo}@${hostPort}`,
      hostPort,
      ...(userInfo === undefined ? {} : { userInfo }),
    };
    rest = after;
  }
  const q = rest.indexOf('?');
  if (q === -1) return { scheme, ...auth, path: rest };
  return { scheme, ...auth, path: rest.slice(0, q), query: rest.slice(q + 1) };
}

function decode(uri: string, value: string, what: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    const why = `its ${what} has a malformed percent-escape`;
    throw what === 'path' ? invalid(uri, why) : invalidAuthority(uri, why);
  }
}

function parseAuthority(
  uri: string,
  parts: Pick<UriParts, 'userInfo' | 'hostPort'>,
): Pick<ArtifactUri, 'host' | 'port' | 'username' | 'password'> {
  const out: Pick<ArtifactUri, 'host' | 'port' | 'username' | 'password'> = {};
  const hostPort = parts.hostPort ?? '';
  if (parts.userInfo !== undefined) {
    const userInfo = parts.userInfo;
    const colon = userInfo.indexOf(':');
    const user = colon === -1 ? userInfo : userInfo.slice(0, colon);
    if (user) out.username = decode(uri, user, 'user name');
    if (colon !== -1) out.password = decode(uri, userInfo.slice(colon + 1), 'password');
  }
  let host = hostPort;
  let port: string | undefined;
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end === -1) throw invalidAuthority(uri, 'its IPv6 host has no closing bracket');
    host = hostPort.slice(0, end + 1);
    const after = hostPort.slice(end + 1);
    if (after) {
      if (!after.startsWith(':')) throw invalidAuthority(uri, 'unexpected characters after the IPv6 host');
      port = after.slice(1);
    }
  } else {
    const colon = hostPort.lastIndexOf(':');
    if (colon !== -1) {
      host = hostPort.slice(0, colon);
      port = hostPort.slice(colon + 1);
    }
  }
  if (port !== undefined && port !== '') {
    if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
      throw invalidAuthority(uri, 'its port is not a number between 1 and 65535');
    }
    out.port = Number(port);
  }
  if (host) {
    if (/[\s/\\%]/.test(host)) throw invalidAuthority(uri, 'its host contains characters a host cannot have');
    out.host = host.toLowerCase();
  }
  return out;
}

/** Resolves '.' and refuses '..' in an absolute or relative path taken from a URI. */
function normalizeUriPath(uri: string, path: string, objectStore: boolean): string {
  const segments = path.split('/');
  const kept: string[] = [];
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw invalid(uri, "its path contains a '..' segment");
    kept.push(segment);
  }
  return objectStore ? kept.join('/') : `/${kept.join('/')}`;
}

/**
 * Splits a `scheme:…` URI into its still percent-encoded parts for a plugin's own `parse`, with the
 * checks every URI gets (no control characters, no fragment, no backslash).
 */
export function splitArtifactUri(uri: string): UriParts {
  checkCharacters(uri);
  const parts = splitUri(uri);
  if (!parts) throw invalid(uri, 'it has no scheme');
  if (uri.includes('\\')) throw invalid(uri, 'it contains a backslash');
  return parts;
}

/** An object store's key prefix from a URI's raw path: literal, no leading or trailing '/', no '..'. */
export function objectKeyPrefix(uri: string, rawPath: string): string {
  return normalizeUriPath(uri, rawPath, true);
}

function checkCharacters(uri: string): void {
  if (typeof uri !== 'string')
    throw ArtifactsError.invalidArgument(`artifact URI must be a string, got ${typeof uri}`);
  if (uri.trim() === '') throw ArtifactsError.invalidArgument('artifact URI is empty');
  if (/[\u0000-\u001f\u007f]/.test(uri)) throw invalid(uri, 'it contains a NUL or control character');
  // A '#' inside a password is not a fragment: look for one only outside the user information.
  if (
    redactUri(uri)
      .replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^@]*:\*\*\*@/, '')
      .includes('#')
  )
    throw invalid(uri, "it contains '#', which would cut the path short; percent-encode it as %23");
}

const S3_BUCKET = /^[a-z0-9][a-z0-9.\-_]{1,61}[a-z0-9]$/;
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/**
 * Parses any artifact URI form @artifacts knows: bare and relative paths, `file:` URIs, `s3://`,
 * `gs://`, `ftp://`, `ftps://`, `sftp://`,
 * `hdfs://host:port/…`, `hdfs:///…`, `viewfs://…`, `webhdfs://`, `mlflow-artifacts:/…`,
 * `mlflow-artifacts://host:port/…`, `http(s)://…`. Other schemes are parsed generically so that
 * third-party backends can use the result; a form that belongs to one backend (Azure's
 * `wasbs://<container>@<account>.blob.core.windows.net/…`) is read by that plugin's `parse`, from
 * `splitArtifactUri`. A malformed URI is an `invalid_argument` error that says
 * what is wrong, and never echoes its password.
 */
export function parseArtifactUri(uri: string): ArtifactUri {
  checkCharacters(uri);
  if (/^[a-zA-Z]:[\\/]/.test(uri)) {
    if (process.platform === 'win32') return { scheme: 'file', uri, path: resolvePath(uri) };
    throw invalid(uri, 'it looks like a Windows drive path');
  }
  const parts = splitUri(uri);
  if (!parts) {
    if (uri.includes('\\')) throw invalid(uri, 'a local path must use forward slashes');
    return { scheme: 'file', uri, path: resolvePath(uri) };
  }
  const { scheme, authority, query } = parts;
  const base: ArtifactUri = { scheme, uri, path: '', ...(query === undefined ? {} : { query }) };

  if (AUTHORITY_REQUIRED.has(scheme) && !authority) {
    throw invalid(uri, `a ${scheme}:// URI needs ${describeAuthority(scheme)}`);
  }
  if (uri.includes('\\')) throw invalid(uri, 'it contains a backslash');

  switch (scheme) {
    case 'file': {
      if (authority && authority !== 'localhost') {
        throw invalid(uri, 'file URIs on a remote host are not supported; mount it and use a local path');
      }
      // Checked on the decoded raw path: the URL parser would silently resolve `%2e%2e` away.
      if (decode(uri, parts.path, 'path').split('/').includes('..')) {
        throw invalid(uri, "its path contains a '..' segment");
      }
      let path: string;
      try {
        path = fileURLToPath(`file://${parts.path || '/'}`);
      } catch (error) {
        throw invalid(uri, error instanceof Error ? error.message : String(error));
      }
      if (path.split('/').includes('..')) throw invalid(uri, "its path contains a '..' segment");
      return { ...base, path: resolvePath(path) };
    }
    case 's3':
    case 's3a':
    case 's3n':
    case 'gs': {
      const bucket = authority!;
      const pattern = scheme === 'gs' ? GCS_BUCKET : S3_BUCKET;
      if (bucket.includes('@') || bucket.includes(':')) {
        throw invalid(uri, 'credentials and ports do not belong in a bucket URI; configure them separately');
      }
      if (!pattern.test(bucket)) throw invalid(uri, `${JSON.stringify(bucket)} is not a valid bucket name`);
      return { ...base, bucket, path: normalizeUriPath(uri, parts.path, true) };
    }
    case 'ftp':
    case 'ftps':
    case 'sftp': {
      const auth = parseAuthority(uri, parts);
      if (!auth.host) throw invalid(uri, 'it has no host');
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), false);
      return { ...base, ...auth, path };
    }
    case 'hdfs':
    case 'viewfs':
    case 'webhdfs':
    case 'swebhdfs': {
      const auth = authority ? parseAuthority(uri, parts) : {};
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), false);
      return { ...base, ...auth, path };
    }
    case 'mlflow-artifacts': {
      const auth = authority ? parseAuthority(uri, parts) : {};
      if (auth.password !== undefined || auth.username !== undefined) {
        throw invalid(
          uri,
          'credentials do not belong in an mlflow-artifacts URI; set MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN',
        );
      }
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), true);
      return { ...base, ...auth, path };
    }
    case 'http':
    case 'https': {
      if (!authority) throw invalid(uri, 'it has no host');
      const auth = parseAuthority(uri, parts);
      if (!auth.host) throw invalid(uri, 'it has no host');
      const path = normalizeUriPath(uri, decode(uri, parts.path, 'path'), false);
      return { ...base, ...auth, path };
    }
    default: {
      const auth = authority ? parseAuthority(uri, parts) : {};
      return { ...base, ...auth, path: decode(uri, parts.path, 'path') };
    }
  }
}

function describeAuthority(scheme: string): string {
  if (scheme === 's3' || scheme === 's3a' || scheme === 's3n' || scheme === 'gs')
    return 'a bucket: s3://<bucket>/<path>'.replace('s3', scheme);
  return 'a host';
}

/** True for object-store schemes whose paths are key prefixes rather than directories. */
export function isObjectStoreScheme(scheme: string): boolean {
  return OBJECT_STORE_SCHEMES.has(scheme);
}

const SECRET_QUERY_KEYS =
  /^(sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|token|access_token|password|secret|key|code|skoid|sktid|sks|skv|skt|ske|saoid|suoid)$/i;

/**
 * The URI with any password replaced by '***' and secret query parameters (SAS signatures,
 * presigned-URL signatures, tokens) masked. Never throws: a string that is not a URI comes back as
 * it was, minus anything that looks like `user:password@`.
 */
export function redactUri(uri: string): string {
  if (typeof uri !== 'string') return String(uri);
  let out = uri;
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.exec(uri);
  if (scheme) {
    const { userInfo, hostPort, after } = splitAuthority(uri.slice(scheme[0].length));
    const colon = userInfo?.indexOf(':') ?? -1;
    if (userInfo !== undefined && colon !== -1) {
      out = `${scheme[0]}${userInfo.slice(0, colon)}:***@${hostPort}${after}`;
    }
  }
  const q = out.indexOf('?');
  if (q !== -1) {
    const query = out
      .slice(q + 1)
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const key = eq === -1 ? pair : pair.slice(0, eq);
        return eq !== -1 && SECRET_QUERY_KEYS.test(safeDecode(key)) ? `${key}=***` : pair;
      })
      .join('&');
    out = `${out.slice(0, q)}?${query}`;
  }
  return out;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Appends a relative path to a URI, keeping its query string: `appendToUri('s3://b/p?x=1', 'a/b')`
 * → 's3://b/p/a/b?x=1'. The path is validated first.
 */
export function appendToUri(uri: string, path: string): string {
  const key = validateArtifactPath(path);
  if (key === '') return uri;
  const parts = splitUri(uri);
  const encodeSegments = parts !== undefined && !isObjectStoreScheme(parts.scheme);
  const suffix = encodeSegments ? encodePath(key) : key;
  const q = parts ? uri.indexOf('?') : -1;
  const head = q === -1 ? uri : uri.slice(0, q);
  const tail = q === -1 ? '' : uri.slice(q);
  const joined = head.endsWith('/') ? `${head}${suffix}` : `${head}/${suffix}`;
  return `${joined}${tail}`;
}

/**
 * A key or path as it goes into a URL's path: each `/`-separated segment percent-encoded (RFC 3986:
 * only unreserved characters kept), the slashes kept. `encodePath('a b/c#d')` → `'a%20b/c%23d'`.
 */
export function encodePath(path: string): string {
  return path.split('/').map(encodeRfc3986).join('/');
}

/** RFC 3986 percent-encoding (unreserved characters kept): a path segment or a query name or value. */
export function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

const ID = /^[A-Za-z0-9_.-]+$/;

/** `<root>/<experimentId>/<runId>/artifacts`, MLflow's run artifact layout. */
export function runArtifactUri(root: string, experimentId: string, runId: string): string {
  for (const [name, value] of [
    ['experiment id', experimentId],
    ['run id', runId],
  ] as const) {
    if (typeof value !== 'string' || !ID.test(value) || value === '.' || value === '..') {
      throw ArtifactsError.invalidArgument(
        `${name} ${JSON.stringify(value)} must be letters, digits, '_', '-' or '.'`,
      );
    }
  }
  return appendToUri(root, `${experimentId}/${runId}/artifacts`);
}
