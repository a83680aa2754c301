import { credentialsSetting, defineSettings, MiB, type SettingsValues } from '@artifacts/core';
import type { S3Credentials } from '../options.js';
import { parseUploadExtraArgs, type UploadExtraArgs } from './extra-args.js';
import { S3_PART_LIMITS } from './multipart.js';

/** S3's part sizes; its largest part is also the largest object one CopyObject copies (larger ones go in parts). */
const { minPartSize, maxPartSize } = S3_PART_LIMITS;
/** The region used when neither an option, AWS_DEFAULT_REGION, AWS_REGION nor the shared config files name one. */
export const DEFAULT_REGION = 'us-east-1';

/** Every option of the s3 backend, declared once: README table, env vars, validation. */
export const s3Settings = defineSettings(
  '@artifacts/s3',
  {
    endpointUrl: {
      type: 'url',
      env: 'MLFLOW_S3_ENDPOINT_URL',
      credentialsHint: 'use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
      defaultText: 'none (AWS)',
      help: 'endpoint of an S3-compatible service, `http(s)://host[:port]`',
    },
    region: {
      type: 'string',
      nonEmpty: true,
      env: 'AWS_DEFAULT_REGION',
      defaultText: "`AWS_REGION`, else the profile's `region` in the shared config files, else `us-east-1`",
      help: "signing region; a bucket in another AWS region is reached through S3's redirect",
    },
    addressingStyle: {
      type: 'enum',
      values: ['auto', 'path', 'virtual'] as const,
      ignoreCase: true,
      env: 'MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE',
      default: 'auto',
      help: 'path style with a custom endpoint in `auto` mode (as boto does; what MinIO expects), virtual-hosted on AWS',
    },
    ignoreTls: {
      type: 'boolean',
      env: 'MLFLOW_S3_IGNORE_TLS',
      default: false,
      help: 'skip certificate verification (self-signed MinIO); not together with a CA bundle',
    },
    caBundle: {
      type: 'string',
      file: 'CA bundle',
      env: 'AWS_CA_BUNDLE',
      defaultText: "none (Node's roots)",
      help: 'PEM file of the CAs to trust, read at open; replaces the default roots, as boto does',
    },
    uploadExtraArgs: {
      type: 'custom',
      env: 'MLFLOW_S3_UPLOAD_EXTRA_ARGS',
      parse: (value: Record<string, unknown> | string, from: string) => parseUploadExtraArgs(value, from),
      // An SSE-C key, as given and as sent (base64).
      secretsOf: ({ SSECustomerKey: key }: UploadExtraArgs) =>
        key ? [key, Buffer.from(key, 'utf8').toString('base64')] : [],
      defaultText: 'none',
      help: 'boto3 upload `ExtraArgs` as JSON (or an object), see below',
    },
    expectedBucketOwner: {
      type: 'string',
      nonEmpty: true,
      env: 'MLFLOW_S3_EXPECTED_BUCKET_OWNER',
      help: 'account id sent as `ExpectedBucketOwner` with every request',
    },
    credentials: {
      ...credentialsSetting<S3Credentials>({
        backend: '@artifacts/s3',
        required: ['accessKeyId', 'secretAccessKey'],
        optional: ['sessionToken'],
        secret: ['secretAccessKey', 'sessionToken'],
      }),
      defaultText: "`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else the AWS SDK's chain",
      help: "`{ accessKeyId, secretAccessKey, sessionToken? }` or a provider function (e.g. `fromIni()`), kept until 5 minutes before its `expiration`; without either (or with a profile), the AWS SDK's credential chain, loaded only then: profiles, SSO, web identity, container and instance roles",
    },
    profile: {
      type: 'string',
      nonEmpty: true,
      defaultText: '`AWS_PROFILE`, else `default`',
      help: 'profile of `~/.aws/credentials` and `~/.aws/config`',
    },
    anonymous: {
      type: 'boolean',
      env: 'ARTIFACTS_S3_ANONYMOUS',
      default: false,
      help: 'unsigned requests, for public buckets; not together with `credentials` (in code, `credentials` wins over the variable)',
    },
    partSizeBytes: {
      type: 'integer',
      env: 'ARTIFACTS_S3_PART_SIZE',
      min: minPartSize,
      max: maxPartSize,
      default: 8 * MiB,
      defaultText: "8 MiB (boto3's)",
      help: 'multipart part size (5 MiB – 5 GiB); raised automatically so a file of known size needs ≤ 10,000 parts; a stream of unknown size can be up to 10,000 × this',
    },
    copyCutoffBytes: {
      type: 'integer',
      env: 'ARTIFACTS_S3_COPY_CUTOFF',
      min: minPartSize,
      max: maxPartSize,
      default: maxPartSize,
      defaultText: "5 GiB (S3's CopyObject limit)",
      help: 'server-side copies of objects above this size use a multipart upload of UploadPartCopy ranges (parts of `partSizeBytes` or more, ≤ 10,000 parts, `uploadQueueSize` in flight); smaller ones one CopyObject (5 MiB – 5 GiB)',
    },
    uploadQueueSize: {
      type: 'integer',
      env: 'ARTIFACTS_S3_UPLOAD_CONCURRENCY',
      min: 1,
      default: 4,
      help: 'parts of one upload sent at once; an upload holds at most about `partSizeBytes × (uploadQueueSize + 1)` in memory',
    },
    parallelDownloadThresholdBytes: {
      type: 'integer',
      env: 'ARTIFACTS_S3_PARALLEL_DOWNLOAD_THRESHOLD',
      min: 0,
      default: 64 * MiB,
      defaultText: '64 MiB',
      help: 'objects at least this large are read with several ranged GETs at once; `0` = never',
    },
    downloadChunkSizeBytes: {
      type: 'integer',
      env: 'ARTIFACTS_S3_DOWNLOAD_CHUNK_SIZE',
      min: MiB,
      default: 8 * MiB,
      defaultText: '8 MiB',
      help: 'size of each ranged GET (≥ 1 MiB)',
    },
    downloadConcurrency: {
      type: 'integer',
      env: 'ARTIFACTS_S3_DOWNLOAD_CONCURRENCY',
      min: 1,
      default: 4,
      help: 'ranged GETs of one download in flight; a download holds at most `downloadChunkSizeBytes × downloadConcurrency`',
    },
    checksumAlgorithm: {
      type: 'enum',
      values: ['CRC32', 'CRC32C', 'SHA256', 'NONE'] as const,
      ignoreCase: true,
      env: 'ARTIFACTS_S3_CHECKSUM_ALGORITHM',
      default: 'CRC32',
      help: 'checksum S3 computes and core verifies while streaming; `NONE` for servers that reject checksums (see Integrity)',
    },
    connectTimeoutMs: {
      type: 'integer',
      env: 'ARTIFACTS_S3_CONNECT_TIMEOUT_MS',
      min: 1,
      default: 60_000,
      help: "TCP/TLS connect timeout (boto's `connect_timeout`) of every new connection: one not made in time is a temporary `timeout` naming the limit and `host:port`, which core's retry layer retries",
    },
    socketTimeoutMs: {
      type: 'integer',
      env: 'ARTIFACTS_S3_SOCKET_TIMEOUT_MS',
      min: 1,
      default: 60_000,
      help: "a socket idle this long fails the request (boto's `read_timeout`); core's retry layer retries it",
    },
  },
  {
    // MLflow's rule: MLFLOW_S3_IGNORE_TLS or AWS_CA_BUNDLE, not both; an option beats a variable.
    alternatives: [{ names: ['ignoreTls', 'caBundle'] }, { names: ['anonymous', 'credentials'] }],
    // Read by the AWS SDK's chain (and client.ts) rather than declared as options.
    secretEnv: ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'],
  },
);

type S3Values = SettingsValues<typeof s3Settings.specs>;

/** Everything the driver needs: the settings' values, with TLS and the addressing style decided. */
export type ResolvedS3Config = Omit<S3Values, 'ignoreTls' | 'caBundle' | 'uploadExtraArgs'> & {
  forcePathStyle: boolean;
  /** The connections' TLS options: certificates not verified, or the bundle's CAs (PEM) as the roots. */
  tls: { rejectUnauthorized?: false; ca?: string };
  uploadExtraArgs: UploadExtraArgs;
  /** Credentials to scrub from every message (the declaration's, and the AWS variables'). */
  secrets: string[];
};

/**
 * Resolves options, then environment variables, then defaults. Throws `invalid_argument` naming the
 * option or variable that is wrong; never echoes a secret.
 */
export function resolveS3Config(options: object = {}): ResolvedS3Config {
  const { values, secrets } = s3Settings.resolve(options);
  const { endpointUrl, addressingStyle, ignoreTls, caBundle, ...rest } = values;
  const uploadExtraArgs = values.uploadExtraArgs ?? {};
  return {
    ...rest,
    endpointUrl,
    addressingStyle,
    // boto uses path style for a custom endpoint in auto mode; S3-compatible servers expect it.
    forcePathStyle: addressingStyle === 'path' || (addressingStyle === 'auto' && endpointUrl !== undefined),
    tls: ignoreTls ? { rejectUnauthorized: false } : caBundle === undefined ? {} : { ca: caBundle },
    uploadExtraArgs,
    expectedBucketOwner: values.expectedBucketOwner ?? uploadExtraArgs.ExpectedBucketOwner,
    secrets,
  };
}
