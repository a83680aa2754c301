import { createHash } from 'node:crypto';
import { objectSetting } from '@artifacts/core';

/**
 * boto3's `S3Transfer.ALLOWED_UPLOAD_ARGS` (PutObject/CreateMultipartUpload members of the same
 * name in the JS SDK), each with the JSON type expected and the request header S3 reads it from.
 */
const ARGS: Record<string, readonly ['string' | 'date' | 'boolean' | 'map', string]> = {
  ACL: ['string', 'x-amz-acl'],
  BucketKeyEnabled: ['boolean', 'x-amz-server-side-encryption-bucket-key-enabled'],
  CacheControl: ['string', 'cache-control'],
  ChecksumAlgorithm: ['string', ''],
  ContentDisposition: ['string', 'content-disposition'],
  ContentEncoding: ['string', 'content-encoding'],
  ContentLanguage: ['string', 'content-language'],
  ContentType: ['string', 'content-type'],
  ExpectedBucketOwner: ['string', 'x-amz-expected-bucket-owner'],
  Expires: ['date', 'expires'],
  GrantFullControl: ['string', 'x-amz-grant-full-control'],
  GrantRead: ['string', 'x-amz-grant-read'],
  GrantReadACP: ['string', 'x-amz-grant-read-acp'],
  GrantWriteACP: ['string', 'x-amz-grant-write-acp'],
  Metadata: ['map', 'x-amz-meta-'],
  ObjectLockLegalHoldStatus: ['string', 'x-amz-object-lock-legal-hold'],
  ObjectLockMode: ['string', 'x-amz-object-lock-mode'],
  ObjectLockRetainUntilDate: ['date', 'x-amz-object-lock-retain-until-date'],
  RequestPayer: ['string', 'x-amz-request-payer'],
  SSECustomerAlgorithm: ['string', ''],
  SSECustomerKey: ['string', ''],
  SSECustomerKeyMD5: ['string', ''],
  SSEKMSEncryptionContext: ['string', 'x-amz-server-side-encryption-context'],
  SSEKMSKeyId: ['string', 'x-amz-server-side-encryption-aws-kms-key-id'],
  ServerSideEncryption: ['string', 'x-amz-server-side-encryption'],
  StorageClass: ['string', 'x-amz-storage-class'],
  Tagging: ['string', 'x-amz-tagging'],
  WebsiteRedirectLocation: ['string', 'x-amz-website-redirect-location'],
};

/** Names accepted in MLFLOW_S3_UPLOAD_EXTRA_ARGS, sorted (shown in errors and the README). */
export const ALLOWED_UPLOAD_EXTRA_ARGS: readonly string[] = Object.keys(ARGS).sort();

/** Validated extra args, by their SDK member names (dates as Dates, `Metadata` an object of strings). */
export type UploadExtraArgs = Record<string, string | boolean | Date | Record<string, string> | undefined> & {
  ChecksumAlgorithm?: string;
  ContentType?: string;
  ExpectedBucketOwner?: string;
  RequestPayer?: string;
  SSECustomerAlgorithm?: string;
  SSECustomerKey?: string;
  SSECustomerKeyMD5?: string;
};

/** The arguments as a setting of core's: each member's type checked, unknown ones refused, no value echoed. */
export const uploadArgsSetting = objectSetting({
  backend: '@artifacts/s3',
  noun: 'upload argument',
  members: {
    ...Object.fromEntries(Object.entries(ARGS).map(([name, [type]]) => [name, type])),
    ChecksumAlgorithm: ['CRC32', 'CRC32C', 'SHA256'],
  },
  example: '{"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "1234"}',
});

/** Parses boto3-style upload ExtraArgs (a JSON string or an object); `source` names it in errors. */
export const parseUploadExtraArgs = (value: Record<string, unknown> | string | undefined, source: string) =>
  (value === undefined ? {} : uploadArgsSetting.parse(value, source)) as UploadExtraArgs;

/**
 * The headers of the given arguments (all but the checksum and SSE-C, which go apart), as the SDK
 * serializes them: `Expires` an HTTP date, other dates ISO 8601, `Metadata` one `x-amz-meta-` each.
 */
export function argHeaders(args: UploadExtraArgs, names?: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(args)) {
    const header = ARGS[name]?.[1];
    if (!header || value === undefined || (names && !names.includes(name))) continue;
    if (value instanceof Date)
      out[header] = name === 'Expires' ? value.toUTCString() : value.toISOString().replace('.000Z', 'Z');
    else if (typeof value === 'object')
      for (const [key, meta] of Object.entries(value)) out[`${header}${key.toLowerCase()}`] = meta;
    else out[header] = String(value);
  }
  return out;
}

const SSE_C = 'x-amz-server-side-encryption-customer-';

/**
 * The SSE-C headers sent with every request on an object (and by a client PUTting a presigned part),
 * as the SDK derives them: a key that is base64 of 32 bytes as is, any other as its UTF-8 bytes; its
 * MD5. `prefix` `x-amz-copy-source-` names a copy's source.
 */
export function sseCHeaders(args: UploadExtraArgs, prefix = 'x-amz-'): Record<string, string> {
  const key = args.SSECustomerKey;
  const name = SSE_C.replace('x-amz-', prefix);
  if (!key) return args.SSECustomerAlgorithm ? { [`${name}algorithm`]: args.SSECustomerAlgorithm } : {};
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(key) ? Buffer.from(key, 'base64') : undefined;
  const bytes = decoded?.length === 32 ? decoded : Buffer.from(key, 'utf8');
  return {
    [`${name}algorithm`]: args.SSECustomerAlgorithm ?? 'AES256',
    [`${name}key`]: bytes.toString('base64'),
    [`${name}key-md5`]: createHash('md5').update(bytes).digest('base64'),
  };
}
