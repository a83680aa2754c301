// One measured case, in its own process so that its peak RSS is its own:
//   node bench/case.mjs <artifacts|sdk> <upload|download> <big|small> <local path> <root prefix>
// Prints one JSON line: { seconds, maxRssMiB }.
import { mkdir, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { openRepository } from '@artifacts/core';
import { BlobServiceClient } from '@azure/storage-blob';
import '../dist/index.js';

const [impl, op, dataset, local, root] = process.argv.slice(2);
const connectionString = process.env.AZURE_STORAGE_CONNECTION_STRING;
const containerName = process.env.BENCH_AZURE_CONTAINER;
const account = process.env.BENCH_AZURE_ACCOUNT;
const BLOCK = 8 * 1024 * 1024;
const CONCURRENCY = 16;

async function walk(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(path)));
    else out.push(path);
  }
  return out;
}

async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

const started = process.hrtime.bigint();
if (impl === 'artifacts') {
  const repo = await openRepository(
    `wasbs://${containerName}@${account}.blob.core.windows.net/${root}`,
    JSON.parse(process.env.BENCH_OPTIONS ?? '{}'),
  );
  if (op === 'upload') {
    if (dataset === 'big') await repo.logArtifact(local, 'big');
    else await repo.logArtifacts(local, 'small');
  } else {
    await mkdir(local, { recursive: true });
    await repo.downloadArtifacts(dataset === 'big' ? 'big' : 'small', local);
  }
  await repo.close();
} else {
  // The raw SDK doing the same: uploadStream/downloadToFile with the same block size and concurrency
  // for the big file; one call per file, 16 at a time, for the small ones.
  const container =
    BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  if (op === 'upload') {
    if (dataset === 'big') {
      const { createReadStream } = await import('node:fs');
      const name = `${root}/big/${local.split('/').pop()}`;
      await container
        .getBlockBlobClient(name)
        .uploadStream(createReadStream(local, { highWaterMark: 1024 * 1024 }), BLOCK, 4);
    } else {
      const files = await walk(local);
      await pool(files, CONCURRENCY, (file) =>
        container.getBlockBlobClient(`${root}/small/${relative(local, file)}`).uploadFile(file),
      );
    }
  } else {
    await mkdir(local, { recursive: true });
    const prefix = `${root}/${dataset === 'big' ? 'big' : 'small'}/`;
    const names = [];
    for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
    await pool(names, dataset === 'big' ? 1 : CONCURRENCY, async (name) => {
      const target = join(local, name.slice(root.length + 1));
      await mkdir(join(target, '..'), { recursive: true });
      const blob = container.getBlockBlobClient(name);
      // The JS SDK has no parallel download to a file (downloadToBuffer would hold 2 GiB in memory).
      await blob.downloadToFile(target);
    });
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// resourceUsage().maxRSS is in KiB.
console.log(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
