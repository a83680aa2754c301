import { join } from 'node:path';
import {
  ArtifactsError,
  type ArtifactUri,
  checkEndpoint,
  parseArtifactUri,
  readSettingFile,
  xmlReader,
} from '@artifacts/core';

/** Hadoop configuration properties (`core-site.xml` then `hdfs-site.xml`, later files win). */
export type HadoopConf = ReadonlyMap<string, string>;

/** `*-site.xml` (`<configuration><property><name/><value/></property>…`), through core's XML reader. */
const readSiteXml = xmlReader({ arrays: ['configuration.property'], validate: true });

/** Parses one `*-site.xml`; a document that is not well-formed is refused. */
export function parseHadoopXml(xml: string, file = 'configuration'): Map<string, string> {
  // An empty `<configuration/>` reads as '', whose `property` is undefined too.
  let document: { configuration?: { property?: { name?: unknown; value?: unknown }[] } };
  try {
    document = readSiteXml(xml);
  } catch (error) {
    throw ArtifactsError.invalidArgument(`${file} is not valid XML`, { cause: error });
  }
  const out = new Map<string, string>();
  for (const { name, value } of document.configuration?.property ?? [])
    if (typeof name === 'string' && name !== '') out.set(name, typeof value === 'string' ? value : '');
  return out;
}

/** The configuration directory: option, then HADOOP_CONF_DIR, then $HADOOP_HOME/etc/hadoop. */
export function hadoopConfDir(
  option: string | false | undefined,
  env: NodeJS.ProcessEnv,
): string | undefined {
  if (option === false) return undefined;
  if (option !== undefined) return option;
  if (env.HADOOP_CONF_DIR) return env.HADOOP_CONF_DIR;
  if (env.HADOOP_HOME) return join(env.HADOOP_HOME, 'etc', 'hadoop');
  return undefined;
}

/** Reads `core-site.xml` and `hdfs-site.xml` of `dir` (missing files are skipped). */
export function loadHadoopConf(dir: string | undefined): HadoopConf {
  const conf = new Map<string, string>();
  if (dir === undefined) return conf;
  for (const name of ['core-site.xml', 'hdfs-site.xml']) {
    const file = join(dir, name);
    const xml = readSettingFile(file, 'Hadoop configuration', { optional: true });
    if (xml !== undefined) for (const [k, v] of parseHadoopXml(xml, file)) conf.set(k, v);
  }
  return conf;
}

/** Where the repository's files live on which WebHDFS endpoints. */
export interface ResolvedTarget {
  /** NameNode WebHDFS base URLs (`http(s)://host:port`), in failover order. */
  endpoints: string[];
  /** Absolute HDFS path of the repository root. */
  path: string;
  /** How the endpoints were found (for messages; no secrets in it). */
  source: string;
}

/** A URI's parts (already parsed), the explicit endpoints and the configuration. */
export interface ResolveInput extends Pick<ArtifactUri, 'scheme' | 'host' | 'port' | 'path'> {
  /** Explicit endpoint(s): the option or ARTIFACTS_HDFS_WEBHDFS_URL. */
  webhdfsUrl?: readonly string[] | undefined;
  conf: HadoopConf;
}

const DEFAULT_RPC_PORT = 8020;
const DEFAULT_HTTP_PORT = 9870;
const DEFAULT_HTTPS_PORT = 9871;

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function hostPort(value: string): { host: string; port?: number } {
  const colon = value.lastIndexOf(':');
  if (colon === -1 || value.endsWith(']')) return { host: value.toLowerCase() };
  return { host: value.slice(0, colon).toLowerCase(), port: Number(value.slice(colon + 1)) };
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '[::]' || host === '::';
}

/** `host:port` of an http(s)-address property as a URL; a wildcard host becomes `fallbackHost`. */
function addressUrl(address: string, https: boolean, fallbackHost: string): string {
  const { host, port } = hostPort(address);
  const h = isWildcard(host) ? fallbackHost : host;
  return `${https ? 'https' : 'http'}://${h}:${port ?? (https ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT)}`;
}

/** Checks explicit endpoint URLs (core's `checkEndpoint`: no credentials, no query) → their origins. */
export function normalizeEndpoints(values: readonly string[], what: string): string[] {
  return values.map(
    (value) =>
      new URL(checkEndpoint(value, what, { credentialsHint: 'credentials do not belong in the WebHDFS URL' }))
        .origin,
  );
}

/**
 * The WebHDFS endpoints of the NameNode(s) an `hdfs://host[:port]` authority names, from the
 * configuration: an HA nameservice (`dfs.ha.namenodes.<ns>` → `dfs.namenode.http(s)-address.<ns>.<nn>`),
 * or the NameNode whose RPC address (or `fs.defaultFS`) is `host:port` → its `dfs.namenode.http(s)-address`.
 * Undefined when the configuration does not describe it.
 */
export function endpointsFromConf(
  conf: HadoopConf,
  host: string,
  port: number | undefined,
): string[] | undefined {
  const https = (conf.get('dfs.http.policy') ?? 'HTTP_ONLY').toUpperCase() === 'HTTPS_ONLY';
  const key = https ? 'dfs.namenode.https-address' : 'dfs.namenode.http-address';
  const nameservices = list(conf.get('dfs.nameservices') ?? conf.get('dfs.internal.nameservices'));
  const namenodes = (ns: string) => list(conf.get(`dfs.ha.namenodes.${ns}`));

  // A logical (HA) nameservice: the URI names no port, the nameservice lists its namenodes.
  if (port === undefined && nameservices.includes(host)) {
    const addresses = namenodes(host).flatMap((nn) => conf.get(`${key}.${host}.${nn}`) || []);
    if (addresses.length === 0) {
      throw ArtifactsError.invalidArgument(
        `HDFS nameservice ${JSON.stringify(host)}: the configuration has no ${key}.${host}.<namenode> for the namenodes of dfs.ha.namenodes.${host}`,
      );
    }
    return addresses.map((address) => addressUrl(address, https, host));
  }

  // The namenode whose RPC address is this authority: federated / HA ones (`<key>.<ns>[.<nn>]`), then
  // the one of a plain configuration, which fs.defaultFS may name instead of its RPC address.
  const authority = (h: string, p: number | undefined) => `${h}:${p ?? DEFAULT_RPC_PORT}`;
  const rpcOf = (address: string | undefined) => {
    const a = address ? hostPort(address) : undefined;
    return a && authority(a.host, a.port);
  };
  const wanted = authority(host, port);
  const defaultFs = defaultFileSystem(conf);
  const parsed = defaultFs?.startsWith('hdfs://') ? parseArtifactUri(defaultFs) : undefined;
  const byDefaultFs = !!parsed?.host && authority(parsed.host, parsed.port) === wanted;
  const suffixes = nameservices.flatMap((ns) => [`.${ns}`, ...namenodes(ns).map((nn) => `.${ns}.${nn}`)]);
  for (const suffix of [...suffixes, '']) {
    const address = conf.get(`${key}${suffix}`);
    const named =
      rpcOf(conf.get(`dfs.namenode.rpc-address${suffix}`)) === wanted || (suffix === '' && byDefaultFs);
    if (address && named) return [addressUrl(address, https, host)];
  }
  return undefined;
}

function defaultFileSystem(conf: HadoopConf): string | undefined {
  return conf.get('fs.defaultFS') ?? conf.get('fs.default.name');
}

/**
 * Resolves a viewfs path through the mount table `fs.viewfs.mounttable.<cluster>.link.<src>` (longest
 * matching link wins, then `linkFallback`) to the URI of the target file system.
 */
export function resolveViewfs(conf: HadoopConf, cluster: string, path: string): string {
  const prefix = `fs.viewfs.mounttable.${cluster}.link.`;
  let best: { src: string; target: string } | undefined;
  for (const [name, target] of conf) {
    if (!name.startsWith(prefix)) continue;
    const src = `/${name.slice(prefix.length).replace(/^\/+|\/+$/g, '')}`;
    const inside = src === '/' || path === src || path.startsWith(`${src}/`);
    if (inside && (!best || src.length > best.src.length)) best = { src, target };
  }
  const join = (target: string, rest: string) => `${target.replace(/\/+$/, '')}${rest}`;
  if (best) return join(best.target, best.src === '/' ? path : path.slice(best.src.length));
  const fallback = conf.get(`fs.viewfs.mounttable.${cluster}.linkFallback`);
  if (fallback) return join(fallback, path);
  throw ArtifactsError.invalidArgument(
    `viewfs://${cluster}${path}: no mount point of the mount table ${JSON.stringify(cluster)} (fs.viewfs.mounttable.${cluster}.link.<path>) contains this path`,
  );
}

/** URI (already parsed) → WebHDFS endpoints and the HDFS path of the root. */
export function resolveTarget(input: ResolveInput, depth = 0): ResolvedTarget {
  const { scheme, conf } = input;
  if (scheme === 'webhdfs' || scheme === 'swebhdfs') {
    if (!input.host) {
      throw ArtifactsError.invalidArgument(
        `a ${scheme}:// URI needs the NameNode's host (${scheme}://host:port/path)`,
      );
    }
    const https = scheme === 'swebhdfs';
    const port = input.port ?? (https ? DEFAULT_HTTPS_PORT : DEFAULT_HTTP_PORT);
    return {
      endpoints: [`${https ? 'https' : 'http'}://${input.host}:${port}`],
      path: input.path,
      source: `${scheme}:// URI`,
    };
  }
  if (scheme === 'viewfs') {
    if (depth > 0) throw ArtifactsError.invalidArgument('a viewfs mount point cannot target another viewfs');
    let cluster = input.host;
    if (!cluster) {
      const fs = defaultFileSystem(conf);
      cluster = fs?.startsWith('viewfs://') ? (parseArtifactUri(fs).host ?? 'default') : 'default';
    }
    const target = resolveViewfs(conf, cluster, input.path);
    const parsed = parseArtifactUri(target);
    if (!['hdfs', 'webhdfs', 'swebhdfs'].includes(parsed.scheme)) {
      throw ArtifactsError.unsupported(
        `viewfs://${cluster}${input.path} is mounted on ${parsed.scheme}://, which @artifacts/hdfs does not serve`,
      );
    }
    const resolved = resolveTarget({ ...parsed, webhdfsUrl: input.webhdfsUrl, conf }, depth + 1);
    return { ...resolved, source: `viewfs mount table ${cluster} → ${resolved.source}` };
  }
  if (scheme !== 'hdfs')
    throw ArtifactsError.invalidArgument(`@artifacts/hdfs does not serve ${scheme}:// URIs`);

  let host = input.host;
  let port = input.port;
  let source = 'hdfs:// URI';
  if (!host) {
    const fs = defaultFileSystem(conf);
    if (!fs) {
      throw ArtifactsError.invalidArgument(
        'hdfs:///path needs the default file system: set fs.defaultFS in core-site.xml (HADOOP_CONF_DIR) or name the namenode (hdfs://host:port/path)',
      );
    }
    const parsed = parseArtifactUri(fs);
    if (parsed.scheme === 'viewfs' && depth === 0) {
      return resolveTarget({ ...input, scheme: 'viewfs', host: parsed.host }, depth);
    }
    if (parsed.scheme !== 'hdfs' || !parsed.host) {
      throw ArtifactsError.invalidArgument(`fs.defaultFS ${JSON.stringify(fs)} is not an hdfs://host URI`);
    }
    host = parsed.host;
    port = parsed.port;
    source = 'fs.defaultFS';
  }
  if (input.webhdfsUrl && input.webhdfsUrl.length > 0) {
    return { endpoints: [...input.webhdfsUrl], path: input.path, source: `${source}, explicit WebHDFS URL` };
  }
  const fromConf = endpointsFromConf(conf, host, port);
  if (fromConf) return { endpoints: fromConf, path: input.path, source: `${source}, hdfs-site.xml` };
  return {
    endpoints: [`http://${host}:${DEFAULT_HTTP_PORT}`],
    path: input.path,
    source: `${source}, default WebHDFS port ${DEFAULT_HTTP_PORT}`,
  };
}
