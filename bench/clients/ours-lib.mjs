// Ours, through the library: openRepository + logArtifact(s) / downloadArtifacts, one process per transfer.
//   node ours-lib.mjs <big-up|big-down|small-up|small-down> <directory URI> <local path>
import { fileURLToPath } from 'node:url';

export default {
  id: 'ours-lib',
  label: () => 'ours (library)',
  backends: ['s3', 'azure', 'gcs', 'sftp', 'ftp', 'hdfs', 'local', 'proxy'],
  command: (ctx, op, p) => ({
    cmd: process.execPath,
    args: [...ctx.nodeFlags, fileURLToPath(import.meta.url), op, p.uri, p.local],
  }),
};

/** One case through an open repository, closed after (also `ours-ref.mjs`'s). */
export async function runCase(repo, op, local) {
  try {
    if (op === 'big-up') await repo.logArtifact(local);
    else if (op === 'big-down') await repo.downloadArtifacts('big.bin', local);
    else if (op === 'small-up') await repo.logArtifacts(local, 'small');
    else if (op === 'small-down') await repo.downloadArtifacts('small', local);
    else throw new Error(`unknown operation ${op}`);
  } finally {
    await repo.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [op, uri, local] = process.argv.slice(2);
  const { openRepository } = await import('@artifacts/core');
  await (await import('../src/backend-packages.mjs')).loadBackendFor(uri);
  await runCase(await openRepository(uri), op, local);
}
