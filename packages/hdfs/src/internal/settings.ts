import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { ArtifactsError, type ArtifactUri, envNumber, envString, redactUri } from '@artifacts/core';
import type { HdfsOptions } from '../options.js';
import { hadoopConfDir, loadHadoopConf, normalizeEndpoints, resolveTarget } from './hadoop-conf.js';
import type { KerberosAuth } from './kerberos.js';

export const DEFAULT_MAX_CONNECTIONS = 4;
export const DEFAULT_RETRY_TIMEOUT_MS = 30_000;

/** Everything a driver needs, resolved once when the repository opens. */
export interface HdfsSettings {
  /** NameNode WebHDFS base URLs, in failover order. */
  endpoints: string[];
  /** Absolute HDFS path of the repository root. */
  root: string;
  /** `user.name` for simple authentication; undefined with Kerberos. */
  user: string | undefined;
  /** SPNEGO (ticket cache and principal) when Kerberos is on; undefined = simple authentication. */
  kerberos: KerberosAuth | undefined;
  maxConnections: number;
  /** Extra CA certificates (PEM) for https endpoints. */
  ca: string | undefined;
  retryTimeoutMs: number;
  /** The repository for messages: redacted URI and how its endpoint was found. */
  label: string;
}

function positiveInteger(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1) {
    throw ArtifactsError.invalidArgument(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonNegative(value: number | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value < 0) {
    throw ArtifactsError.invalidArgument(`${what} must be a number ≥ 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function splitList(value: string | readonly string[]): string[] {
  const values = typeof value === 'string' ? value.split(',') : [...value];
  return values.map((v) => v.trim()).filter((v) => v !== '');
}

/** Options win over environment variables, which win over the Hadoop configuration and defaults. */
export function resolveSettings(
  location: ArtifactUri,
  options: HdfsOptions,
  env: NodeJS.ProcessEnv = process.env,
): HdfsSettings {
  const confDir = hadoopConfDir(options.hadoopConfDir, env);
  const conf = loadHadoopConf(confDir);

  let webhdfsUrl: string[] | undefined;
  if (options.webhdfsUrl !== undefined) {
    webhdfsUrl = normalizeEndpoints(splitList(options.webhdfsUrl), 'option webhdfsUrl');
  } else if (env.ARTIFACTS_HDFS_WEBHDFS_URL) {
    webhdfsUrl = normalizeEndpoints(splitList(env.ARTIFACTS_HDFS_WEBHDFS_URL), 'ARTIFACTS_HDFS_WEBHDFS_URL');
  }
  const target = resolveTarget({
    scheme: location.scheme,
    host: location.host,
    port: location.port,
    path: location.path,
    webhdfsUrl,
    conf,
  });

  // MLflow hands MLFLOW_KERBEROS_USER to the Hadoop client as the user, which with a ticket cache is
  // the Kerberos principal to log in as (UserGroupInformation.getBestUGI(cache, user)), and without
  // one the simple-authentication user name.
  const ticketCache = options.kerberosTicketCache ?? (env.MLFLOW_KERBEROS_TICKET_CACHE || undefined);
  const mlflowUser = options.user ?? (env.MLFLOW_KERBEROS_USER || undefined);
  const confKerberos = conf.get('hadoop.security.authentication')?.toLowerCase() === 'kerberos';
  let kerberos: KerberosAuth | undefined;
  if (ticketCache !== undefined || confKerberos) {
    kerberos = {
      ticketCache,
      principal: mlflowUser,
      reason:
        ticketCache !== undefined
          ? options.kerberosTicketCache !== undefined
            ? 'the kerberosTicketCache option'
            : 'MLFLOW_KERBEROS_TICKET_CACHE'
          : `hadoop.security.authentication=kerberos in ${confDir}`,
    };
  }
  const user = kerberos
    ? undefined
    : (mlflowUser ?? (env.HADOOP_USER_NAME || undefined) ?? userInfo().username);

  const maxConnections =
    positiveInteger(options.maxConnections, 'option maxConnections') ??
    withEnv(env, () => envNumber('ARTIFACTS_HDFS_MAX_CONNECTIONS', { integer: true, min: 1 })) ??
    DEFAULT_MAX_CONNECTIONS;
  const retryTimeoutMs =
    nonNegative(options.retryTimeoutMs, 'option retryTimeoutMs') ??
    withEnv(env, () => envNumber('ARTIFACTS_HDFS_RETRY_TIMEOUT_MS', { min: 0 })) ??
    DEFAULT_RETRY_TIMEOUT_MS;

  const caFile = options.caFile ?? withEnv(env, () => envString('ARTIFACTS_HDFS_CA_FILE'));
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (error) {
      throw ArtifactsError.invalidArgument(`cannot read the CA file ${caFile}`, { cause: error });
    }
  }

  return {
    endpoints: target.endpoints,
    root: target.path,
    user,
    kerberos,
    maxConnections,
    ca,
    retryTimeoutMs,
    label: `${redactUri(location.uri)} (WebHDFS ${target.endpoints.join(', ')} from ${target.source})`,
  };
}

/** Core's env helpers read process.env; unit tests pass their own environment. */
function withEnv<T>(env: NodeJS.ProcessEnv, read: () => T): T {
  if (env === process.env) return read();
  const saved = process.env;
  process.env = env;
  try {
    return read();
  } finally {
    process.env = saved;
  }
}
