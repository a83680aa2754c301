#!/usr/bin/env node
// The local-backend benchmark (`pnpm bench`): logs and downloads one large file and a directory of
// many small files through @artifacts/core + @artifacts/local, beside `cp` / `cp -r` of the same data
// on the same disk, in one run. Each transfer runs in its own child process, which reports its own
// peak RSS (getrusage maxrss), so one transfer's memory never hides another's.
//
//   pnpm bench [--runs 3] [--large-mib 1024] [--files 5000] [--small-kib 4] [--keep]
//
// Needs the packages built (`pnpm build`). Data lives under <repo>/.bench/ (same disk as the repo).
// The page cache is NOT dropped (that needs root and would measure the disk, not the code): the
// source data is warm in the cache for cp and for @artifacts alike. `sync` runs (untimed) before
// each measurement so that one step's dirty pages are not written back during the next.
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, openSync, writeSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '..');
const MB = 1e6;
const cliBin = join(repoRoot, 'packages', 'cli', 'dist', 'bin.js');

// --- child mode: one transfer, timed from inside, then its own peak RSS ------------------------------

async function child(op, params) {
  // Resolved from the CLI package, which depends on both (the root has no @artifacts dependencies).
  const require = createRequire(join(repoRoot, 'packages', 'cli', 'package.json'));
  const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
  const { openRepository } = await load('@artifacts/core');
  await load('@artifacts/local');
  const [store, a, b] = params;
  const started = process.hrtime.bigint();
  if (op === 'copy-file') {
    // What a kernel-copy fast path (copy_file_range, as cp uses) would cost from Node.
    await copyFile(a, b);
  } else if (op === 'stream-copy') {
    // The floor for any Node implementation: one stream pipe with the same 1 MiB chunks, no @artifacts.
    await pipeline(
      createReadStream(a, { highWaterMark: 1024 * 1024 }),
      createWriteStream(b, { highWaterMark: 1024 * 1024 }),
    );
  } else {
    const repo = await openRepository(store);
    if (op === 'log-file') await repo.logArtifact(a);
    else if (op === 'log-dir') await repo.logArtifacts(a, b);
    else if (op === 'download') await repo.downloadArtifacts(a, b);
    else throw new Error(`unknown child operation ${op}`);
    await repo.close();
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // maxRSS is in kilobytes (getrusage).
  process.stdout.write(JSON.stringify({ seconds, maxRssMB: (process.resourceUsage().maxRSS * 1024) / MB }));
}

// --- parent ---------------------------------------------------------------------------------------

function runChild(op, params) {
  return new Promise((resolvePromise, reject) => {
    const started = process.hrtime.bigint();
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', op, ...params], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk) => {
      out += chunk;
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`child ${op} exited with ${code}`));
      else resolvePromise({ ...JSON.parse(out), wall });
    });
  });
}

const timeBin = ['/usr/bin/time', '/bin/time'].find((path) => spawnSync(path, ['-V']).status !== null);

/** Runs a shell tool (cp), timed from outside; its peak RSS too when GNU time is installed. */
function runTool(argv) {
  const started = process.hrtime.bigint();
  const result = timeBin
    ? spawnSync(timeBin, ['-f', '%M', ...argv], { encoding: 'utf8' })
    : spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr}`);
  const kb = timeBin ? Number(result.stderr.trim().split('\n').at(-1)) : Number.NaN;
  return { seconds, wall: seconds, maxRssMB: Number.isFinite(kb) ? (kb * 1024) / MB : undefined };
}

function sync() {
  spawnSync('sync');
}

function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function makeLargeFile(path, bytes) {
  const chunk = Buffer.allocUnsafe(8 * 1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let written = 0; written < bytes; ) {
      const n = Math.min(chunk.length, bytes - written);
      randomFillSync(chunk, 0, n); // random, so that nothing below can shortcut zeros
      writeSync(fd, chunk, 0, n);
      written += n;
    }
  } finally {
    closeSync(fd);
  }
}

async function makeSmallFiles(dir, count, bytes) {
  await mkdir(dir, { recursive: true });
  const buffer = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < count; i++) {
    randomFillSync(buffer);
    await writeFile(join(dir, `file-${String(i).padStart(5, '0')}.bin`), buffer);
  }
}

function machine(dir) {
  const df = spawnSync('df', ['-T', dir], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')
    .at(-1)
    ?.split(/\s+/);
  return {
    nproc: os.availableParallelism(),
    memoryGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    filesystem: df ? `${df[1]} (${df[0]}, mounted on ${df[6]})` : 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    load: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      'large-mib': { type: 'string', default: '1024' },
      files: { type: 'string', default: '5000' },
      'small-kib': { type: 'string', default: '4' },
      keep: { type: 'boolean', default: false },
    },
  });
  const runs = Number(values.runs);
  const largeBytes = Number(values['large-mib']) * 1024 * 1024;
  const fileCount = Number(values.files);
  const smallBytes = Number(values['small-kib']) * 1024;
  const require = createRequire(join(repoRoot, 'packages', 'cli', 'package.json'));
  for (const name of ['@artifacts/core', '@artifacts/local']) {
    try {
      require.resolve(name);
    } catch {
      console.error(`bench: ${name} is not built; run 'pnpm build' first`);
      process.exit(1);
    }
  }
  if (!existsSync(cliBin)) {
    console.error("bench: packages/cli/dist/bin.js is not built; run 'pnpm build' first");
    process.exit(1);
  }

  await mkdir(join(repoRoot, '.bench'), { recursive: true });
  const root = await mkdtemp(join(repoRoot, '.bench', 'run-'));
  const info = machine(root);
  console.log('# @artifacts/local benchmark');
  for (const [key, value] of Object.entries(info)) console.log(`${key.padEnd(11)} ${value}`);
  console.log(
    `data        ${root} — 1 file of ${values['large-mib']} MiB, ${fileCount} files of ${values['small-kib']} KiB; ${runs} runs, medians`,
  );
  console.log('page cache  not dropped (source data warm for every tool); `sync` before each step');

  const data = join(root, 'data');
  const big = join(data, 'big.bin');
  const small = join(data, 'small');
  await mkdir(data, { recursive: true });
  process.stdout.write('generating data… ');
  await makeLargeFile(big, largeBytes);
  await makeSmallFiles(small, fileCount, smallBytes);
  sync();
  console.log('done');

  const results = new Map();
  const record = (name, result) => {
    if (!results.has(name)) results.set(name, []);
    results.get(name).push(result);
  };
  const step = async (name, measure) => {
    sync();
    const result = await measure();
    record(name, result);
    process.stdout.write('.');
  };

  try {
    for (let run = 0; run < runs; run++) {
      process.stdout.write(`run ${run + 1}/${runs} `);
      const out = join(root, `out-${run}`);
      const store = join(out, 'store');
      await mkdir(join(out, 'dl-large'), { recursive: true });
      await mkdir(join(out, 'dl-small'), { recursive: true });
      await mkdir(store, { recursive: true });

      await step('cp large', () => runTool(['cp', big, join(out, 'cp-big.bin')]));
      await rm(join(out, 'cp-big.bin'));
      await step('node fs.copyFile large', () =>
        runChild('copy-file', ['-', big, join(out, 'kernel-big.bin')]),
      );
      await rm(join(out, 'kernel-big.bin'));
      await step('node stream copy large', () =>
        runChild('stream-copy', ['-', big, join(out, 'stream-big.bin')]),
      );
      await rm(join(out, 'stream-big.bin'));
      await step('log large', () => runChild('log-file', [store, big]));
      await step('download large', () => runChild('download', [store, 'big.bin', join(out, 'dl-large')]));
      await rm(join(out, 'dl-large', 'big.bin'));
      await step('CLI log large', () =>
        runTool([process.execPath, cliBin, '--quiet', 'log', big, join(out, 'cli-store')]),
      );
      await step('CLI download large', () =>
        runTool([
          process.execPath,
          cliBin,
          '--quiet',
          'download',
          join(out, 'cli-store', 'big.bin'),
          join(out, 'cli-dl'),
        ]),
      );
      await step('cp -r small', () => runTool(['cp', '-r', small, join(out, 'cp-small')]));
      await step('log small', () => runChild('log-dir', [store, small, 'small']));
      await step('download small', () => runChild('download', [store, 'small', join(out, 'dl-small')]));

      await rm(out, { recursive: true, force: true });
      console.log();
    }
  } finally {
    if (!values.keep) await rm(root, { recursive: true, force: true });
  }

  const rows = [
    ['cp large', largeBytes, 1, 'cp large'],
    ['node fs.copyFile large', largeBytes, 1, 'cp large'],
    ['node stream copy large', largeBytes, 1, 'cp large'],
    ['log large', largeBytes, 1, 'cp large'],
    ['download large', largeBytes, 1, 'cp large'],
    ['CLI log large', largeBytes, 1, 'cp large'],
    ['CLI download large', largeBytes, 1, 'cp large'],
    ['cp -r small', fileCount * smallBytes, fileCount, 'cp -r small'],
    ['log small', fileCount * smallBytes, fileCount, 'cp -r small'],
    ['download small', fileCount * smallBytes, fileCount, 'cp -r small'],
  ];
  // Each operation is compared with cp measured in the same run (a shared machine drifts between
  // runs), and the median of those per-run ratios is reported.
  const medians = new Map(
    [...results].map(([name, list]) => [
      name,
      {
        seconds: median(list.map((r) => r.seconds)),
        wall: median(list.map((r) => r.wall)),
        rss: list.every((r) => r.maxRssMB !== undefined)
          ? Math.max(...list.map((r) => r.maxRssMB))
          : undefined,
      },
    ]),
  );
  const ratioTo = (name, baseline) =>
    median(results.get(name).map((r, i) => results.get(baseline)[i].seconds / r.seconds));
  console.log();
  console.log(
    '| operation | median s | median wall s (process start included) | MB/s | files/s | vs cp (median of per-run ratios) | peak RSS MB (max of runs) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const verdicts = [];
  for (const [name, bytes, files, baseline] of rows) {
    const m = medians.get(name);
    const mbps = bytes / MB / m.seconds;
    const ratio = ratioTo(name, baseline);
    console.log(
      `| ${name} | ${m.seconds.toFixed(3)} | ${m.wall.toFixed(3)} | ${mbps.toFixed(0)} | ${(files / m.seconds).toFixed(0)} | ${name === baseline ? '—' : `${(ratio * 100).toFixed(0)}%`} | ${m.rss === undefined ? 'n/a' : m.rss.toFixed(0)} |`,
    );
    if (/^(CLI )?(log|download) large/.test(name)) {
      verdicts.push(
        `${name}: ${(ratio * 100).toFixed(0)}% of cp's throughput (target ≥ 80%) ${ratio >= 0.8 ? 'OK' : 'MISSED'}`,
      );
    }
    if (/^(CLI )?(log|download)/.test(name) && m.rss !== undefined) {
      verdicts.push(
        `${name}: peak RSS ${m.rss.toFixed(0)} MB (target < 150 MB) ${m.rss < 150 ? 'OK' : 'MISSED'}`,
      );
    }
  }
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log();
  for (const line of verdicts) console.log(line);
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  await child(argv[1], argv.slice(2));
} else {
  await main();
}
