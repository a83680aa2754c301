import {
  type ArtifactUri,
  defineSettings,
  type KerberosAuth,
  localUserName,
  type OptionsOf,
  pathOrNone,
  redactUri,
} from '@artifacts/core';
import { hadoopConfDir, loadHadoopConf, normalizeEndpoints, resolveTarget } from './hadoop-conf.js';

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
  /** Bytes per OPEN of a ranged read. */
  downloadPartSize: number;
  /** Extra CA certificates (PEM) for https endpoints. */
  ca: string | undefined;
  /** The repository for messages: redacted URI and how its endpoint was found. */
  label: string;
}

/** Every option of the HDFS backend, declared once: README table, env vars, validation. */
export const hdfsSettings = defineSettings('@artifacts/hdfs', {
  webhdfsUrl: {
    type: 'list',
    env: 'ARTIFACTS_HDFS_WEBHDFS_URL',
    parse: (value, from) => normalizeEndpoints(value as string[], from),
    defaultText: 'discovered (see above)',
    help: 'WebHDFS endpoint(s) `http(s)://host:port` of the NameNode(s) for `hdfs://` / `viewfs://` URIs, commas separating several in the variable. Several = HA, tried in order. Not used by `webhdfs://` / `swebhdfs://` URIs',
  },
  hadoopConfDir: {
    type: 'custom',
    parse: pathOrNone,
    defaultText: '`HADOOP_CONF_DIR`, else `$HADOOP_HOME/etc/hadoop`',
    help: 'directory of `core-site.xml` and `hdfs-site.xml`; `false` reads no configuration',
  },
  user: {
    type: 'string',
    env: 'MLFLOW_KERBEROS_USER',
    defaultText: 'simple: `HADOOP_USER_NAME`, else the current OS user',
    help: "simple authentication: the user of `user.name=` (files are created as this user). Kerberos: the **principal** to authenticate as (`alice` or `alice@REALM`; `HADOOP_USER_NAME` is not used), as MLflow passes it to the Hadoop client; unset = the ticket cache's own principal",
  },
  kerberosTicketCache: {
    type: 'string',
    env: 'MLFLOW_KERBEROS_TICKET_CACHE',
    defaultText: 'none',
    help: 'Kerberos ticket cache (e.g. `/tmp/krb5cc_1000`, `FILE:/path`): turns on SPNEGO with that cache. Needs the optional `kerberos` package',
  },
  maxConnections: {
    type: 'integer',
    env: 'ARTIFACTS_HDFS_MAX_CONNECTIONS',
    min: 1,
    default: 16,
    help: "sockets open at once to each NameNode and to each DataNode, at most; more operations queue. Kept alive 10 s when idle. 16, core's default `maxConcurrency`: a small upload waits ~0.4 s on the DataNode's close, so uploads at once are what hides it",
  },
  caFile: {
    type: 'string',
    env: 'ARTIFACTS_HDFS_CA_FILE',
    file: 'CA file',
    defaultText: "Node's CA store",
    help: 'PEM file of extra certificate authorities for `swebhdfs://` / `https://` endpoints, read at open. Verification is never turned off',
  },
  downloadPartSize: {
    type: 'integer',
    env: 'ARTIFACTS_HDFS_DOWNLOAD_PART_SIZE',
    min: 1,
    // 64 MiB, not 16: each OPEN costs a NameNode redirect and a DataNode read that opens the file
    // again on one of its 4 WebHDFS threads; a 1 GiB download in 16 ranges ran at 1.45× the rate
    // of 64 ranges (docs/benchmarks/hdfs.md). A small file is still one OPEN: the DataNode answers
    // min(length, the file) bytes, whatever length asks for.
    default: 64 * 1024 * 1024,
    defaultText: '`67108864` (64 MiB)',
    help: 'bytes per ranged OPEN of a download; 4 ranges of a file are read at once (fewer when `maxConnections` is lower)',
  },
});

/** Options win over environment variables, which win over the Hadoop configuration and defaults. */
export function resolveSettings(
  location: ArtifactUri,
  options: OptionsOf<typeof hdfsSettings.specs>,
  env: NodeJS.ProcessEnv = process.env,
): HdfsSettings {
  const { values, sources } = hdfsSettings.resolve(options, { env });
  const confDir = hadoopConfDir(values.hadoopConfDir, env);
  const conf = loadHadoopConf(confDir);
  const target = resolveTarget({ ...location, webhdfsUrl: values.webhdfsUrl, conf });

  // MLflow hands MLFLOW_KERBEROS_USER to the Hadoop client as the user, which with a ticket cache is
  // the Kerberos principal to log in as (UserGroupInformation.getBestUGI(cache, user)), and without
  // one the simple-authentication user name.
  const ticketCache = values.kerberosTicketCache;
  const confKerberos = conf.get('hadoop.security.authentication')?.toLowerCase() === 'kerberos';
  let kerberos: KerberosAuth | undefined;
  if (ticketCache !== undefined || confKerberos) {
    kerberos = {
      ticketCache,
      principal: values.user,
      reason:
        ticketCache !== undefined
          ? sources.kerberosTicketCache === 'option'
            ? 'the kerberosTicketCache option'
            : 'MLFLOW_KERBEROS_TICKET_CACHE'
          : `hadoop.security.authentication=kerberos in ${confDir}`,
    };
  }
  const user = kerberos ? undefined : (values.user ?? (env.HADOOP_USER_NAME || undefined) ?? localUserName());

  return {
    endpoints: target.endpoints,
    root: target.path,
    user,
    kerberos,
    maxConnections: values.maxConnections,
    downloadPartSize: values.downloadPartSize,
    ca: values.caFile,
    label: `${redactUri(location.uri)} (WebHDFS ${target.endpoints.join(', ')} from ${target.source})`,
  };
}
