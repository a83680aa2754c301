// Does @artifacts/server retain memory per transfer? Starts the server in this process over a local
// destination, drives it with curl (separate processes, so the client's memory is not counted),
// and prints RSS, heapUsed, external and arrayBuffers after a forced GC every `--every` transfers.
// Run: pnpm build && pnpm exec node --expose-gc bench/src/server-memory.mjs [--mib 64] [--transfers 60]
//      [--every 10] [--ranges K] [--parallel P] [--snapshot DIR]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import '@artifacts/local';
import { startServer } from '../../packages/server/dist/index.js';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '64' },
    transfers: { type: 'string', default: '60' },
    every: { type: 'string', default: '10' },
    snapshot: { type: 'string' },
    ranges: { type: 'string', default: '0' },
    parallel: { type: 'string', default: '1' },
  },
});
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const mib = Number(values.mib);
const transfers = Number(values.transfers);
const every = Number(values.every);
// --ranges K: download as our client does, 8 MiB ranges, K requests at a time (0: one plain GET).
const ranges = Number(values.ranges);
const RANGE = 8 * 1024 * 1024;
// --parallel P: each transfer is P requests at once, on P names (P = 1: one request).
const parallel = Number(values.parallel);
const each = (fn) => Promise.all(Array.from({ length: parallel }, (_, j) => fn(j)));

const work = mkdtempSync(join(tmpdir(), 'server-memory-'));
const source = join(work, 'source.bin');
execFileSync('sh', ['-c', `head -c ${mib * 1024 * 1024} /dev/urandom > ${source}`]);

const server = await startServer({
  artifactsDestination: join(work, 'store'),
  host: '127.0.0.1',
  port: 0,
  auth: { allowUnauthenticated: true },
  accessLog: false,
  handleSignals: false,
  onMessage: () => undefined,
});
const base = `${server.address.url}/api/2.0/mlflow-artifacts/artifacts/mem`;

function curl(args) {
  return new Promise((resolve, reject) => {
    const proc = spawn('curl', ['-sS', '--fail', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    proc.on('error', reject);
    proc.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`curl ${args.join(' ')}: exit ${code}`)),
    );
  });
}

const MiB = (n) => (n / 1024 / 1024).toFixed(1);
async function measure(label) {
  for (let i = 0; i < 3; i += 1) {
    globalThis.gc();
    await sleep(50);
  }
  const m = process.memoryUsage();
  console.log(
    [
      label.padEnd(14),
      `rss ${MiB(m.rss)}`,
      `heapUsed ${MiB(m.heapUsed)}`,
      `heapTotal ${MiB(m.heapTotal)}`,
      `external ${MiB(m.external)}`,
      `arrayBuffers ${MiB(m.arrayBuffers)}`,
      `peak rss ${MiB(process.resourceUsage().maxRSS * 1024)}`,
    ].join('  '),
  );
  return m;
}

console.log(
  `server ${server.address.url}, ${mib} MiB file, ${transfers} transfers (upload, download alternating), curl clients, downloads ${ranges > 0 ? `in 8 MiB ranges, ${ranges} at a time` : 'one GET'}, ${parallel} request(s) per transfer, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? 'unset'}`,
);
await measure('start');
if (values.snapshot) writeHeapSnapshot(join(values.snapshot, 'start.heapsnapshot'));
let done = 0;
const samples = [];
for (let i = 0; done < transfers; i += 1) {
  const name = `f${i % 4}`;
  await each((j) => curl(['-T', source, `${base}/${name}-${j}.bin`]));
  done += 1;
  if (done % every === 0) samples.push(await measure(`after ${done}`));
  if (done >= transfers) break;
  await each(async (j) => {
    if (ranges > 0) {
      const starts = Array.from({ length: Math.ceil((mib * 1024 * 1024) / RANGE) }, (_, k) => k * RANGE);
      const workers = Array.from({ length: ranges }, async () => {
        for (let start = starts.shift(); start !== undefined; start = starts.shift()) {
          await curl(['-r', `${start}-${start + RANGE - 1}`, '-o', '/dev/null', `${base}/${name}-${j}.bin`]);
        }
      });
      await Promise.all(workers);
    } else {
      await curl(['-o', join(work, `down-${j}.bin`), `${base}/${name}-${j}.bin`]);
    }
  });
  done += 1;
  if (done % every === 0) samples.push(await measure(`after ${done}`));
  if (values.snapshot && done === Math.floor(transfers / 2))
    writeHeapSnapshot(join(values.snapshot, 'middle.heapsnapshot'));
}
if (values.snapshot) writeHeapSnapshot(join(values.snapshot, 'end.heapsnapshot'));
await server.close();
rmSync(work, { recursive: true, force: true });
