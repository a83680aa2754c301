#!/usr/bin/env node
// The artifact-proxy benchmark (`pnpm --filter @artifacts/server bench`): one large file up and down
// and a directory of many small files up and down, to MinIO, along four paths in ONE run:
//
//   direct        @artifacts/s3 → MinIO (no proxy: the ceiling)
//   ours          @artifacts/http → @artifacts/server → MinIO
//   mlflow        MLflow's Python client → `mlflow server --artifacts-only` → MinIO
//   mlflow→ours   MLflow's Python client → @artifacts/server → MinIO (same client, our server)
//
// Each server runs as its own process, started fresh for each measurement; its peak RSS (the whole
// process tree, sampled from /proc every 50 ms) is reported beside the throughput. Medians over
// --runs. Needs `pnpm build` and the integration servers: `pnpm servers up s3 mlflow` then
// `set -a; . integration/.servers.env; set +a` (MinIO, and MLflow from PyPI in its cached venv).
//
//   node bench/server-bench.mjs [--runs 3] [--large-mib 2048] [--flat-mib 256] [--files 5000]
//                               [--small-kib 4] [--paths direct,ours,mlflow,mlflow-ours] [--json out.json]
//                               [--mlflow-files 500] [--mlflow-runs N]
//
// MLflow's client uploads and downloads a directory one file at a time (~10 files/s here), so the
// paths driven by it use --mlflow-files small files (files/s is what is compared) and run in the
// first --mlflow-runs runs only (default: all).
import { spawn } from 'node:child_process';
import { randomFillSync, randomUUID } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const pkgRoot = resolve(here, '..');
const repoRoot = resolve(pkgRoot, '..', '..');
const MiB = 1024 * 1024;
const MB = 1e6;

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'large-mib': { type: 'string', default: '2048' },
    'flat-mib': { type: 'string', default: '256' },
    files: { type: 'string', default: '5000' },
    'mlflow-files': { type: 'string', default: '500' },
    'mlflow-runs': { type: 'string' },
    'small-kib': { type: 'string', default: '4' },
    paths: { type: 'string', default: 'direct,ours,mlflow,mlflow-ours' },
    json: { type: 'string' },
    serve: { type: 'string' },
  },
});

function need(name) {
  const value = process.env[name];
  if (!value) {
    console.error(
      `${name} is not set: run \`pnpm servers up s3 mlflow\` and source integration/.servers.env`,
    );
    process.exit(2);
  }
  return value;
}

// --- helpers ---------------------------------------------------------------------------------------

/** RSS of a process and all its descendants, in bytes (Linux /proc). */
function treeRss(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch {}
  }
  let total = 0;
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = /VmRSS:\s+(\d+) kB/.exec(status);
      if (kb) total += Number(kb[1]) * 1024;
    } catch {}
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

function sampler(pid) {
  let peak = treeRss(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRss(pid));
  }, 50);
  return {
    reset() {
      peak = treeRss(pid);
    },
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

function waitForLine(child, pattern, what) {
  return new Promise((resolveLine, reject) => {
    let buffer = '';
    const onData = (chunk) => {
      buffer += chunk.toString();
      const match = pattern.exec(buffer);
      if (match) {
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolveLine(match);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`${what} exited (${code}) before it was ready:\n${buffer.slice(-2000)}`)),
    );
  });
}

async function waitForHealth(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} not healthy after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function startOurs(destination) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', destination], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [, json] = await waitForLine(child, /(\{"url":[^\n]*\})\n/, '@artifacts/server');
  return { url: JSON.parse(json).url, child };
}

async function startMlflow(destination) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cwd = await mkdtemp(join(os.tmpdir(), 'mlflow-bench-'));
  const child = spawn(
    need('ARTIFACTS_IT_MLFLOW_BIN'),
    [
      'server',
      '--artifacts-only',
      '--artifacts-destination',
      destination,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--workers',
      '1',
    ],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: 'true' },
      detached: true,
    },
  );
  child.stdout.resume();
  child.stderr.resume();
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, 300_000);
  return { url, child, cwd };
}

async function stop(server) {
  const exited = new Promise((r) => server.child.once('exit', r));
  try {
    process.kill(server.child.pid, 'SIGTERM');
  } catch {}
  // MLflow runs uvicorn workers in its process group.
  try {
    process.kill(-server.child.pid, 'SIGTERM');
  } catch {}
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (server.cwd) await rm(server.cwd, { recursive: true, force: true });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function runPython(script, argv, env) {
  return new Promise((resolveRun, reject) => {
    const child = spawn(need('ARTIFACTS_IT_MLFLOW_PYTHON'), ['-c', script, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MLFLOW_HTTP_REQUEST_TIMEOUT: '1200', ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    child.on('exit', (code) => {
      if (code === 0) resolveRun(JSON.parse(out.trim().split('\n').at(-1)));
      else reject(new Error(`MLflow client failed (${code}):\n${err.slice(-3000)}`));
    });
  });
}

// MLflow's client, timed from inside Python (its import time is not counted).
const MLFLOW_CLIENT = `
import json, os, sys, time, tempfile
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository
uri, op, local = sys.argv[1:4]
repo = HttpArtifactRepository(uri)
t = time.perf_counter()
if op == 'upload-file': repo.log_artifact(local)
elif op == 'upload-dir': repo.log_artifacts(local, 'many')
elif op == 'download-file': repo.download_artifacts(os.path.basename(sys.argv[4]), dst_path=local)
elif op == 'download-dir': repo.download_artifacts('many', dst_path=local)
print(json.dumps({"seconds": time.perf_counter() - t}))
`;

// --- the benchmark ---------------------------------------------------------------------------------

async function main() {
  const runs = Number(args.runs);
  const largeBytes = Number(args['large-mib']) * MiB;
  const flatBytes = Number(args['flat-mib']) * MiB;
  const files = Number(args.files);
  const mlflowFiles = Math.min(files, Number(args['mlflow-files']));
  const mlflowRuns = Number(args['mlflow-runs'] ?? args.runs);
  const smallBytes = Number(args['small-kib']) * 1024;
  const paths = args.paths.split(',');
  const s3Root = need('ARTIFACTS_IT_S3_URI');
  need('MLFLOW_S3_ENDPOINT_URL');

  const { openRepository } = await import(
    pathToFileURL(join(repoRoot, 'packages', 'core', 'dist', 'index.js')).href
  );
  await import(pathToFileURL(join(repoRoot, 'packages', 's3', 'dist', 'index.js')).href);
  await import(pathToFileURL(join(repoRoot, 'packages', 'http', 'dist', 'index.js')).href);

  const data = join(repoRoot, '.bench', 'server');
  await rm(data, { recursive: true, force: true });
  await mkdir(join(data, 'many'), { recursive: true });
  await mkdir(join(data, 'many-mlflow'), { recursive: true });
  await writeFile(join(data, 'warm.bin'), randomFillSync(Buffer.alloc(64 * 1024)));
  const sizes = [...new Set([flatBytes, largeBytes])].filter((n) => n > 0);
  const bigFiles = new Map();
  for (const size of sizes) {
    const path = join(data, `weights-${size / MiB}MiB.bin`);
    const fd = openSync(path, 'w');
    const chunk = Buffer.allocUnsafe(8 * MiB);
    for (let done = 0; done < size; done += chunk.length) {
      randomFillSync(chunk);
      writeSync(fd, chunk, 0, Math.min(chunk.length, size - done));
    }
    closeSync(fd);
    bigFiles.set(size, path);
  }
  for (let i = 0; i < files; i++) {
    const name = `f${String(i).padStart(5, '0')}.txt`;
    const bytes = randomFillSync(Buffer.alloc(smallBytes));
    await writeFile(join(data, 'many', name), bytes);
    if (i < mlflowFiles) await writeFile(join(data, 'many-mlflow', name), bytes);
  }

  const results = [];
  const record = (row) => {
    results.push(row);
    console.error(
      `${row.path.padEnd(12)} ${row.op.padEnd(26)} run ${row.run}: ${row.seconds.toFixed(2)} s` +
        (row.serverRss ? `, server peak RSS ${(row.serverRss / MiB).toFixed(0)} MiB` : ''),
    );
  };

  for (let run = 1; run <= runs; run++) {
    for (const path of paths) {
      const mlflowClient = path === 'mlflow' || path === 'mlflow-ours';
      if (mlflowClient && run > mlflowRuns) continue;
      const count = mlflowClient ? mlflowFiles : files;
      const prefix = `${s3Root}/bench-${path}-${randomUUID().slice(0, 8)}`;
      const server =
        path === 'ours' || path === 'mlflow-ours'
          ? await startOurs(prefix)
          : path === 'mlflow'
            ? await startMlflow(prefix)
            : undefined;
      const base = server ? `${server.url}/api/2.0/mlflow-artifacts/artifacts` : undefined;
      const repo =
        path === 'direct'
          ? await openRepository(prefix)
          : path === 'ours'
            ? await openRepository(base)
            : undefined;
      // One small transfer first (untimed): lazy imports and connection pools of the server warm up.
      if (repo) {
        await repo.logArtifact(join(data, 'warm.bin'), 'warm');
        await repo.downloadArtifacts('warm/warm.bin', await mkdtemp(join(data, 'warm-')));
      } else if (server) {
        await runPython(MLFLOW_CLIENT, [`${base}/warm`, 'upload-file', join(data, 'warm.bin')]);
      }
      const mem = server ? sampler(server.child.pid) : undefined;
      const measure = async (op, bytes, fn, count = 0) => {
        mem?.reset();
        const started = performance.now();
        const inner = await fn();
        const seconds = inner ?? (performance.now() - started) / 1000;
        record({ path, op, run, seconds, bytes, files: count, ...(mem ? { serverRss: mem.stop() } : {}) });
        if (mem) Object.assign(mem, sampler(server.child.pid));
      };
      try {
        for (const size of sizes) {
          const file = bigFiles.get(size);
          const name = file.split('/').at(-1);
          const dst = await mkdtemp(join(data, 'dl-'));
          if (repo) {
            await measure(`upload ${size / MiB} MiB`, size, () =>
              repo.logArtifact(file).then(() => undefined),
            );
            await measure(`download ${size / MiB} MiB`, size, () =>
              repo.downloadArtifacts(name, dst).then(() => undefined),
            );
          } else {
            await measure(
              `upload ${size / MiB} MiB`,
              size,
              async () => (await runPython(MLFLOW_CLIENT, [base, 'upload-file', file])).seconds,
            );
            await measure(
              `download ${size / MiB} MiB`,
              size,
              async () => (await runPython(MLFLOW_CLIENT, [base, 'download-file', dst, file])).seconds,
            );
          }
          await rm(dst, { recursive: true, force: true });
        }
        if (count > 0) {
          const dst = await mkdtemp(join(data, 'dl-'));
          const label = `small files (${smallBytes / 1024} KiB)`;
          const bytes = count * smallBytes;
          if (repo) {
            await measure(
              `upload ${label}`,
              bytes,
              () => repo.logArtifacts(join(data, 'many'), 'many').then(() => undefined),
              count,
            );
            await measure(
              `download ${label}`,
              bytes,
              () => repo.downloadArtifacts('many', dst).then(() => undefined),
              count,
            );
          } else {
            await measure(
              `upload ${label}`,
              bytes,
              async () =>
                (await runPython(MLFLOW_CLIENT, [base, 'upload-dir', join(data, 'many-mlflow')])).seconds,
              count,
            );
            await measure(
              `download ${label}`,
              bytes,
              async () => (await runPython(MLFLOW_CLIENT, [base, 'download-dir', dst])).seconds,
              count,
            );
          }
          await rm(dst, { recursive: true, force: true });
        }
      } finally {
        mem?.stop();
        const cleanup = await openRepository(prefix);
        await cleanup.deleteArtifacts().catch(() => undefined);
        await cleanup.close();
        await repo?.close();
        if (server) await stop(server);
      }
    }
  }

  // --- summary ---
  const groups = new Map();
  for (const row of results) {
    const key = `${row.op}|${row.path}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  const lines = [
    '| transfer | path | median time | throughput | server peak RSS (median) | throughput vs direct |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const [key, rows] of groups) {
    const [op, path] = key.split('|');
    const seconds = median(rows.map((r) => r.seconds));
    const bytes = rows[0].bytes;
    const count = rows[0].files;
    const rate = count
      ? `${(count / seconds).toFixed(0)} files/s (${count} files)`
      : `${(bytes / MB / seconds).toFixed(1)} MB/s`;
    const rss =
      rows[0].serverRss === undefined
        ? '—'
        : `${(median(rows.map((r) => r.serverRss)) / MiB).toFixed(0)} MiB`;
    const directRows = groups.get(`${op}|direct`);
    const directRate = directRows
      ? (directRows[0].files || directRows[0].bytes) / median(directRows.map((r) => r.seconds))
      : undefined;
    const ratio = directRate ? `${(((count || bytes) / seconds / directRate) * 100).toFixed(0)} %` : '—';
    lines.push(`| ${op} | ${path} | ${seconds.toFixed(2)} s | ${rate} | ${rss} | ${ratio} |`);
  }
  const cpu = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  const machine = `${os.cpus().length} CPUs (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, load average ${os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ')}`;
  console.log(`\n${machine}; ${runs} runs (MLflow-client paths: ${Math.min(runs, mlflowRuns)}), medians\n`);
  console.log(lines.join('\n'));
  if (args.json) await writeFile(args.json, JSON.stringify({ machine, runs, results }, null, 2));
  await rm(data, { recursive: true, force: true });
}

// --- entry: the benchmark, or (--serve) our server in its own process ---------------------------------

if (args.serve) {
  const { createArtifactServer } = await import(pathToFileURL(join(pkgRoot, 'dist', 'index.js')).href);
  await import(pathToFileURL(join(repoRoot, 'packages', 's3', 'dist', 'index.js')).href);
  const server = await createArtifactServer({
    artifactsDestination: args.serve,
    port: 0,
    auth: { allowUnauthenticated: true },
    accessLog: false,
  });
  const { url } = await server.listen();
  process.stdout.write(`${JSON.stringify({ url })}\n`);
  process.on('SIGTERM', () => {
    server.close().then(() => process.exit(0));
  });
} else {
  await main();
}
