/** Options of `openRepository(uri, options)` for `hdfs://`, `viewfs://`, `webhdfs://` and `swebhdfs://` URIs. */
export interface HdfsOptions {
  /**
   * WebHDFS endpoint(s) of the NameNode(s), `http(s)://host:port` (several, comma-separated or as an
   * array, for HA: tried in order, failing over on StandbyException). For `hdfs://` and `viewfs://`
   * URIs only; `webhdfs://` and `swebhdfs://` URIs name their endpoint. Default:
   * `ARTIFACTS_HDFS_WEBHDFS_URL`, else discovered from the Hadoop configuration, else
   * `http://<namenode host>:9870`.
   */
  webhdfsUrl?: string | readonly string[];
  /**
   * Directory holding `core-site.xml` and `hdfs-site.xml`. Default: `HADOOP_CONF_DIR`, else
   * `$HADOOP_HOME/etc/hadoop`; `false` reads no configuration.
   */
  hadoopConfDir?: string | false;
  /**
   * Simple authentication: the user name of `user.name=`. Kerberos: the principal to authenticate as
   * (the ticket cache must hold a ticket for it), as MLflow passes `MLFLOW_KERBEROS_USER` to Hadoop.
   * Default: `MLFLOW_KERBEROS_USER`, else (simple only) `HADOOP_USER_NAME`, else the current OS user
   * (simple) or the ticket cache's own principal (Kerberos).
   */
  user?: string;
  /**
   * Kerberos ticket cache: set to use SPNEGO (needs the optional `kerberos` package). Default:
   * `MLFLOW_KERBEROS_TICKET_CACHE`; unset = simple authentication, unless the Hadoop configuration
   * says `hadoop.security.authentication=kerberos` (then SPNEGO with GSSAPI's default cache).
   */
  kerberosTicketCache?: string;
  /** Connections kept open to each NameNode and DataNode, at most. Default: `ARTIFACTS_HDFS_MAX_CONNECTIONS`, else 4. */
  maxConnections?: number;
  /** PEM file of extra certificate authorities for `swebhdfs://` / `https://` endpoints. Default: `ARTIFACTS_HDFS_CA_FILE`, else Node's CAs. */
  caFile?: string;
  /**
   * How long an idempotent operation keeps retrying while the NameNode is unreachable, restarting,
   * in safe mode or standby, in milliseconds. Default: `ARTIFACTS_HDFS_RETRY_TIMEOUT_MS`, else 30000.
   */
  retryTimeoutMs?: number;
}
