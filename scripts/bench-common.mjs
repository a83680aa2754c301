// Shared by the benchmarks of the file-protocol backends (SFTP, FTP): data sets, timing a command with /usr/bin/time, medians,
// the machine's description and the markdown table.
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export const MiB = 1024 * 1024;

/** Reads integration/.servers.env (written by `pnpm servers up …`) into process.env where unset. */
export function loadServersEnv(repoRoot) {
  const file = join(repoRoot, 'integration', '.servers.env');
  if (!existsSync(file)) return;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let value = m[2];
    if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1).replace(/'\\''/g, "'");
    if (process.env[m[1]] === undefined) process.env[m[1]] = value;
  }
}

export function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

/** Pseudo-random bytes (AES-CTR keystream): incompressible, fast, never held in memory. */
async function writeRandomFile(path, size, seed) {
  const key = createHash('sha256').update(String(seed)).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const zero = Buffer.alloc(MiB);
  async function* chunks() {
    for (let left = size; left > 0; left -= MiB)
      yield cipher.update(left >= MiB ? zero : zero.subarray(0, left));
  }
  await pipeline(chunks(), createWriteStream(path));
}

/** A big file and a directory of small files (1–16 KiB, 25 per sub-directory), made once. */
export async function prepareData(dir, { bigBytes, files }) {
  await mkdir(dir, { recursive: true });
  const big = join(dir, `big-${bigBytes}.bin`);
  if (!existsSync(big) || (await stat(big)).size !== bigBytes) await writeRandomFile(big, bigBytes, 'big');
  const small = join(dir, `small-${files}`);
  const count = existsSync(small) ? await countFiles(small) : 0;
  let smallBytes = 0;
  if (count !== files) {
    await rm(small, { recursive: true, force: true });
    for (let i = 0; i < files; i++) {
      const sub = join(small, `d${String(Math.floor(i / 25)).padStart(3, '0')}`);
      if (i % 25 === 0) await mkdir(sub, { recursive: true });
      const size = 1024 + ((i * 7919) % (15 * 1024));
      const key = createHash('sha256').update(`small-${i}`).digest();
      await writeFile(
        join(sub, `f${i}.bin`),
        createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size)),
      );
    }
  }
  for (let i = 0; i < files; i++) smallBytes += 1024 + ((i * 7919) % (15 * 1024));
  return { big, small, smallBytes };
}

async function countFiles(dir) {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) n++;
  return n;
}

/** Runs a command under /usr/bin/time -v: wall seconds and peak RSS (MiB) of the process tree's largest. */
export function timed(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', command, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...(options.env ?? {}) },
      cwd: options.cwd,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ')} exited with ${code}\n${out}\n${err.slice(-3000)}`));
        return;
      }
      resolve({ seconds, rssMiB: rss ? Number(rss[1]) / 1024 : Number.NaN });
    });
  });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function machine() {
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {}
  return {
    nproc: cpus().length,
    memGiB: (totalmem() / 1024 ** 3).toFixed(1),
    freeGiB: (freemem() / 1024 ** 3).toFixed(1),
    cpu: model,
    node: process.version,
    load,
  };
}

export function toolVersion(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')[0]
      .trim();
  } catch (error) {
    return (error.stderr?.toString() ?? '').split('\n')[0].trim() || 'unknown';
  }
}

/**
 * Runs every case of every client `runs` times, interleaved (client A, B, C, then A, B, C again) so
 * that the machine's load drifts over all of them alike; returns medians.
 */
export async function runAll({ clients, cases, runs, log }) {
  const results = {};
  const failures = {};
  for (let run = 1; run <= runs; run++) {
    for (const kase of cases) {
      for (const client of clients) {
        const key = `${client.name}\u0000${kase.name}`;
        await client.before?.(kase, run);
        let measurement;
        try {
          measurement = await client.run(kase, run);
        } catch (error) {
          // A client that fails a case is reported as failing it, with its last error line.
          const lines = String(error.message)
            .split('\n')
            .filter((l) => /error|fail/i.test(l) && !l.includes('exited with'));
          failures[key] = (lines.at(-1) ?? String(error.message).split('\n')[0]).trim().slice(0, 160);
          log(
            `run ${run}/${runs} ${kase.name.padEnd(20)} ${client.name.padEnd(26)} FAILED: ${failures[key]}`,
          );
          continue;
        }
        await client.after?.(kase, run);
        if (!results[key]) results[key] = [];
        results[key].push(measurement);
        log(
          `run ${run}/${runs} ${kase.name.padEnd(20)} ${client.name.padEnd(26)} ${measurement.seconds.toFixed(2)} s  ${kase.rate(measurement.seconds)}  RSS ${measurement.rssMiB.toFixed(0)} MiB`,
        );
      }
    }
  }
  const table = [];
  for (const kase of cases) {
    for (const client of clients) {
      const key = `${client.name}\u0000${kase.name}`;
      const ms = results[key] ?? [];
      if (ms.length === 0) {
        if (failures[key]) table.push({ case: kase.name, client: client.name, failed: failures[key] });
        continue;
      }
      const seconds = median(ms.map((m) => m.seconds));
      table.push({
        case: kase.name,
        client: client.name,
        seconds,
        rate: kase.rate(seconds),
        rssMiB: median(ms.map((m) => m.rssMiB)),
        maxRssMiB: Math.max(...ms.map((m) => m.rssMiB)),
        runs: ms.length,
      });
    }
  }
  return table;
}

export function markdownTable(rows) {
  const lines = [
    '| case | client | median time | median rate | peak RSS (median / max) | runs |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    if (r.failed) {
      lines.push(`| ${r.case} | ${r.client} | failed: ${r.failed.replace(/\|/g, '/')} | | | 0 |`);
      continue;
    }
    lines.push(
      `| ${r.case} | ${r.client} | ${r.seconds.toFixed(2)} s | ${r.rate} | ${r.rssMiB.toFixed(0)} / ${r.maxRssMiB.toFixed(0)} MiB | ${r.runs} |`,
    );
  }
  return lines.join('\n');
}
