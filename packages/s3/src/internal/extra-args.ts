import { ArtifactsError } from '@artifacts/core';
import type { PutObjectCommandInput } from '@aws-sdk/client-s3';

/**
 * boto3's `S3Transfer.ALLOWED_UPLOAD_ARGS` that have a PutObject/CreateMultipartUpload member of the
 * same name in the JS SDK (both SDKs are generated from the same model), by the JSON type expected.
 */
const ARGS: Record<string, 'string' | 'date' | 'boolean' | 'map'> = {
  ...kinds(
    'string',
    'ACL CacheControl ChecksumAlgorithm ContentDisposition ContentEncoding ContentLanguage ContentType ExpectedBucketOwner GrantFullControl GrantRead GrantReadACP GrantWriteACP ObjectLockLegalHoldStatus ObjectLockMode RequestPayer ServerSideEncryption SSECustomerAlgorithm SSECustomerKey SSECustomerKeyMD5 SSEKMSEncryptionContext SSEKMSKeyId StorageClass Tagging WebsiteRedirectLocation',
  ),
  ...kinds('date', 'Expires ObjectLockRetainUntilDate'),
  ...kinds('boolean', 'BucketKeyEnabled'),
  ...kinds('map', 'Metadata'),
};

function kinds<K extends string>(kind: K, names: string): Record<string, K> {
  return Object.fromEntries(names.split(' ').map((name) => [name, kind]));
}

/** Names accepted in MLFLOW_S3_UPLOAD_EXTRA_ARGS, sorted (shown in errors and the README). */
export const ALLOWED_UPLOAD_EXTRA_ARGS: readonly string[] = Object.keys(ARGS).sort();

const CHECKSUMS = ['CRC32', 'CRC32C', 'SHA256'];

/** Validated extra args, ready to spread into PutObject/CreateMultipartUpload input. */
export type UploadExtraArgs = Partial<Omit<PutObjectCommandInput, 'Bucket' | 'Key' | 'Body'>>;

function invalid(source: string, message: string): ArtifactsError {
  return ArtifactsError.invalidArgument(`@artifacts/s3: ${source}: ${message}`);
}

/**
 * Parses boto3-style upload ExtraArgs (a JSON string or an object). Unknown keys and wrong types
 * are refused with an error naming them; values are never echoed (they may hold an SSE-C key).
 */
export function parseUploadExtraArgs(
  value: Record<string, unknown> | string | undefined,
  source: string,
): UploadExtraArgs {
  if (value === undefined) return {};
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw invalid(
        source,
        `is not valid JSON (${error instanceof Error ? error.message : String(error)}); expected an object such as {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "1234"}`,
      );
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw invalid(source, 'must be a JSON object of upload arguments');
  const input = parsed as Record<string, unknown>;
  const unknown = Object.keys(input).filter((key) => !ALLOWED_UPLOAD_EXTRA_ARGS.includes(key));
  if (unknown.length > 0) {
    throw invalid(
      source,
      `unknown upload argument(s) ${unknown.join(', ')}; allowed: ${ALLOWED_UPLOAD_EXTRA_ARGS.join(', ')}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(input)) {
    const kind = ARGS[key];
    if (kind === 'string') {
      if (typeof raw !== 'string') throw invalid(source, `${key} must be a string`);
      out[key] = raw;
    } else if (kind === 'date') {
      const date = typeof raw === 'string' || typeof raw === 'number' ? new Date(raw) : undefined;
      if (!date || Number.isNaN(date.getTime()))
        throw invalid(source, `${key} must be a date (ISO 8601 string or epoch milliseconds)`);
      out[key] = date;
    } else if (kind === 'boolean') {
      if (typeof raw !== 'boolean') throw invalid(source, `${key} must be true or false`);
      out[key] = raw;
    } else {
      const values =
        typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? Object.values(raw) : [0];
      if (values.some((v) => typeof v !== 'string'))
        throw invalid(source, `${key} must be an object of string values`);
      out[key] = { ...(raw as Record<string, string>) };
    }
  }
  if (out.ChecksumAlgorithm !== undefined) {
    const algorithm = String(out.ChecksumAlgorithm).toUpperCase();
    if (!CHECKSUMS.includes(algorithm))
      throw invalid(source, `ChecksumAlgorithm must be one of ${CHECKSUMS.join(', ')}`);
    out.ChecksumAlgorithm = algorithm;
  }
  return out as UploadExtraArgs;
}

/** The SSE-C key of the extra args (sent with every request on the object), apart from the rest. */
export type SseC = Partial<
  Pick<UploadExtraArgs, 'SSECustomerAlgorithm' | 'SSECustomerKey' | 'SSECustomerKeyMD5'>
>;

/** Splits the SSE-C members (only those set) from the upload arguments. */
export function splitSseC(args: UploadExtraArgs): { sseC: SseC; uploadArgs: UploadExtraArgs } {
  const { SSECustomerAlgorithm, SSECustomerKey, SSECustomerKeyMD5, ...uploadArgs } = args;
  const sseC: SseC = {
    ...(SSECustomerAlgorithm ? { SSECustomerAlgorithm } : {}),
    ...(SSECustomerKey ? { SSECustomerKey } : {}),
    ...(SSECustomerKeyMD5 ? { SSECustomerKeyMD5 } : {}),
  };
  return { sseC, uploadArgs };
}
