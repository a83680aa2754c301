import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { uniqueRoot } from './helpers.js';

const MiB = 1024 * 1024;

// MinIO from integration/ (MLFLOW_S3_ENDPOINT_URL, AWS_* credentials): each test gets its own prefix.
//
// The large-file test's RSS growth bound is 200 MiB here, not the kit's 160: s3's multipart upload
// of the 256 MiB file grew RSS by 110-137 MiB in CI runs and once by 171 MiB (the container part of
// a cold CI, upload at 135 MiB/s) while its part buffers are a fixed pool of (concurrency + 1) x part
// size; the rest is, as ftp's suite measured, mostly the test source's 1 MiB chunks waiting for the
// garbage collector, which lags further the faster they come (not yet profiled for s3: issue 11). 200 MiB still fails any upload or download that holds the whole file.
describeConformance('s3 on MinIO', {
  open: () => openRepository(uniqueRoot('conformance')),
  maxRssGrowthBytes: 200 * MiB,
});
