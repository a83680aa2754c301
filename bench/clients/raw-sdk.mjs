// The backend's own SDK as its documentation shows it (S3: lib-storage Upload / GetObject; Azure:
// uploadStream(8 MiB, 4) / uploadFile / downloadToFile; GCS: bucket.upload / file.download), 16 files at a time.
//   node raw-sdk.mjs <s3|azure|gcs> <op> <local> <bucket> <key prefix>
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const labels = { s3: 'AWS SDK v3', azure: '@azure/storage-blob', gcs: '@google-cloud/storage' };
export default {
  id: 'raw-sdk',
  label: (c) => `raw SDK (${labels[c.backend]})`,
  backends: Object.keys(labels),
  command: (c, op, p) => ({
    cmd: process.execPath,
    args: [fileURLToPath(import.meta.url), c.backend, op, p.local, c.bucket, c.key(p.rel)],
  }),
};

async function pool(items, fn, n = 16) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function walk(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  return out;
}

async function s3(op, local, bucket, prefix) {
  const { S3Client, GetObjectCommand, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const { Upload } = await import('@aws-sdk/lib-storage');
  const client = new S3Client({
    endpoint: process.env.MLFLOW_S3_ENDPOINT_URL,
    forcePathStyle: true,
    region: process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
  });
  const put = (file, Key) =>
    new Upload({ client, params: { Bucket: bucket, Key, Body: createReadStream(file) } }).done();
  const get = async (Key, file) => {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
    await mkdir(dirname(file), { recursive: true });
    await pipeline(out.Body, createWriteStream(file));
  };
  const list = async (Prefix) => {
    const keys = [];
    let ContinuationToken;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix, ContinuationToken }));
      for (const o of page.Contents ?? []) keys.push(o.Key);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return keys;
  };
  await run(op, local, prefix, { put, get, list });
  client.destroy();
}

async function azure(op, local, container, prefix) {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const c = BlobServiceClient.fromConnectionString(
    process.env.AZURE_STORAGE_CONNECTION_STRING,
  ).getContainerClient(container);
  await run(op, local, prefix, {
    put: (file, name, big) =>
      big
        ? c
            .getBlockBlobClient(name)
            .uploadStream(createReadStream(file, { highWaterMark: 1024 * 1024 }), 8 * 1024 * 1024, 4)
        : c.getBlockBlobClient(name).uploadFile(file),
    get: async (name, file) => {
      await mkdir(dirname(file), { recursive: true });
      await c.getBlockBlobClient(name).downloadToFile(file);
    },
    list: async (prefix) => {
      const names = [];
      for await (const b of c.listBlobsFlat({ prefix })) names.push(b.name);
      return names;
    },
  });
}

async function gcs(op, local, bucketName, prefix) {
  const { Storage } = await import('@google-cloud/storage');
  // with STORAGE_EMULATOR_HOST set (the integration exports it) the client sends downloads astray (404)
  delete process.env.STORAGE_EMULATOR_HOST;
  const bucket = new Storage({
    apiEndpoint: process.env.ARTIFACTS_IT_GCS_ENDPOINT,
    projectId: 'bench',
  }).bucket(bucketName);
  await run(op, local, prefix, {
    put: (file, destination) => bucket.upload(file, { destination }),
    get: async (name, destination) => {
      await mkdir(dirname(destination), { recursive: true });
      await bucket.file(name).download({ destination });
    },
    list: async (p) => (await bucket.getFiles({ prefix: p }))[0].map((f) => f.name),
  });
}

async function run(op, local, prefix, { put, get, list }) {
  if (op === 'big-up') await put(local, `${prefix}/big.bin`, true);
  if (op === 'big-down') await get(`${prefix}/big.bin`, join(local, 'big.bin'));
  if (op === 'small-up')
    await pool(await walk(local), (f) => put(f, `${prefix}/small/${relative(local, f)}`));
  if (op === 'small-down') {
    const keys = await list(`${prefix}/small/`);
    await pool(keys, (k) => get(k, join(local, 'small', k.slice(prefix.length + 7))));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [backend, op, local, bucket, prefix] = process.argv.slice(2);
  await { s3, azure, gcs }[backend](op, local, bucket, prefix);
}
