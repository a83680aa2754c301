import { openRepository } from '@artifacts/core';
import { describeConformance } from '@artifacts/testkit';
import '../../src/index.js';
import { uniqueRoot } from './helpers.js';

// fake-gcs-server from integration/ (STORAGE_EMULATOR_HOST): each test gets its own prefix. The
// default chunk sizes (100 MiB) make the 256 MiB large-file case a multi-chunk resumable upload and a
// three-part parallel download.
describeConformance('gcs on fake-gcs-server', {
  open: () => openRepository(uniqueRoot('conformance')),
});
