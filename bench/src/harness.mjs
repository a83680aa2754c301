// The one benchmark harness: data sets, one measured process per transfer (/usr/bin/time -v: wall
// seconds, CPU seconds, peak RSS), interleaved runs, medians, the machine's load, the Markdown table.
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export const MiB = 1024 * 1024;

/** Incompressible pseudo-random bytes (AES-CTR keystream), written as a stream. */
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

/** File i of the small set: 1–16 KiB. */
export const smallSize = (i) => 1024 + ((i * 7919) % (15 * 1024));

/** `big.bin` of bigBytes and `small/` with `files` files of 1–16 KiB, 25 per directory; made once, reused. */
export async function prepareData(dir, { bigBytes, files }) {
  const root = join(dir, `data-${bigBytes}-${files}`);
  await mkdir(root, { recursive: true });
  const big = join(root, 'big.bin');
  if (!existsSync(big) || (await stat(big)).size !== bigBytes) await writeRandomFile(big, bigBytes, 'big');
  const small = join(root, 'small');
  const count = existsSync(small) ? await countFiles(small) : 0;
  if (count !== files) {
    await rm(small, { recursive: true, force: true });
    for (let i = 0; i < files; i++) {
      const sub = join(small, `d${String(Math.floor(i / 25)).padStart(3, '0')}`);
      if (i % 25 === 0) await mkdir(sub, { recursive: true });
      const key = createHash('sha256').update(`small-${i}`).digest();
      const bytes = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(smallSize(i)));
      await writeFile(join(sub, `f${i}.bin`), bytes);
    }
  }
  let smallBytes = 0;
  for (let i = 0; i < files; i++) smallBytes += smallSize(i);
  return { big, small, smallBytes };
}

export async function countFiles(dir) {
  let n = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) if (entry.isFile()) n++;
  return n;
}

const CLOCK_TICKS = 100;
const PAGE = 4096;

/** The process `pid` and its descendants (Linux /proc). */
function processTree(pid) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(name);
    if (!stat) continue;
    if (!children.has(stat.ppid)) children.set(stat.ppid, []);
    children.get(stat.ppid).push(Number(name));
  }
  const out = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** ppid, CPU ticks (user + system) and resident pages of one process, or undefined once it is gone. */
function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), rss: Number(f[21]) };
  } catch {
    return undefined;
  }
}

/**
 * Watches a server's process tree during one transfer: its CPU seconds (user + system) and the
 * peak of its summed RSS (shared pages counted in each process), sampled every 100 ms.
 */
function watchTree(pid) {
  const pids = processTree(pid);
  const sample = () => {
    let ticks = 0;
    let rss = 0;
    for (const p of pids) {
      const s = procStat(p);
      if (s) {
        ticks += s.ticks;
        rss += s.rss;
      }
    }
    return { ticks, rss };
  };
  const first = sample();
  let peak = first.rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, sample().rss);
  }, 100);
  return () => {
    clearInterval(timer);
    const last = sample();
    peak = Math.max(peak, last.rss);
    return { serverCpu: (last.ticks - first.ticks) / CLOCK_TICKS, serverRssMiB: (peak * PAGE) / MiB };
  };
}

/**
 * Runs one command under /usr/bin/time -v: wall seconds, CPU seconds (user + system, children
 * included), peak RSS in MiB; with `watch` (a server's pid), that server's CPU seconds and peak RSS too.
 */
export function timed({ cmd, args, env, input, cwd, unset = [], watch }) {
  return new Promise((resolve, reject) => {
    const stopWatch = watch ? watchTree(watch) : () => ({});
    const childEnv = { ...process.env, ...(env ?? {}) };
    for (const name of unset) delete childEnv[name];
    const started = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-v', cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: childEnv,
      cwd,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.stdin.end(input ?? '');
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const server = stopWatch();
      const field = (re) => Number(re.exec(err)?.[1] ?? Number.NaN);
      if (code !== 0) {
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited with ${code}\n${out.slice(-2000)}\n${err.length > 4000 ? `${err.slice(0, 2500)}\n…\n${err.slice(-1500)}` : err}`,
          ),
        );
        return;
      }
      resolve({
        seconds,
        cpu: field(/User time \(seconds\): ([\d.]+)/) + field(/System time \(seconds\): ([\d.]+)/),
        rssMiB: field(/Maximum resident set size \(kbytes\): (\d+)/) / 1024,
        ...server,
      });
    });
  });
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

export function machine() {
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  return {
    nproc: cpus().length,
    memGiB: (totalmem() / 1024 ** 3).toFixed(1),
    freeGiB: (freemem() / 1024 ** 3).toFixed(1),
    cpu: model,
    node: process.version,
  };
}

export function toolVersion(command, args) {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    })
      .split('\n')[0]
      .trim();
  } catch {
    return undefined;
  }
}

/**
 * Runs every case for every client `runs` times, interleaved (case by case, client A, B, C, then
 * the next case; then run 2), so the machine's drifting load falls on all of them alike. `prepare`
 * runs before each measurement (outside it). Returns one row per case and client, with medians.
 */
/** Writes back every dirty page (`sync`), so that no transfer pays for the one before. */
function syncDisks() {
  try {
    execFileSync('sync', { stdio: 'ignore' });
  } catch {}
}

export async function runInterleaved({ clients, cases, runs, prepare, log }) {
  const samples = new Map();
  const failures = new Map();
  const loads = [];
  for (let run = 1; run <= runs; run++) {
    const failedNow = new Set();
    // Each run starts at the next client: no client always goes first after the uploads (when the
    // server and the page cache are still writing back what was just uploaded) or last.
    const order = clients.map((_, i) => clients[(i + run - 1) % clients.length]);
    for (const kase of cases) {
      for (const client of order) {
        const key = `${client.id}\u0000${kase.op}`;
        // a download reads what the same client uploaded in this run
        if (kase.needs && failedNow.has(`${client.id}\u0000${kase.needs}`)) continue;
        let m;
        try {
          const spec = await prepare(client, kase, run);
          // The dirty pages of the transfer before (a GiB after an upload or a download) are written
          // back now, not during this one's timing.
          syncDisks();
          loads.push(loadAverage());
          m = await timed(spec);
          loads.push(loadAverage());
        } catch (error) {
          const lines = String(error?.message ?? error)
            .split('\n')
            .filter((l) => l.trim() && !l.includes('exited with') && !/^\s+at /.test(l));
          const reason = (
            lines.find((l) => /\b\w*(Error|Exception)\b:/.test(l)) ??
            lines.find((l) => /error|fail|denied|refused/i.test(l)) ??
            lines[0] ??
            'failed'
          )
            .trim()
            .slice(0, 160);
          failures.set(key, reason);
          failedNow.add(key);
          log(`run ${run}/${runs} ${kase.name.padEnd(22)} ${client.label.padEnd(34)} FAILED: ${reason}`);
          continue;
        }
        if (!samples.has(key)) samples.set(key, []);
        samples.get(key).push(m);
        log(
          `run ${run}/${runs} ${kase.name.padEnd(22)} ${client.label.padEnd(34)} ${m.seconds.toFixed(2)} s  ${kase.rate(m.seconds)}  CPU ${m.cpu.toFixed(2)} s  RSS ${m.rssMiB.toFixed(0)} MiB${m.serverCpu === undefined ? '' : `  server CPU ${m.serverCpu.toFixed(2)} s RSS ${m.serverRssMiB.toFixed(0)} MiB`}  load ${loadAverage().toFixed(1)}`,
        );
      }
    }
  }
  const rows = [];
  for (const kase of cases) {
    const ours = samples.get(`${clients[0].id}\u0000${kase.op}`);
    const oursSeconds = ours ? median(ours.map((m) => m.seconds)) : undefined;
    for (const client of clients) {
      const key = `${client.id}\u0000${kase.op}`;
      const ms = samples.get(key);
      if (!ms) {
        rows.push({ kase, client, failed: failures.get(key) ?? 'not run' });
        continue;
      }
      const seconds = median(ms.map((m) => m.seconds));
      rows.push({
        kase,
        client,
        seconds,
        cpu: median(ms.map((m) => m.cpu)),
        rssMiB: Math.max(...ms.map((m) => m.rssMiB)),
        ...(ms[0].serverCpu === undefined
          ? {}
          : {
              serverCpu: median(ms.map((m) => m.serverCpu)),
              serverRssMiB: Math.max(...ms.map((m) => m.serverRssMiB)),
            }),
        ratio: oursSeconds ? oursSeconds / seconds : undefined,
        runs: ms.length,
      });
    }
  }
  return { rows, load: { min: Math.min(...loads), max: Math.max(...loads), median: median(loads) } };
}

/**
 * The table: rate, ratio to the first client (above 1: that client is faster), CPU, peak RSS; and
 * the server's CPU and peak RSS when the rows measured a server (the proxy).
 */
export function markdownTable(rows) {
  const server = rows.some((r) => r.serverCpu !== undefined);
  const head = ['case', 'client', 'median rate', 'ratio', 'CPU s (median)', 'peak RSS (max)'];
  if (server) head.push('server CPU s (median)', 'server peak RSS (max)');
  head.push('runs');
  const lines = [`| ${head.join(' | ')} |`, `| --- | --- |${' ---: |'.repeat(head.length - 2)}`];
  for (const r of rows) {
    const cells = r.failed
      ? [r.kase.name, r.client.label, `failed: ${r.failed.replace(/\|/g, '/')}`, '', '', '']
      : [
          r.kase.name,
          r.client.label,
          r.kase.rate(r.seconds),
          r.ratio === undefined ? '' : r.ratio.toFixed(2),
          r.cpu.toFixed(2),
          `${r.rssMiB.toFixed(0)} MiB`,
        ];
    if (server)
      cells.push(
        r.serverCpu === undefined ? '' : r.serverCpu.toFixed(2),
        r.serverRssMiB === undefined ? '' : `${r.serverRssMiB.toFixed(0)} MiB`,
      );
    cells.push(r.failed ? 0 : r.runs);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * What would keep this process running, one line each: sockets (with their addresses), servers,
 * child processes (pid and command), timers, other handles. Standard input, output and error are
 * left out. `process._getActiveHandles()` is Node's own list (the one why-is-node-running reads).
 */
export function openHandles() {
  const stdio = new Set([process.stdin, process.stdout, process.stderr].map((s) => s?._handle));
  const lines = [];
  for (const h of process._getActiveHandles()) {
    if (h === process.stdin || h === process.stdout || h === process.stderr || stdio.has(h?._handle))
      continue;
    const kind = h?.constructor?.name ?? typeof h;
    if (kind === 'ChildProcess') lines.push(`child process ${h.pid} (${h.spawnargs?.join(' ')})`);
    else if (kind === 'Socket' || kind === 'TLSSocket')
      lines.push(
        h.remotePort
          ? `${kind === 'TLSSocket' ? 'TLS ' : ''}socket ${h.localAddress}:${h.localPort} → ${h.remoteAddress}:${h.remotePort}`
          : `socket${h._handle?.fd >= 0 ? ` fd ${h._handle.fd}` : ''}`,
      );
    else if (kind === 'Server') lines.push(`server ${JSON.stringify(h.address?.())}`);
    else if (kind === 'Timeout' && h.hasRef?.() !== false)
      lines.push(`timer ${h._idleTimeout} ms (${String(h._onTimeout?.name || 'anonymous')})`);
    else if (kind !== 'Timeout') lines.push(kind);
  }
  return lines;
}
