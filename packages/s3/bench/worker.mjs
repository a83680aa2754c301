// One measured transfer in its own process (so its peak RSS is its own), for bench.mjs.
//   node worker.mjs <artifacts|baseline|sdk> <big-up|big-down|small-up|small-down> <local path> <remote prefix>
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';

const [contender, op, local, prefix] = process.argv.slice(2);
const bucket = process.env.ARTIFACTS_IT_S3_BUCKET;
const endpoint = process.env.MLFLOW_S3_ENDPOINT_URL;
const CONCURRENCY = 16;

async function pool(items, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function walk(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

async function artifacts() {
  // BENCH_BASELINE_DIR: another build (core/index.js, s3/index.js importing ../core/index.js) to
  // measure before/after in one run.
  const base = contender === 'baseline' ? process.env.BENCH_BASELINE_DIR : undefined;
  const { openRepository } = await import(base ? join(base, 'core/index.js') : '@artifacts/core');
  await import(base ? join(base, 's3/index.js') : '../dist/index.js');
  const repo = await openRepository(`s3://${bucket}/${prefix}`, { maxConcurrency: CONCURRENCY });
  if (op === 'big-up') await repo.logArtifact(local);
  if (op === 'big-down') await repo.downloadArtifacts('big.bin', local);
  if (op === 'small-up') await repo.logArtifacts(local);
  if (op === 'small-down') await repo.downloadArtifacts(undefined, local);
  await repo.close();
}

// The plain SDK as its documentation shows it: lib-storage Upload with its defaults, GetObject piped
// to a file, the same concurrency for many files.
async function sdk() {
  const { S3Client, GetObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({ endpoint, forcePathStyle: true, region: process.env.AWS_DEFAULT_REGION });
  const put = (file, key) =>
    new Upload({ client, params: { Bucket: bucket, Key: key, Body: createReadStream(file) } }).done();
  const get = async (key, file) => {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    await mkdir(dirname(file), { recursive: true });
    await pipeline(out.Body, createWriteStream(file));
  };
  if (op === 'big-up') await put(local, `${prefix}/${basename(local)}`);
  if (op === 'big-down') await get(`${prefix}/big.bin`, join(local, 'big.bin'));
  if (op === 'small-up') {
    const files = await walk(local);
    await pool(files, (file) => put(file, `${prefix}/${relative(local, file)}`));
  }
  if (op === 'small-down') {
    const keys = [];
    let token;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    await pool(keys, (key) => get(key, join(local, key.slice(prefix.length + 1))));
  }
  client.destroy();
}

await (contender === 'sdk' ? sdk() : artifacts());
