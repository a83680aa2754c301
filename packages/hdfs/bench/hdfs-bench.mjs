// Benchmark: @artifacts/hdfs against curl on WebHDFS, in one run, on the MiniDFSCluster of
// `pnpm servers up hdfs` (source integration/.servers.env first). Each measurement runs in its own
// process under /usr/bin/time -v (peak RSS); medians over RUNS.
//   BENCH_LARGE_MIB (2048)  BENCH_SMALL_FILES (1000)  BENCH_SMALL_BYTES (4096)  BENCH_RUNS (3)
//   BENCH_LARGE_RUNS (= BENCH_RUNS: runs of the large-file part)
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { cpus, freemem, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LARGE_MIB = Number(process.env.BENCH_LARGE_MIB ?? 2048);
const SMALL_FILES = Number(process.env.BENCH_SMALL_FILES ?? 1000);
const SMALL_BYTES = Number(process.env.BENCH_SMALL_BYTES ?? 4096);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LARGE_RUNS = Number(process.env.BENCH_LARGE_RUNS ?? RUNS);
const uriBase = process.env.ARTIFACTS_IT_HDFS_URI;
const http = process.env.ARTIFACTS_IT_HDFS_WEBHDFS_URL;
const user = process.env.HADOOP_USER_NAME ?? 'root';
if (!uriBase || !http) throw new Error('source integration/.servers.env (pnpm servers up hdfs) first');
const rootPath = new URL(uriBase).pathname;
const here = fileURLToPath(new URL('.', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'hdfs-bench-'));
const large = join(work, 'large.bin');
const smallDir = join(work, 'small');
{
  const fd = openSync(large, 'w');
  const block = randomBytes(8 * 1024 * 1024);
  for (let i = 0; i < LARGE_MIB / 8; i++) writeSync(fd, block);
  closeSync(fd);
  mkdirSync(smallDir);
  for (let i = 0; i < SMALL_FILES; i++) writeFileSync(join(smallDir, `f${i}.bin`), randomBytes(SMALL_BYTES));
}

/** Runs argv under /usr/bin/time -v: seconds and peak RSS (MiB). */
function timed(argv, options = {}) {
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', ...argv], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr.slice(-2000)}`);
  const kib = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? 0);
  return { seconds, rssMiB: kib / 1024 };
}

const node = (op, ...args) => [process.execPath, join(here, 'hdfs-op.mjs'), op, ...args];
const webhdfs = (path, op, extra = '') => `${http}/webhdfs/v1${path}?op=${op}&user.name=${user}${extra}`;
const rmRemote = (path) =>
  execFileSync('curl', ['-sf', '-X', 'DELETE', webhdfs(path, 'DELETE', '&recursive=true')]);

// curl: CREATE on the NameNode (307, no body), then the body to the DataNode, as WebHDFS documents.
const CURL_PUT = `loc=$(curl -sS -o /dev/null -w '%{redirect_url}' -X PUT "$1") && curl -sSf -o /dev/null -X PUT -T "$2" "$loc"`;
const curlPutScript = join(work, 'curl-put.sh');
writeFileSync(curlPutScript, `#!/bin/sh\nset -e\n${CURL_PUT}\n`, { mode: 0o755 });

const results = {};
const record = (name, m) => {
  results[name] ??= [];
  results[name].push(m);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (let run = 0; run < RUNS; run++) {
  const tag = `bench-${Date.now().toString(36)}`;
  const ours = `${uriBase}/${tag}/ours`;
  const curlDir = `${rootPath}/${tag}/curl`;
  const out = join(work, `out-${run}`);
  mkdirSync(out);

  // Large file.
  if (run < LARGE_RUNS) {
    record('large up @artifacts/hdfs', timed(node('upload', large, ours, 'large.bin')));
    record('large down @artifacts/hdfs', timed(node('download', ours, 'large.bin', join(out, 'ours'))));
    record(
      'large up curl',
      timed(['sh', curlPutScript, webhdfs(`${curlDir}/large.bin`, 'CREATE', '&overwrite=true'), large]),
    );
    record(
      'large down curl',
      timed(['curl', '-sSfL', '-o', join(out, 'curl-large.bin'), webhdfs(`${curlDir}/large.bin`, 'OPEN')]),
    );
    rmRemote(`${rootPath}/${tag}`);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out);
  }

  // Small files: ours through logArtifacts / downloadArtifacts (16 at once, core's default);
  // curl through xargs -P 16 (one curl pair per file).
  record('small up @artifacts/hdfs', timed(node('upload-dir', smallDir, ours, 'small')));
  record('small down @artifacts/hdfs', timed(node('download', ours, 'small', join(out, 'ours'))));
  const names = Array.from({ length: SMALL_FILES }, (_, i) => `f${i}.bin`).join('\n');
  record(
    'small up curl',
    timed(
      [
        'sh',
        '-c',
        `xargs -P 16 -I{} sh ${curlPutScript} "${webhdfs(`${curlDir}/small/{}`, 'CREATE', '&overwrite=true')}" "${smallDir}/{}"`,
      ],
      { input: names },
    ),
  );
  mkdirSync(join(out, 'curl'));
  record(
    'small down curl',
    timed(
      [
        'sh',
        '-c',
        `xargs -P 16 -I{} curl -sSfL -o "${join(out, 'curl')}/{}" "${webhdfs(`${curlDir}/small/{}`, 'OPEN')}"`,
      ],
      { input: names },
    ),
  );
  rmRemote(`${rootPath}/${tag}`);
  rmSync(out, { recursive: true, force: true });
  process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
}

const largeMB = (LARGE_MIB * 1024 * 1024) / 1e6;
const lines = [];
for (const [name, ms] of Object.entries(results)) {
  const s = median(ms.map((m) => m.seconds));
  const rss = Math.max(...ms.map((m) => m.rssMiB));
  const rate = name.startsWith('large')
    ? `${(largeMB / s).toFixed(1)} MB/s`
    : `${(SMALL_FILES / s).toFixed(1)} files/s`;
  lines.push(`| ${name} | ${s.toFixed(2)} s | ${rate} | ${rss.toFixed(0)} MiB |`);
}
const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
console.log(
  `machine: ${cpus().length} cores (${cpu}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM (${(freemem() / 2 ** 30).toFixed(0)} free), node ${process.version}`,
);
console.log(
  `large file ${LARGE_MIB} MiB (median of ${LARGE_RUNS} runs), ${SMALL_FILES} small files of ${SMALL_BYTES} B (median of ${RUNS} runs); times include node start-up; peak RSS = max over runs`,
);
console.log('| operation | median time | rate | peak RSS |\n| --- | --- | --- | --- |');
console.log(lines.join('\n'));
rmSync(work, { recursive: true, force: true });
