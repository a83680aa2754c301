import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { uniqueRoot } from './helpers.js';

// MinIO from integration/ (MLFLOW_S3_ENDPOINT_URL, AWS_* credentials): each test gets its own prefix.
describeConformance('s3 on MinIO', {
  open: () => openRepository(uniqueRoot('conformance')),
});
