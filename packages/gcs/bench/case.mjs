// One measured case, in its own process so that its peak RSS is its own:
//   node bench/case.mjs <artifacts|sdk> <upload|download> <big|small> <local path> <root prefix>
// Prints one JSON line: { seconds, maxRssMiB }.
import { mkdir, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { openRepository } from '@artifacts/core';
import { Storage } from '@google-cloud/storage';
import '../dist/index.js';

const [impl, op, dataset, local, root] = process.argv.slice(2);
const endpoint = process.env.BENCH_GCS_ENDPOINT;
const bucketName = process.env.BENCH_GCS_BUCKET;
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
  const repo = await openRepository(`gs://${bucketName}/${root}`, {
    endpoint,
    anonymous: true,
    ...JSON.parse(process.env.BENCH_OPTIONS ?? '{}'),
  });
  if (op === 'upload') {
    if (dataset === 'big') await repo.logArtifact(local, 'big');
    else await repo.logArtifacts(local, 'small');
  } else {
    await mkdir(local, { recursive: true });
    await repo.downloadArtifacts(dataset === 'big' ? 'big' : 'small', local);
  }
  await repo.close();
} else {
  // The raw SDK doing the same with its defaults (resumable above 5 MB, CRC32C validation), 16 files
  // at a time for the small ones. apiEndpoint given explicitly (STORAGE_EMULATOR_HOST is broken in it).
  const storage = new Storage({ apiEndpoint: endpoint, projectId: 'test' });
  const bucket = storage.bucket(bucketName);
  if (op === 'upload') {
    const files = dataset === 'big' ? [local] : await walk(local);
    await pool(files, CONCURRENCY, (file) =>
      bucket.upload(file, {
        destination:
          dataset === 'big'
            ? `${root}/big/${file.split('/').pop()}`
            : `${root}/small/${relative(local, file)}`,
      }),
    );
  } else {
    await mkdir(local, { recursive: true });
    const [files] = await bucket.getFiles({ prefix: `${root}/${dataset === 'big' ? 'big' : 'small'}/` });
    await pool(files, CONCURRENCY, async (file) => {
      const target = join(local, file.name.slice(root.length + 1));
      await mkdir(join(target, '..'), { recursive: true });
      await file.download({ destination: target });
    });
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// resourceUsage().maxRSS is in KiB.
console.log(JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
