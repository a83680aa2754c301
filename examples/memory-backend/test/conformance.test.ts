import { randomUUID } from 'node:crypto';
import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
// By its own name, as users will: this resolves through package.json "exports" to the build.
import 'artifacts-backend-memory';

describeConformance('artifacts-backend-memory', {
  // A fresh, empty repository per call: its own prefix in one store.
  open: () => openRepository(`mem://conformance/${randomUUID()}`),
  // The backend holds every byte in memory, so the large file must stay well under the suite's RSS
  // bound (maxRssGrowthBytes, 160 MiB by default), or the memory check fails.
  largeFileBytes: 8 * 1024 * 1024,
});
