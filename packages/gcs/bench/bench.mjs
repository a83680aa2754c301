// Benchmark of @artifacts/gcs against its own fake-gcs-server (memory backend), beside the raw SDK
// and rclone doing the same in the same run. `pnpm --filter @artifacts/gcs run build && pnpm --filter
// @artifacts/gcs run bench`. Sizes: BENCH_BIG_BYTES (2 GiB), BENCH_SMALL_FILES (5000),
// BENCH_SMALL_BYTES (10 KiB), BENCH_RUNS (3). FAKE_GCS_SERVER: the binary (default: the integration
// cache). Writes docs/benchmarks/gcs.md.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, freemem, homedir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const MiB = 1024 * 1024;
const BIG = Number(process.env.BENCH_BIG_BYTES ?? 2 * 1024 * MiB);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 5000);
const SMALL_BYTES = Number(process.env.BENCH_SMALL_BYTES ?? 10 * 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
// The big file takes minutes per case on a shared 2-core machine: its run count can be lower.
const BIG_RUNS = Number(process.env.BENCH_BIG_RUNS ?? RUNS);
const WORK = process.env.BENCH_DIR ?? '/tmp/artifacts-bench-gcs';
const BUCKET = 'bench';
const VERSION = 'v1.55.1';
const BINARY =
  process.env.FAKE_GCS_SERVER ??
  join(
    process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'),
    'artifacts-it',
    `fake-gcs-server-${VERSION}`,
    'bin',
    'fake-gcs-server',
  );

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

async function startServer() {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child = spawn(
    BINARY,
    [
      '-scheme',
      'http',
      '-host',
      '127.0.0.1',
      '-port',
      String(port),
      '-backend',
      'memory',
      '-public-host',
      `127.0.0.1:${port}`,
      '-external-url',
      endpoint,
      '-log-level',
      'error',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${endpoint}/_internal/healthcheck`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const res = await fetch(`${endpoint}/storage/v1/b?project=test`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: BUCKET }),
  });
  if (!res.ok) throw new Error(`creating the bucket: ${res.status}`);
  return { child, endpoint };
}

/** The server's own peak RSS (VmHWM), to say what an in-memory emulator needs for these sizes. */
async function serverPeakMiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
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
    const remote = `:gcs:${BUCKET}/${root}/${dataset}`;
    const flags = [
      '--gcs-endpoint',
      `${env.endpoint}/storage/v1/`,
      '--gcs-anonymous',
      '--gcs-no-check-bucket',
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
    env: { ...process.env, BENCH_GCS_ENDPOINT: env.endpoint, BENCH_GCS_BUCKET: BUCKET },
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

const { child, endpoint } = await startServer();
try {
  const data = await makeData();
  const env = { endpoint };
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
        // Keep the in-memory server's footprint down: delete what this case stored (not timed).
        const listed = await fetch(
          `${endpoint}/storage/v1/b/${BUCKET}/o?prefix=${encodeURIComponent(`${root}/${dataset}/`)}&maxResults=10000`,
        ).then((r) => r.json());
        const names = (listed.items ?? []).map((item) => item.name);
        for (let i = 0; i < names.length; i += 64) {
          await Promise.all(
            names
              .slice(i, i + 64)
              .map((n) =>
                fetch(`${endpoint}/storage/v1/b/${BUCKET}/o/${encodeURIComponent(n)}`, { method: 'DELETE' }),
              ),
          );
        }
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
          `| ${dataset === 'big' ? `${(BIG / 1024 / MiB).toFixed(2)} GiB file` : `${SMALL_FILES} × ${SMALL_BYTES / 1024} KiB files`} | ${op} | ${impl === 'artifacts' ? '**@artifacts/gcs**' : impl === 'sdk' ? 'raw @google-cloud/storage' : 'rclone 1.60 (Debian)'} | ${seconds.toFixed(2)}${failures ? ` (${failures} run failed)` : ''} | ${rate} | ${rss.toFixed(0)} |`,
        );
      }
    }
  }
  const { stdout: nodeVersion } = await exec(process.execPath, ['--version']);
  const report = [
    '# @artifacts/gcs benchmark',
    '',
    `Run ${new Date().toISOString().slice(0, 10)} by \`pnpm --filter @artifacts/gcs run bench\` (packages/gcs/bench/bench.mjs) against its own fake-gcs-server ${VERSION} (\`-backend memory\`, on 127.0.0.1), median of ${RUNS} runs for the small files and ${BIG_RUNS} for the big file; each case runs in its own process and its peak RSS is that process's \`maxRSS\` (rclone: \`/usr/bin/time -v\`), the highest over the runs. The in-memory server itself peaked at ${(await serverPeakMiB(child.pid)).toFixed(0)} MiB RSS (it holds every object, and a ${(BIG / 1024 / MiB).toFixed(0)} GiB upload more than once while it assembles it).`,
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 1024 ** 3).toFixed(0)} GiB RAM (${(freemem() / 1024 ** 3).toFixed(0)} GiB free at the end), Node ${nodeVersion.trim()}; shared with other engineers' work, so absolute numbers are noisy and the ratios matter.`,
    '',
    'Settings: @artifacts/gcs defaults (simple upload up to 8 MiB, else one streamed resumable request; 100 MiB ranged GETs, 4 in flight; CRC32C verified by core; 16 files at a time); raw SDK: `bucket.upload(file)` and `file.download({ destination })` with its defaults (resumable above 5 MB, CRC32C validation), 16 at a time; rclone: `--gcs-anonymous --transfers 16`.',
    '',
    '| data | direction | tool | median s | throughput | peak RSS MiB |',
    '| --- | --- | --- | ---: | ---: | ---: |',
    ...rows,
    '',
  ].join('\n');
  const out = process.env.BENCH_REPORT ?? join(repoRoot, 'docs', 'benchmarks', 'gcs.md');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, report);
  console.log(report);
} finally {
  child.kill();
}
