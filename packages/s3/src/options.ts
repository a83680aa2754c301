import type { OptionsOf } from '@artifacts/core';
import type { s3Settings } from './internal/settings.js';

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

/**
 * Options of the s3 backend, passed beside the repository options to `openRepository`: derived from
 * the declaration in `internal/settings.ts`, whose `help` (and the README table made from it) says
 * what each means, its default and its environment variable.
 */
export type S3Options = OptionsOf<typeof s3Settings.specs>;
