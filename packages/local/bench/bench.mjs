// Benchmarks @artifacts/local against `cp` on the same data in one run: a large file (default
// 1 GiB) and a directory of many small files (default 5,000), uploaded (logArtifact/logArtifacts)
// and downloaded (downloadArtifacts). Medians over RUNS runs; MB/s, files/s and peak RSS (each
// operation runs in its own process). Env: BENCH_FILE_MIB (1024), BENCH_FILES (5000), BENCH_RUNS (3),
// BENCH_DIR (os.tmpdir()), BENCH_OUT (a Markdown file to write the results to).
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { dataBytes, dataStream } from '@artifacts/testkit/data';

const MiB = 1024 * 1024;
const fileMiB = Number(process.env.BENCH_FILE_MIB ?? 1024);
const fileCount = Number(process.env.BENCH_FILES ?? 5000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const work = await mkdtemp(join(process.env.BENCH_DIR ?? tmpdir(), 'artifacts-bench-'));
const here = new URL('.', import.meta.url).pathname;

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// Flushes dirty pages before each measured operation, so that one does not pay for the
// write-back of the previous one (which would favour whichever runs first).
function settle() {
  spawnSync('sync');
}

function ours(op, root, local, artifactPath) {
  settle();
  const args = [join(here, 'op.mjs'), op, root, local, ...(artifactPath === undefined ? [] : [artifactPath])];
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${op} failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

function cp(args) {
  settle();
  const started = process.hrtime.bigint();
  const result = spawnSync('/usr/bin/time', ['-f', '%M %U %S', 'cp', ...args], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`cp failed: ${result.stderr}`);
  const [rss, user, system] = result.stderr.trim().split('\n').at(-1).split(' ').map(Number);
  return { ms, cpu: user + system, maxRssKiB: rss };
}

try {
  console.error(`preparing ${fileMiB} MiB file and ${fileCount} small files in ${work}`);
  const bigFile = join(work, 'big.bin');
  await pipeline(dataStream(fileMiB * MiB, { seed: 'bench' }), createWriteStream(bigFile));
  const smallDir = join(work, 'small');
  let smallBytes = 0;
  for (let i = 0; i < fileCount; i++) {
    const dir = join(smallDir, `d${i % 50}`);
    if (i < 50) await mkdir(dir, { recursive: true });
    const size = 1024 + ((i * 7919) % (16 * 1024));
    smallBytes += size;
    await writeFile(join(dir, `f${i}.bin`), dataBytes(size, { seed: i }));
  }

  const results = {};
  const record = (name, bytes, files, sample) => {
    results[name] ??= { bytes, files, samples: [] };
    results[name].samples.push(sample);
  };
  for (let run = 0; run < runs; run++) {
    console.error(`run ${run + 1}/${runs}`);
    const root = join(work, `repo-${run}`);
    const down = join(work, `down-${run}`);
    const cpOut = join(work, `cp-${run}`);
    await mkdir(down);
    await mkdir(cpOut);
    // Each pair runs back to back, so both see the same page-cache state.
    record('large file: upload (logArtifact)', fileMiB * MiB, 1, ours('log-file', root, bigFile, 'big'));
    record('large file: cp', fileMiB * MiB, 1, cp([bigFile, join(cpOut, 'big.bin')]));
    record(
      'large file: download (downloadArtifacts)',
      fileMiB * MiB,
      1,
      ours('download', root, down, 'big/big.bin'),
    );
    record(
      'small files: upload (logArtifacts)',
      smallBytes,
      fileCount,
      ours('log-dir', root, smallDir, 'small'),
    );
    record('small files: cp -r', smallBytes, fileCount, cp(['-r', smallDir, join(cpOut, 'small')]));
    record(
      'small files: download (downloadArtifacts)',
      smallBytes,
      fileCount,
      ours('download', root, down, 'small'),
    );
    await rm(root, { recursive: true, force: true });
    await rm(down, { recursive: true, force: true });
    await rm(cpOut, { recursive: true, force: true });
  }

  const rows = Object.entries(results).map(([name, { bytes, files, samples }]) => {
    const ms = median(samples.map((s) => s.ms));
    return {
      name,
      seconds: ms / 1000,
      mbps: bytes / 1e6 / (ms / 1000),
      filesPerSecond: files / (ms / 1000),
      cpu: median(samples.map((s) => s.cpu)),
      peakRssMB: Math.max(...samples.map((s) => s.maxRssKiB)) / 1024,
    };
  });
  const byName = Object.fromEntries(rows.map((row) => [row.name, row]));
  const ratio = (a, b) => (byName[a].mbps / byName[b].mbps) * 100;
  const cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], {
    encoding: 'utf8',
  }).trim();
  const load = execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).split(' ').slice(0, 3).join(' ');
  const lines = [
    `Load average at the end: ${load}.`,
    `Machine: ${cpus().length} CPUs (${cpu}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM (${(freemem() / 2 ** 30).toFixed(1)} GiB free), Node ${process.versions.node}, ${process.platform}; data in ${process.env.BENCH_DIR ?? tmpdir()} (warm page cache, sync before each operation, shared machine).`,
    `Data: one ${fileMiB} MiB file; ${fileCount} files of 1–17 KiB (${(smallBytes / MiB).toFixed(1)} MiB) in 50 directories. Medians of ${runs} runs; peak RSS is the highest of the runs, each operation in its own process.`,
    '',
    '| operation | median s | MB/s | files/s | CPU s (user+sys) | peak RSS MB |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.seconds.toFixed(2)} | ${r.mbps.toFixed(0)} | ${r.filesPerSecond.toFixed(0)} | ${r.cpu.toFixed(2)} | ${r.peakRssMB.toFixed(0)} |`,
    ),
    '',
    `Large file upload at ${ratio('large file: upload (logArtifact)', 'large file: cp').toFixed(0)}% of cp's throughput, download at ${ratio('large file: download (downloadArtifacts)', 'large file: cp').toFixed(0)}%; small files upload at ${ratio('small files: upload (logArtifacts)', 'small files: cp -r').toFixed(0)}%, download at ${ratio('small files: download (downloadArtifacts)', 'small files: cp -r').toFixed(0)}%.`,
  ];
  const text = lines.join('\n');
  console.log(text);
  if (process.env.BENCH_OUT) await writeFile(process.env.BENCH_OUT, `${text}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
