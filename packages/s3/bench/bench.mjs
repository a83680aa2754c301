// Benchmark of @artifacts/s3 against the raw AWS SDK and Debian's rclone, on the same MinIO, in one
// run: a big file and many small files, up and down. Medians over BENCH_RUNS runs; MB/s, files/s and
// peak RSS of each transfer's own process (/usr/bin/time -v). Prints a Markdown table.
//
//   pnpm servers up s3 && source integration/.servers.env
//   pnpm --filter @artifacts/s3 build && pnpm --filter @artifacts/s3 bench
//
// Sizes: BENCH_BIG_MIB (default 2048), BENCH_SMALL_FILES (5000), BENCH_SMALL_BYTES (16384),
// BENCH_RUNS (3), BENCH_SMALL_FILES=0 to skip the small-file cases, BENCH_TOOLS (comma-separated
// substrings of the tool names to run), BENCH_BASELINE_DIR (another build of core and s3 to
// compare with, see docs/benchmarks/s3.md). Needs `rclone` on the PATH (Debian: apt-get install -y rclone).
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const MiB = 1024 * 1024;

// Reuse the servers' variables when they were not sourced.
const envFile = join(here, '../../../integration/.servers.env');
if (!process.env.MLFLOW_S3_ENDPOINT_URL && existsSync(envFile)) {
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const match = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match) process.env[match[1]] ??= match[2].replace(/^'(.*)'$/, '$1').replace(/^"(.*)"$/, '$1');
  }
}
for (const name of [
  'MLFLOW_S3_ENDPOINT_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'ARTIFACTS_IT_S3_BUCKET',
]) {
  if (!process.env[name]) {
    console.error(
      `${name} is not set: start MinIO with \`pnpm servers up s3\` and source integration/.servers.env`,
    );
    process.exit(2);
  }
}
// The machine's AWS_CA_BUNDLE would conflict with nothing here (plain http), but keep runs clean.
delete process.env.MLFLOW_S3_IGNORE_TLS;

const BIG = Number(process.env.BENCH_BIG_MIB ?? 2048) * MiB;
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 5000);
const SMALL_BYTES = Number(process.env.BENCH_SMALL_BYTES ?? 16384);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const bucket = process.env.ARTIFACTS_IT_S3_BUCKET;
const work = join(tmpdir(), 'artifacts-s3-bench');

async function makeData() {
  await rm(work, { recursive: true, force: true });
  await mkdir(join(work, 'small'), { recursive: true });
  // Incompressible bytes; one 64 MiB random block repeated (MinIO neither compresses nor dedupes).
  const block = Buffer.alloc(64 * MiB);
  for (let i = 0; i < block.length; i += 65536) block.set(crypto.getRandomValues(new Uint8Array(65536)), i);
  const out = createWriteStream(join(work, 'big.bin'));
  for (let written = 0; written < BIG; written += block.length) {
    const piece = block.subarray(0, Math.min(block.length, BIG - written));
    if (!out.write(piece)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
  for (let i = 0; i < SMALL_FILES; i++) {
    const dir = join(work, 'small', `d${i % 50}`);
    if (i < 50) await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `f${i}.bin`), crypto.getRandomValues(new Uint8Array(SMALL_BYTES)));
  }
}

function timed(command, args, env = process.env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', command, ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? 0) * 1024;
      const cpu =
        Number(/User time \(seconds\): ([\d.]+)/.exec(stderr)?.[1] ?? 0) +
        Number(/System time \(seconds\): ([\d.]+)/.exec(stderr)?.[1] ?? 0);
      if (code !== 0)
        reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}`));
      else resolve({ seconds, rss, cpu });
    });
  });
}

const endpoint = process.env.MLFLOW_S3_ENDPOINT_URL;
const rcloneEnv = {
  ...process.env,
  RCLONE_CONFIG_MINIO_TYPE: 's3',
  RCLONE_CONFIG_MINIO_PROVIDER: 'Minio',
  RCLONE_CONFIG_MINIO_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
  RCLONE_CONFIG_MINIO_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
  RCLONE_CONFIG_MINIO_ENDPOINT: endpoint,
  RCLONE_CONFIG_MINIO_REGION: process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
};
const rcloneFlags = ['--transfers', '16', '--checkers', '16', '--s3-no-check-bucket'];

const baseline = process.env.BENCH_BASELINE_DIR;
const contenders = {
  ...(baseline
    ? {
        '@artifacts/s3 (baseline build)': (op, local, prefix) =>
          timed(process.execPath, [join(here, 'worker.mjs'), 'baseline', op, local, prefix]),
      }
    : {}),
  '@artifacts/s3': (op, local, prefix) =>
    timed(process.execPath, [join(here, 'worker.mjs'), 'artifacts', op, local, prefix]),
  'AWS SDK (lib-storage Upload / GetObject)': (op, local, prefix) =>
    timed(process.execPath, [join(here, 'worker.mjs'), 'sdk', op, local, prefix]),
  [`rclone (${rcloneVersion()})`]: (op, local, prefix) => {
    const remote = `minio:${bucket}/${prefix}`;
    const args = {
      'big-up': ['copyto', local, `${remote}/big.bin`],
      'big-down': ['copyto', `${remote}/big.bin`, join(local, 'big.bin')],
      'small-up': ['copy', local, remote],
      'small-down': ['copy', remote, local],
    }[op];
    return timed('rclone', [...args, ...rcloneFlags], rcloneEnv);
  },
};

function rcloneVersion() {
  try {
    return (
      /rclone (v[\w.-]+)/.exec(execFileSync('rclone', ['version'], { encoding: 'utf8' }))?.[1] ?? 'Debian'
    );
  } catch {
    return 'not installed';
  }
}

async function clearPrefix(prefix) {
  const { S3Client, ListObjectsV2Command, DeleteObjectsCommand } = await import('@aws-sdk/client-s3');
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1' });
  let token;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key }));
    if (keys.length)
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  client.destroy();
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  console.error(`data: ${BIG / MiB} MiB file, ${SMALL_FILES} files of ${SMALL_BYTES} bytes, ${RUNS} runs`);
  await makeData();
  const results = {};
  for (let run = 1; run <= RUNS; run++) {
    const only = process.env.BENCH_TOOLS?.split(',').filter(Boolean);
    for (const [name, transfer] of Object.entries(contenders)) {
      if (only && !only.some((part) => name.includes(part))) continue;
      const prefix = `bench/${run}-${name.replace(/[^a-z0-9]+/gi, '-')}`;
      const record = (op, r) => {
        results[name] ??= {};
        results[name][op] ??= [];
        results[name][op].push(r);
        console.error(
          `run ${run} ${name} ${op}: ${r.seconds.toFixed(2)} s, ${(r.rss / MiB).toFixed(0)} MiB RSS`,
        );
      };
      const down = join(work, 'down');
      record('big-up', await transfer('big-up', join(work, 'big.bin'), `${prefix}/big`));
      await rm(down, { recursive: true, force: true });
      await mkdir(down, { recursive: true });
      record('big-down', await transfer('big-down', down, `${prefix}/big`));
      await rm(down, { recursive: true, force: true });
      await clearPrefix(`${prefix}/big`);
      if (SMALL_FILES === 0) continue;
      record('small-up', await transfer('small-up', join(work, 'small'), `${prefix}/small`));
      await mkdir(down, { recursive: true });
      record('small-down', await transfer('small-down', down, `${prefix}/small`));
      await rm(down, { recursive: true, force: true });
      await clearPrefix(`${prefix}/small`);
    }
  }
  const lines = [
    `| tool | ${BIG / MiB} MiB up | ${BIG / MiB} MiB down | ${SMALL_FILES} files up | ${SMALL_FILES} files down | peak RSS (max of all) | CPU s (median) |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const [name, ops] of Object.entries(results)) {
    const mbs = (op) => `${(BIG / 1e6 / median(ops[op].map((r) => r.seconds))).toFixed(0)} MB/s`;
    const fps = (op) =>
      ops[op] ? `${(SMALL_FILES / median(ops[op].map((r) => r.seconds))).toFixed(0)} files/s` : '—';
    const rss = (op) => (ops[op] ? Math.max(...ops[op].map((r) => r.rss)) / MiB : Number.NaN);
    lines.push(
      `| ${name} | ${mbs('big-up')} | ${mbs('big-down')} | ${fps('small-up')} | ${fps('small-down')} | ` +
        `${['big-up', 'big-down', 'small-up', 'small-down'].map((op) => `${rss(op).toFixed(0)}`).join(' / ')} MiB | ` +
        `${['big-up', 'big-down', 'small-up', 'small-down'].map((op) => (ops[op] ? median(ops[op].map((r) => r.cpu)).toFixed(2) : '—')).join(' / ')} |`,
    );
  }
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  console.log(
    [
      `Machine: ${cpus().length} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM (${(freemem() / 2 ** 30).toFixed(0)} GiB free), Node ${process.version}; MinIO on 127.0.0.1 (same machine).`,
      `Medians of ${RUNS} runs; wall time of each transfer's own process (start-up included); RSS columns: big up / big down / small up / small down.`,
      '',
      ...lines,
    ].join('\n'),
  );
  await rm(work, { recursive: true, force: true });
}

await main();
