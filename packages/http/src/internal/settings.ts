import {
  ArtifactsError,
  defineSettings,
  type KerberosAuth,
  MiB,
  mlflowClientSettings,
  type SettingsValues,
} from '@artifacts/core';

/** Every option of the HTTP backend, declared once: README table, env vars, secrets, validation. */
export const httpSettings = defineSettings(
  '@artifacts/http',
  {
    ...mlflowClientSettings.specs,
    multipartUpload: {
      type: 'boolean',
      env: 'MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD',
      default: false,
      help: 'upload large files in parts through presigned URLs',
    },
    multipartMinimumFileSize: {
      type: 'integer',
      env: 'MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE',
      min: 0,
      default: 500 * MiB,
      defaultText: '500 MiB',
      help: 'files at least this large go multipart',
    },
    multipartChunkSize: {
      type: 'integer',
      env: 'MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE',
      min: 1,
      default: 10 * MiB,
      defaultText: '10 MiB',
      help: "bytes per part (MLflow's code default; its docs say 100 MB); S3 needs ≥ 5 MiB for every part but the last",
    },
    multipartConcurrency: {
      type: 'integer',
      env: 'ARTIFACTS_HTTP_MULTIPART_CONCURRENCY',
      min: 1,
      defaultText: 'as many parts as fit in 256 MiB, 1–8',
      help: 'parts in flight (each held in memory for its retries)',
    },
    connections: {
      type: 'integer',
      env: 'ARTIFACTS_HTTP_CONNECTIONS',
      min: 1,
      defaultText: "the repository's `maxConcurrency` (at least 4)",
      help: 'parallel connections to the server',
    },
    downloadPartSize: {
      type: 'integer',
      env: 'ARTIFACTS_HTTP_DOWNLOAD_PART_SIZE',
      min: 1,
      defaultText: '8 MiB; one part for the whole file when the server is on this machine',
      help: 'bytes per ranged GET of a download; a file larger than two parts is read as several ranges at once (`downloadConcurrency`)',
    },
    downloadConcurrency: {
      type: 'integer',
      env: 'ARTIFACTS_HTTP_DOWNLOAD_CONCURRENCY',
      min: 1,
      max: 64,
      default: 4,
      help: 'ranged GETs of one download in flight',
    },
    listMaxDepth: {
      type: 'integer',
      env: 'ARTIFACTS_HTTP_LIST_MAX_DEPTH',
      min: 1,
      default: 256,
      help: 'deepest level a recursive walk (directory download) descends below its start; deeper is refused (`failed_precondition`) as a hostile or looping server',
    },
    listMaxEntries: {
      type: 'integer',
      env: 'ARTIFACTS_HTTP_LIST_MAX_ENTRIES',
      min: 1,
      default: 10_000_000,
      defaultText: '10,000,000',
      help: 'most entries one recursive walk may return',
    },
    kerberos: {
      type: 'boolean',
      env: 'ARTIFACTS_HTTP_KERBEROS',
      default: false,
      help: "authenticate with Kerberos (SPNEGO, `Authorization: Negotiate`), for a server behind a Kerberos-checking proxy: a token for `HTTP/<the server's host>` with every request, from GSSAPI's default ticket cache (`KRB5CCNAME`; run `kinit`). Replaces `username`/`password`/`token` (setting both is refused). Needs the optional `kerberos` package",
    },
    kerberosTicketCache: {
      type: 'string',
      env: 'ARTIFACTS_HTTP_KERBEROS_TICKET_CACHE',
      defaultText: 'GSSAPI default',
      help: 'Kerberos ticket cache (`/tmp/krb5cc_1000`, `FILE:/path`): turns on `kerberos` with that cache',
    },
    kerberosPrincipal: {
      type: 'string',
      env: 'ARTIFACTS_HTTP_KERBEROS_PRINCIPAL',
      defaultText: "the cache's own",
      help: 'Kerberos principal to authenticate as (`alice` or `alice@REALM`): turns on `kerberos`',
    },
  },
  {
    // MLflow refuses both: one of them is a mistake (an option still beats a variable).
    alternatives: [{ names: ['insecureTls', 'serverCertPath'] }],
  },
);

/**
 * Options of the HTTP backend (pass them to `openRepository`): each falls back to the MLflow
 * environment variable the README table names, then to MLflow's default.
 */
export type HttpBackendOptions = Partial<SettingsValues<typeof httpSettings.specs>>;

/** The options as the driver uses them: every default applied, the timeout in ms. */
export type ResolvedHttpOptions = Omit<
  SettingsValues<typeof httpSettings.specs>,
  'requestTimeoutSeconds' | 'multipartConcurrency' | 'kerberos' | 'kerberosTicketCache' | 'kerberosPrincipal'
> & {
  requestTimeoutMs: number;
  multipartConcurrency: number;
  /** SPNEGO's ticket cache and principal when Kerberos is on; undefined = basic, bearer or none. */
  kerberos: KerberosAuth | undefined;
};

export function resolveHttpOptions(options: HttpBackendOptions = {}): ResolvedHttpOptions {
  const { values, sources } = httpSettings.resolve(options);
  const { requestTimeoutSeconds, kerberos: on, kerberosTicketCache, kerberosPrincipal, ...rest } = values;
  const name = (setting: 'kerberos' | 'kerberosTicketCache' | 'kerberosPrincipal') =>
    sources[setting] === 'option' ? `the ${setting} option` : String(sources[setting]);
  const reason = on
    ? name('kerberos')
    : kerberosTicketCache !== undefined
      ? name('kerberosTicketCache')
      : kerberosPrincipal !== undefined
        ? name('kerberosPrincipal')
        : undefined;
  if (reason !== undefined && ((values.username && values.password) || values.token)) {
    // Both are an `Authorization` header: one of them would be silently dropped.
    throw ArtifactsError.invalidArgument(
      `Kerberos (${reason}) and HTTP credentials (MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN) cannot both be set: each is the request's Authorization header`,
    );
  }
  return {
    ...rest,
    kerberos:
      reason === undefined
        ? undefined
        : { ticketCache: kerberosTicketCache, principal: kerberosPrincipal, reason },
    requestTimeoutMs: requestTimeoutSeconds * 1000,
    multipartConcurrency:
      values.multipartConcurrency ??
      Math.min(8, Math.max(1, Math.floor((256 * MiB) / values.multipartChunkSize))),
  };
}
