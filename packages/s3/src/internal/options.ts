import { ArtifactsError, envBoolean, envNumber, envString } from '@artifacts/core';
import { parseUploadExtraArgs, type UploadExtraArgs } from './extra-args.js';

export const MIB = 1024 * 1024;

/** Defaults, in one place so the README and the code cannot drift apart. */
export const DEFAULTS = {
  addressingStyle: 'auto',
  partSizeBytes: 8 * MIB,
  uploadQueueSize: 4,
  parallelDownloadThresholdBytes: 64 * MIB,
  downloadChunkSizeBytes: 8 * MIB,
  downloadConcurrency: 4,
  checksumAlgorithm: 'CRC32',
  connectTimeoutMs: 60_000,
  socketTimeoutMs: 60_000,
  presignExpiresInSeconds: 3600,
  /** S3's limit for one CopyObject: larger objects are copied in parts (UploadPartCopy). */
  copyCutoffBytes: 5 * 1024 * MIB,
  /** The region used when neither an option, AWS_DEFAULT_REGION nor the SDK's chain names one. */
  region: 'us-east-1',
} as const;

/** Static AWS credentials (the SDK's `AwsCredentialIdentity`). */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** A function returning credentials, such as the SDK's `fromIni()` or `fromTemporaryCredentials()`. */
export type S3CredentialsProvider = () => Promise<S3Credentials>;

export type AddressingStyle = 'auto' | 'path' | 'virtual';
/** Checksums S3 computes that core can verify while streaming; `NONE` turns integrity checks off. */
export type S3ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'SHA256' | 'NONE';

/** Options of the s3 backend, passed beside the repository options to `openRepository`. */
export interface S3Options {
  /**
   * AWS region. Default: `AWS_DEFAULT_REGION`, then the SDK's chain (`AWS_REGION`, the profile's
   * `region`), then `us-east-1` (requests to a bucket in another AWS region follow S3's redirect).
   */
  region?: string;
  /**
   * Endpoint of an S3-compatible service (MinIO, …), e.g. `http://127.0.0.1:9000`. Default:
   * `MLFLOW_S3_ENDPOINT_URL`; none = AWS. It is only ever used as the endpoint, never joined to keys.
   */
  endpointUrl?: string;
  /**
   * `path` (`https://host/bucket/key`), `virtual` (`https://bucket.host/key`) or `auto`: path style
   * with a custom endpoint (as boto does, what MinIO needs), virtual-hosted on AWS. Default:
   * `MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE`, else `auto`.
   */
  addressingStyle?: AddressingStyle;
  /** Skip TLS certificate verification. Default: `MLFLOW_S3_IGNORE_TLS`, else false. Not with `caBundle`. */
  ignoreTls?: boolean;
  /** Path of a PEM bundle of the CAs to trust (replaces the default roots). Default: `AWS_CA_BUNDLE`. */
  caBundle?: string;
  /**
   * boto3-style upload ExtraArgs (`ServerSideEncryption`, `SSEKMSKeyId`, `ACL`, `Metadata`,
   * `StorageClass`, `CacheControl`, …) as an object or a JSON string. Default:
   * `MLFLOW_S3_UPLOAD_EXTRA_ARGS`. Unknown keys are refused.
   */
  uploadExtraArgs?: Record<string, unknown> | string;
  /** Sent as `ExpectedBucketOwner` with every request. Default: `MLFLOW_S3_EXPECTED_BUCKET_OWNER`. */
  expectedBucketOwner?: string;
  /** Static credentials or a provider. Default: the SDK's chain (env keys, profiles, SSO, roles). */
  credentials?: S3Credentials | S3CredentialsProvider;
  /** Profile of `~/.aws/credentials` / `~/.aws/config`. Default: the SDK's (`AWS_PROFILE`, else `default`). */
  profile?: string;
  /** Unsigned requests, for public buckets. Default: `ARTIFACTS_S3_ANONYMOUS`, else false. */
  anonymous?: boolean;
  /**
   * Objects above this many bytes are copied server-side in parts (UploadPartCopy of `partSizeBytes`
   * or more each), smaller ones by one CopyObject; 5 MiB to 5 GiB. Default:
   * `ARTIFACTS_S3_COPY_CUTOFF`, else 5 GiB (S3's CopyObject limit).
   */
  copyCutoffBytes?: number;
  /** Multipart part size in bytes (≥ 5 MiB). Default: `ARTIFACTS_S3_PART_SIZE`, else 8 MiB (boto3's). */
  partSizeBytes?: number;
  /** Parts of one upload sent at once. Default: `ARTIFACTS_S3_UPLOAD_CONCURRENCY`, else 4. */
  uploadQueueSize?: number;
  /**
   * Objects at least this large are downloaded with several ranged GETs at once. Default:
   * `ARTIFACTS_S3_PARALLEL_DOWNLOAD_THRESHOLD`, else 64 MiB; 0 turns parallel download off.
   */
  parallelDownloadThresholdBytes?: number;
  /** Size of each ranged GET of a parallel download. Default: `ARTIFACTS_S3_DOWNLOAD_CHUNK_SIZE`, else 8 MiB (boto3's). */
  downloadChunkSizeBytes?: number;
  /** Ranged GETs of one download in flight at once. Default: `ARTIFACTS_S3_DOWNLOAD_CONCURRENCY`, else 4. */
  downloadConcurrency?: number;
  /**
   * Checksum S3 computes on upload and returns on download, which core verifies over the bytes it
   * streamed: `CRC32`, `CRC32C`, `SHA256` or `NONE` (for servers that reject checksums). Default:
   * `ARTIFACTS_S3_CHECKSUM_ALGORITHM`, else `CRC32`.
   */
  checksumAlgorithm?: S3ChecksumAlgorithm;
  /** TCP/TLS connect timeout in ms. Default: `ARTIFACTS_S3_CONNECT_TIMEOUT_MS`, else 60 000 (boto's). */
  connectTimeoutMs?: number;
  /** A socket idle this long fails the request, in ms. Default: `ARTIFACTS_S3_SOCKET_TIMEOUT_MS`, else 60 000 (boto's read timeout). */
  socketTimeoutMs?: number;
  /** Attempts per request, retries included. Default: the SDK's (`AWS_MAX_ATTEMPTS`, else 3). */
  maxAttempts?: number;
  /** Extra S3ClientConfig passed to the SDK as is; it wins over everything above. */
  clientConfig?: Record<string, unknown>;
}

/** Everything the driver needs, resolved from options, then environment variables, then defaults. */
export interface ResolvedS3Config {
  region?: string;
  endpointUrl?: string;
  forcePathStyle: boolean;
  addressingStyle: AddressingStyle;
  tls: { kind: 'default' } | { kind: 'ignore' } | { kind: 'ca'; path: string };
  uploadExtraArgs: UploadExtraArgs;
  expectedBucketOwner?: string;
  credentials?: S3Credentials | S3CredentialsProvider;
  profile?: string;
  anonymous: boolean;
  partSizeBytes: number;
  copyCutoffBytes: number;
  uploadQueueSize: number;
  parallelDownloadThresholdBytes: number;
  downloadChunkSizeBytes: number;
  downloadConcurrency: number;
  checksumAlgorithm: S3ChecksumAlgorithm;
  connectTimeoutMs: number;
  socketTimeoutMs: number;
  maxAttempts?: number;
  clientConfig: Record<string, unknown>;
}

const KNOWN_OPTIONS = new Set<string>([
  'region',
  'endpointUrl',
  'addressingStyle',
  'ignoreTls',
  'caBundle',
  'uploadExtraArgs',
  'expectedBucketOwner',
  'credentials',
  'profile',
  'anonymous',
  'partSizeBytes',
  'copyCutoffBytes',
  'uploadQueueSize',
  'parallelDownloadThresholdBytes',
  'downloadChunkSizeBytes',
  'downloadConcurrency',
  'checksumAlgorithm',
  'connectTimeoutMs',
  'socketTimeoutMs',
  'maxAttempts',
  'clientConfig',
]);

const MIN_PART_SIZE = 5 * MIB;
const MAX_PART_SIZE = 5 * 1024 * MIB;

function invalid(message: string): ArtifactsError {
  return ArtifactsError.invalidArgument(`@artifacts/s3: ${message}`);
}

function integer(
  value: unknown,
  name: string,
  env: string,
  { min, max }: { min: number; max?: number },
): number | undefined {
  if (value === undefined) return envNumber(env, { integer: true, min });
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    (max !== undefined && value > max)
  ) {
    throw invalid(
      `option ${name} must be an integer >= ${min}${max === undefined ? '' : ` and <= ${max}`}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function bool(value: unknown, name: string, env: string): boolean | undefined {
  if (value === undefined) return envBoolean(env);
  if (typeof value !== 'boolean')
    throw invalid(`option ${name} must be a boolean, got ${JSON.stringify(value)}`);
  return value;
}

function str(value: unknown, name: string, env?: string): string | undefined {
  if (value === undefined) return env ? envString(env) : undefined;
  if (typeof value !== 'string' || value.trim() === '')
    throw invalid(`option ${name} must be a non-empty string`);
  return value.trim();
}

function endpoint(value: string | undefined, source: string): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`${source} ${JSON.stringify(value)} is not a URL (expected e.g. http://127.0.0.1:9000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw invalid(`${source} must be an http:// or https:// URL, got ${JSON.stringify(url.protocol)}`);
  if (url.username || url.password)
    throw invalid(`${source} must not hold credentials; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY`);
  return value;
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  source: string,
  fold: (v: string) => string,
): T | undefined {
  if (value === undefined) return undefined;
  const folded = fold(value);
  const found = allowed.find((a) => a === folded);
  if (!found) throw invalid(`${source} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  return found;
}

/**
 * Resolves options, then environment variables, then defaults. Throws `invalid_argument` naming the
 * option or variable that is wrong; never echoes a secret.
 */
export function resolveS3Config(options: S3Options = {}): ResolvedS3Config {
  const unknown = Object.keys(options).filter((key) => !KNOWN_OPTIONS.has(key));
  if (unknown.length > 0) {
    throw invalid(`unknown option(s) ${unknown.join(', ')}; known options: ${[...KNOWN_OPTIONS].join(', ')}`);
  }
  const endpointUrl =
    options.endpointUrl !== undefined
      ? endpoint(str(options.endpointUrl, 'endpointUrl'), 'option endpointUrl')
      : endpoint(envString('MLFLOW_S3_ENDPOINT_URL'), 'MLFLOW_S3_ENDPOINT_URL');
  const region = str(options.region, 'region', 'AWS_DEFAULT_REGION');

  const addressingStyle =
    oneOf(
      options.addressingStyle === undefined ? undefined : String(options.addressingStyle),
      ['auto', 'path', 'virtual'] as const,
      'option addressingStyle',
      (v) => v,
    ) ??
    oneOf(
      envString('MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE'),
      ['auto', 'path', 'virtual'] as const,
      'MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE',
      (v) => v.toLowerCase(),
    ) ??
    DEFAULTS.addressingStyle;
  // boto uses path style for a custom endpoint in auto mode; S3-compatible servers expect it.
  const forcePathStyle =
    addressingStyle === 'path' || (addressingStyle === 'auto' && endpointUrl !== undefined);

  const tls = resolveTls(options);

  const extraSource = options.uploadExtraArgs ?? envString('MLFLOW_S3_UPLOAD_EXTRA_ARGS');
  const uploadExtraArgs = parseUploadExtraArgs(
    extraSource,
    options.uploadExtraArgs === undefined ? 'MLFLOW_S3_UPLOAD_EXTRA_ARGS' : 'option uploadExtraArgs',
  );

  const expectedBucketOwner =
    str(options.expectedBucketOwner, 'expectedBucketOwner', 'MLFLOW_S3_EXPECTED_BUCKET_OWNER') ??
    uploadExtraArgs.ExpectedBucketOwner;

  const anonymous = bool(options.anonymous, 'anonymous', 'ARTIFACTS_S3_ANONYMOUS') ?? false;
  if (anonymous && options.credentials !== undefined)
    throw invalid('options anonymous and credentials exclude each other');
  if (options.credentials !== undefined) checkCredentials(options.credentials);

  const partSizeBytes =
    integer(options.partSizeBytes, 'partSizeBytes', 'ARTIFACTS_S3_PART_SIZE', {
      min: MIN_PART_SIZE,
      max: MAX_PART_SIZE,
    }) ?? DEFAULTS.partSizeBytes;
  if (partSizeBytes > MAX_PART_SIZE) throw invalid(`ARTIFACTS_S3_PART_SIZE must be <= ${MAX_PART_SIZE}`);

  const checksumAlgorithm =
    oneOf(
      options.checksumAlgorithm === undefined ? undefined : String(options.checksumAlgorithm),
      ['CRC32', 'CRC32C', 'SHA256', 'NONE'] as const,
      'option checksumAlgorithm',
      (v) => v.toUpperCase(),
    ) ??
    oneOf(
      envString('ARTIFACTS_S3_CHECKSUM_ALGORITHM'),
      ['CRC32', 'CRC32C', 'SHA256', 'NONE'] as const,
      'ARTIFACTS_S3_CHECKSUM_ALGORITHM',
      (v) => v.toUpperCase(),
    ) ??
    DEFAULTS.checksumAlgorithm;

  if (
    options.clientConfig !== undefined &&
    (typeof options.clientConfig !== 'object' || options.clientConfig === null)
  )
    throw invalid('option clientConfig must be an object');

  const maxAttempts =
    options.maxAttempts === undefined
      ? undefined
      : integer(options.maxAttempts, 'maxAttempts', 'AWS_MAX_ATTEMPTS', { min: 1 });

  return {
    ...(region === undefined ? {} : { region }),
    ...(endpointUrl === undefined ? {} : { endpointUrl }),
    forcePathStyle,
    addressingStyle,
    tls,
    uploadExtraArgs,
    ...(expectedBucketOwner === undefined ? {} : { expectedBucketOwner }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.profile === undefined ? {} : { profile: str(options.profile, 'profile')! }),
    anonymous,
    partSizeBytes,
    copyCutoffBytes:
      integer(options.copyCutoffBytes, 'copyCutoffBytes', 'ARTIFACTS_S3_COPY_CUTOFF', {
        min: MIN_PART_SIZE,
        max: DEFAULTS.copyCutoffBytes,
      }) ?? DEFAULTS.copyCutoffBytes,
    uploadQueueSize:
      integer(options.uploadQueueSize, 'uploadQueueSize', 'ARTIFACTS_S3_UPLOAD_CONCURRENCY', { min: 1 }) ??
      DEFAULTS.uploadQueueSize,
    parallelDownloadThresholdBytes:
      integer(
        options.parallelDownloadThresholdBytes,
        'parallelDownloadThresholdBytes',
        'ARTIFACTS_S3_PARALLEL_DOWNLOAD_THRESHOLD',
        { min: 0 },
      ) ?? DEFAULTS.parallelDownloadThresholdBytes,
    downloadChunkSizeBytes:
      integer(options.downloadChunkSizeBytes, 'downloadChunkSizeBytes', 'ARTIFACTS_S3_DOWNLOAD_CHUNK_SIZE', {
        min: 1024 * 1024,
      }) ?? DEFAULTS.downloadChunkSizeBytes,
    downloadConcurrency:
      integer(options.downloadConcurrency, 'downloadConcurrency', 'ARTIFACTS_S3_DOWNLOAD_CONCURRENCY', {
        min: 1,
      }) ?? DEFAULTS.downloadConcurrency,
    checksumAlgorithm,
    connectTimeoutMs:
      integer(options.connectTimeoutMs, 'connectTimeoutMs', 'ARTIFACTS_S3_CONNECT_TIMEOUT_MS', { min: 1 }) ??
      DEFAULTS.connectTimeoutMs,
    socketTimeoutMs:
      integer(options.socketTimeoutMs, 'socketTimeoutMs', 'ARTIFACTS_S3_SOCKET_TIMEOUT_MS', { min: 1 }) ??
      DEFAULTS.socketTimeoutMs,
    ...(maxAttempts === undefined ? {} : { maxAttempts }),
    clientConfig: options.clientConfig ?? {},
  };
}

/**
 * MLflow's rule: MLFLOW_S3_IGNORE_TLS or AWS_CA_BUNDLE, not both. Options in code win over the
 * environment, so a conflict is an error only when both come from the same level.
 */
function resolveTls(options: S3Options): ResolvedS3Config['tls'] {
  if (options.ignoreTls !== undefined && typeof options.ignoreTls !== 'boolean')
    throw invalid(`option ignoreTls must be a boolean, got ${JSON.stringify(options.ignoreTls)}`);
  const optIgnore = options.ignoreTls;
  const optCa = options.caBundle === undefined ? undefined : str(options.caBundle, 'caBundle');
  if (optIgnore && optCa !== undefined)
    throw invalid('options ignoreTls and caBundle exclude each other: set only one');
  if (optIgnore) return { kind: 'ignore' };
  if (optCa !== undefined) return { kind: 'ca', path: optCa };
  if (optIgnore === false) {
    const ca = envString('AWS_CA_BUNDLE');
    return ca === undefined ? { kind: 'default' } : { kind: 'ca', path: ca };
  }
  const envIgnore = envBoolean('MLFLOW_S3_IGNORE_TLS') ?? false;
  const envCa = envString('AWS_CA_BUNDLE');
  if (envIgnore && envCa !== undefined) {
    throw invalid(
      `MLFLOW_S3_IGNORE_TLS and AWS_CA_BUNDLE are both set: set only one (MLFLOW_S3_IGNORE_TLS=true skips certificate verification; AWS_CA_BUNDLE=${JSON.stringify(envCa)} verifies against that bundle)`,
    );
  }
  if (envIgnore) return { kind: 'ignore' };
  if (envCa !== undefined) return { kind: 'ca', path: envCa };
  return { kind: 'default' };
}

function checkCredentials(credentials: unknown): void {
  if (typeof credentials === 'function') return;
  const c = credentials as Partial<S3Credentials> | null;
  if (
    !c ||
    typeof c !== 'object' ||
    typeof c.accessKeyId !== 'string' ||
    c.accessKeyId === '' ||
    typeof c.secretAccessKey !== 'string' ||
    c.secretAccessKey === ''
  ) {
    throw invalid(
      'option credentials must be { accessKeyId, secretAccessKey, sessionToken? } with non-empty strings, or a provider function',
    );
  }
}
