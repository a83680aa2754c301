// Apache OpenDAL's Node binding (npm `opendal`): write/read per small file, 16 at a time; writer/reader for the big file.
//   node opendal.mjs <op> <local> <JSON operator options> <scheme> <path prefix>
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

function operator(c) {
  const e = c.env;
  switch (c.backend) {
    case 's3':
      return [
        's3',
        {
          bucket: c.bucket,
          endpoint: e.MLFLOW_S3_ENDPOINT_URL,
          region: e.AWS_DEFAULT_REGION ?? 'us-east-1',
          access_key_id: e.AWS_ACCESS_KEY_ID,
          secret_access_key: e.AWS_SECRET_ACCESS_KEY,
        },
      ];
    case 'azure':
      return [
        'azblob',
        {
          container: c.bucket,
          endpoint: e.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT,
          account_name: e.ARTIFACTS_IT_AZURE_ACCOUNT,
          account_key: e.ARTIFACTS_IT_AZURE_ACCOUNT_KEY,
        },
      ];
    case 'gcs':
      return [
        'gcs',
        {
          bucket: c.bucket,
          endpoint: e.ARTIFACTS_IT_GCS_ENDPOINT,
          allow_anonymous: 'true',
          disable_vm_metadata: 'true',
          disable_config_load: 'true',
        },
      ];
    case 'hdfs':
      return [
        'webhdfs',
        { endpoint: e.ARTIFACTS_IT_HDFS_WEBHDFS_URL, user_name: e.HADOOP_USER_NAME ?? 'root' },
      ];
    case 'local':
      return ['fs', { root: '/' }];
    default:
      return undefined;
  }
}

export default {
  id: 'opendal',
  label: () => 'OpenDAL (Node binding)',
  backends: ['s3', 'azure', 'gcs', 'hdfs', 'local'],
  // its prebuilt binary needs glibc 2.38; an older system (Debian 12: 2.36) cannot load it
  available: (c) => c.loads('opendal'),
  command: (c, op, p) => {
    const [scheme, options] = operator(c);
    const prefix = ['s3', 'azure', 'gcs'].includes(c.backend) ? c.key(p.rel) : c.path(p.rel);
    return {
      cmd: process.execPath,
      args: [fileURLToPath(import.meta.url), op, p.local, JSON.stringify(options), scheme, prefix],
    };
  },
};

const CHUNK = 8 * 1024 * 1024;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [op, local, options, scheme, prefix] = process.argv.slice(2);
  const { Operator } = await import('opendal');
  const dal = new Operator(scheme, JSON.parse(options));
  const pool = async (items, fn) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < items.length) await fn(items[next++]);
      }),
    );
  };
  if (op === 'big-up') {
    const w = await dal.writer(`${prefix}/big.bin`);
    for await (const chunk of createReadStream(local, { highWaterMark: CHUNK })) await w.write(chunk);
    await w.close();
  } else if (op === 'big-down') {
    const r = await dal.reader(`${prefix}/big.bin`);
    const out = await open(join(local, 'big.bin'), 'w');
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const n = await r.read(buf);
      if (n <= 0) break;
      await out.write(buf, 0, n);
    }
    await out.close();
  } else if (op === 'small-up') {
    const files = [];
    for (const e of await readdir(local, { withFileTypes: true, recursive: true }))
      if (e.isFile()) files.push(join(e.parentPath, e.name));
    const { readFile } = await import('node:fs/promises');
    await pool(files, async (f) => dal.write(`${prefix}/small/${relative(local, f)}`, await readFile(f)));
  } else {
    const { writeFile } = await import('node:fs/promises');
    const entries = (await dal.list(`${prefix}/small/`, { recursive: true })).filter(
      (e) => !e.path().endsWith('/'),
    );
    await pool(entries, async (e) => {
      const target = join(local, 'small', e.path().slice(prefix.replace(/^\//, '').length + 7));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, await dal.read(e.path()));
    });
  }
}
