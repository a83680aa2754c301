// Benchmark of @artifacts/azure against its own Azurite (in memory), beside the raw SDK and rclone
// doing the same in the same run. `pnpm --filter @artifacts/azure run build && pnpm --filter
// @artifacts/azure run bench`. Sizes: BENCH_BIG_BYTES (2 GiB), BENCH_SMALL_FILES (5000),
// BENCH_SMALL_BYTES (10 KiB), BENCH_RUNS (3). Writes docs/benchmarks/azure.md.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { cpus, freemem, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const MiB = 1024 * 1024;
const BIG = Number(process.env.BENCH_BIG_BYTES ?? 2 * 1024 * MiB);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 5000);
const SMALL_BYTES = Number(process.env.BENCH_SMALL_BYTES ?? 10 * 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// The big file takes minutes per case on a shared 2-core machine: its run count can be lower.
const BIG_RUNS = Number(process.env.BENCH_BIG_RUNS ?? RUNS);
const WORK = process.env.BENCH_DIR ?? '/tmp/artifacts-bench-azure';
const ACCOUNT = 'devstoreaccount1';
// Azurite's well-known development key (public, documented by Microsoft).
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CONTAINER = 'bench';

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

async function startAzurite() {
  const require = createRequire(join(repoRoot, 'integration', 'package.json'));
  const pkgFile = require.resolve('azurite/package.json');
  const pkg = JSON.parse(await readFile(pkgFile, 'utf8'));
  const bin = join(dirname(pkgFile), pkg.bin['azurite-blob']);
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      bin,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(port),
      '--inMemoryPersistence',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  // Keep reading its output after it is ready: a closed pipe would kill it on its next log line.
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('successfully listens')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`azurite exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}/${ACCOUNT}`;
  return { child, endpoint, version: pkg.version };
}

async function makeData() {
  const big = join(WORK, 'data', 'big.bin');
  const small = join(WORK, 'data', 'small');
  if ((await stat(big).catch(() => undefined))?.size !== BIG) {
    await mkdir(dirname(big), { recursive: true });
    const out = createWriteStream(big);
    for (let written = 0; written < BIG; written += 16 * MiB) {
      if (!out.write(randomBytes(Math.min(16 * MiB, BIG - written)))) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
  if ((await readdir(small).catch(() => [])).length === 0) {
    for (let i = 0; i < SMALL_FILES; i++) {
      const dir = join(small, `d${String(i % 50).padStart(2, '0')}`);
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `f${i}.bin`), randomBytes(SMALL_BYTES));
    }
  }
  return { big, small };
}

const exec = promisify(execFile);

async function runCase(impl, op, dataset, local, root, env) {
  if (impl === 'rclone') {
    const remote = `:azureblob:${CONTAINER}/${root}/${dataset}`;
    // rclone 1.60 takes an endpoint suffix, not a host:port; a container SAS URL reaches any endpoint.
    const flags = [
      '--azureblob-sas-url',
      env.sasUrl,
      '--azureblob-chunk-size',
      '8M',
      '--azureblob-upload-concurrency',
      '4',
      '--transfers',
      '16',
      '--checkers',
      '16',
    ];
    const args =
      op === 'upload' ? ['copy', local, remote, ...flags] : ['copy', remote, join(local, dataset), ...flags];
    const started = process.hrtime.bigint();
    const { stderr } = await exec('/usr/bin/time', ['-v', 'rclone', ...args], { maxBuffer: 64 * MiB });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
    return { seconds, maxRssMiB: rss ? Number(rss[1]) / 1024 : Number.NaN };
  }
  const { stdout } = await exec(process.execPath, [join(here, 'case.mjs'), impl, op, dataset, local, root], {
    env: {
      ...process.env,
      AZURE_STORAGE_CONNECTION_STRING: env.connectionString,
      BENCH_AZURE_CONTAINER: CONTAINER,
      BENCH_AZURE_ACCOUNT: ACCOUNT,
    },
    maxBuffer: 64 * MiB,
  });
  return JSON.parse(stdout.trim().split('\n').pop());
}

async function countFiles(dir) {
  let n = 0;
  let bytes = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      n++;
      bytes += (await stat(join(entry.parentPath, entry.name))).size;
    }
  }
  return { n, bytes };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const { child, endpoint, version } = await startAzurite();
try {
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};BlobEndpoint=${endpoint};`;
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(CONTAINER);
  await container.createIfNotExists();
  const data = await makeData();
  const sas = generateBlobSASQueryParameters(
    {
      containerName: CONTAINER,
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 24 * 3600 * 1000),
      protocol: SASProtocol.HttpsAndHttp,
    },
    new StorageSharedKeyCredential(ACCOUNT, KEY),
  ).toString();
  const env = { endpoint, connectionString, sasUrl: `${endpoint}/${CONTAINER}?${sas}` };
  const impls = ['artifacts', 'sdk', 'rclone'];
  const results = {};
  for (let run = 1; run <= RUNS; run++) {
    for (const impl of impls) {
      const root = `r${run}-${impl}`;
      for (const [dataset, source] of [
        ['big', data.big],
        ['small', data.small],
      ]) {
        if (dataset === 'big' && run > BIG_RUNS) continue;
        const failed = (error) => {
          console.log(
            `run ${run} ${impl} ${dataset} failed: ${String(error?.message ?? error).split('\n')[0]}`,
          );
          return { seconds: Number.NaN, maxRssMiB: Number.NaN, failed: true };
        };
        const up = await runCase(impl, 'upload', dataset, source, root, env).catch(failed);
        const dst = join(WORK, 'down', `${root}-${dataset}`);
        await rm(dst, { recursive: true, force: true });
        const down = up.failed ? up : await runCase(impl, 'download', dataset, dst, root, env).catch(failed);
        const got = down.failed
          ? {
              n: dataset === 'big' ? 1 : SMALL_FILES,
              bytes: dataset === 'big' ? BIG : SMALL_FILES * SMALL_BYTES,
            }
          : await countFiles(dst);
        const want =
          dataset === 'big' ? { n: 1, bytes: BIG } : { n: SMALL_FILES, bytes: SMALL_FILES * SMALL_BYTES };
        if (got.n !== want.n || got.bytes !== want.bytes) {
          throw new Error(
            `${impl} ${dataset}: downloaded ${got.n} files / ${got.bytes} bytes, expected ${want.n} / ${want.bytes}`,
          );
        }
        await rm(dst, { recursive: true, force: true });
        for (const [op, r] of [
          ['upload', up],
          ['download', down],
        ]) {
          const key = `${impl}|${dataset}|${op}`;
          results[key] = [...(results[key] ?? []), r];
        }
        console.log(
          `run ${run} ${impl} ${dataset}: up ${up.seconds.toFixed(1)} s (${up.maxRssMiB.toFixed(0)} MiB RSS), down ${down.seconds.toFixed(1)} s (${down.maxRssMiB.toFixed(0)} MiB RSS)`,
        );
        // Keep Azurite's memory down: delete what this case stored (not timed).
        const names = [];
        for await (const blob of container.listBlobsFlat({ prefix: `${root}/${dataset}/` }))
          names.push(blob.name);
        for (let i = 0; i < names.length; i += 64)
          await Promise.all(names.slice(i, i + 64).map((n) => container.deleteBlob(n)));
      }
    }
  }
  const rows = [];
  for (const dataset of ['big', 'small']) {
    for (const op of ['upload', 'download']) {
      for (const impl of impls) {
        const rs = results[`${impl}|${dataset}|${op}`];
        const ok = (rs ?? []).filter((r) => !r.failed);
        const failures = (rs ?? []).length - ok.length;
        if (ok.length === 0) {
          rows.push(`| ${dataset} | ${op} | ${impl} | failed | — | — |`);
          continue;
        }
        const seconds = median(ok.map((r) => r.seconds));
        const rss = Math.max(...ok.map((r) => r.maxRssMiB));
        const rate =
          dataset === 'big'
            ? `${(BIG / MiB / seconds).toFixed(1)} MB/s`
            : `${(SMALL_FILES / seconds).toFixed(0)} files/s`;
        rows.push(
          `| ${dataset === 'big' ? `${(BIG / 1024 / MiB).toFixed(2)} GiB file` : `${SMALL_FILES} × ${SMALL_BYTES / 1024} KiB files`} | ${op} | ${impl === 'artifacts' ? '**@artifacts/azure**' : impl === 'sdk' ? 'raw @azure/storage-blob' : 'rclone 1.60 (Debian)'} | ${seconds.toFixed(2)}${failures ? ` (${failures} run failed)` : ''} | ${rate} | ${rss.toFixed(0)} |`,
        );
      }
    }
  }
  const { stdout: nodeVersion } = await exec(process.execPath, ['--version']);
  const report = [
    '# @artifacts/azure benchmark',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} by \`pnpm --filter @artifacts/azure run bench\` (packages/azure/bench/bench.mjs) against its own Azurite ${version} (\`--inMemoryPersistence\`, on 127.0.0.1), median of ${RUNS} runs for the small files and ${BIG_RUNS} for the big file; each case runs in its own process and its peak RSS is that process's \`maxRSS\` (rclone: \`/usr/bin/time -v\`), the highest over the runs.`,
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM (${(freemem() / 1024 ** 3).toFixed(0)} GiB free at the end), Node ${nodeVersion.trim()}; shared with other engineers' work, so absolute numbers are noisy and the ratios matter.`,
    '',
    'Settings: @artifacts/azure defaults (8 MiB blocks, 4 in flight, per-block MD5 + blob MD5, 8 MiB ranged parts × 4, 16 files at a time); raw SDK: `uploadStream(stream, 8 MiB, 4)` and `downloadToFile` (the JS SDK has no parallel download to a file), `uploadFile`/`downloadToFile` 16 at a time for small files; rclone: `--azureblob-chunk-size 8M --azureblob-upload-concurrency 4 --transfers 16`.',
    '',
    '| data | direction | tool | median s | throughput | peak RSS MiB |',
    '| --- | --- | --- | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n');
  const out = process.env.BENCH_REPORT ?? join(repoRoot, 'docs', 'benchmarks', 'azure.md');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, report);
  console.log(report);
} finally {
  child.kill();
}
