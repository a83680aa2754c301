// One transfer with @artifacts, run as its own process so that its peak RSS is measured alone.
// usage: node artifacts-op.mjs <upload-file|download-file|upload-dir|download-dir> <repository uri> <local path> <artifact path>
import { openRepository } from '@artifacts/core';
import '../dist/index.js';

const [op, uri, local, artifactPath] = process.argv.slice(2);
const repo = await openRepository(uri);
try {
  if (op === 'upload-file') await repo.logArtifact(local, artifactPath);
  else if (op === 'upload-dir') await repo.logArtifacts(local, artifactPath);
  else if (op === 'download-file' || op === 'download-dir') await repo.downloadArtifacts(artifactPath, local);
  else throw new Error(`unknown operation ${op}`);
} finally {
  await repo.close();
}
