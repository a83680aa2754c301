import { registerBackend } from '@artifacts/core';
import { s3Backend } from './plugin.js';

export { ALLOWED_UPLOAD_EXTRA_ARGS } from './internal/extra-args.js';
export type {
  AddressingStyle,
  S3ChecksumAlgorithm,
  S3Credentials,
  S3CredentialsProvider,
  S3Options,
} from './options.js';
export { s3Backend };

registerBackend(s3Backend);
