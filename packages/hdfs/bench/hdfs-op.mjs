// One benchmark operation in its own process (so /usr/bin/time -v measures its peak RSS alone).
import { openRepository } from '@artifacts/core';
import '../dist/index.js';

const [op, a, b, c] = process.argv.slice(2);
if (op === 'upload') {
  const repo = await openRepository(b);
  await repo.logArtifact(a, c === 'large.bin' ? undefined : c);
  await repo.close();
} else if (op === 'upload-dir') {
  const repo = await openRepository(b);
  await repo.logArtifacts(a, c);
  await repo.close();
} else if (op === 'download') {
  (await import('node:fs')).mkdirSync(c, { recursive: true });
  const repo = await openRepository(a);
  await repo.downloadArtifacts(b, c);
  await repo.close();
} else {
  throw new Error(`unknown op ${op}`);
}
