#!/usr/bin/env node
// Proxy download micro-benchmark (`node bench/proxy-download.mjs [--mib 256] [--runs 5]`): one file
// served by @artifacts/server (its own process, over a local destination), fetched interleaved by
// curl and by @artifacts/http (openRead to a null sink, and downloadArtifacts to a file). Reports
// medians of MiB/s and the client's CPU seconds. Needs `pnpm build`. With --profile DIR, the
// @artifacts/http runs write a V8 CPU profile there (node --cpu-prof).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    mib: { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    profile: { type: 'string' },
    client: { type: 'string' },
  },
});
const MiB = 1024 * 1024;

if (args.client) {
  // Child mode: one @artifacts/http download, prints JSON {seconds, cpu}.
  const [url, mode, dst] = args.client.split('|');
  await import('@artifacts/http');
  const { openRepository } = await import('@artifacts/core');
  const repo = await openRepository(url, { maxRetries: 0 });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (mode === 'stream') {
    const stream = await repo.openRead('big.bin');
    for await (const _ of stream);
  } else {
    await repo.downloadArtifacts('big.bin', dst);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await repo.close();
  process.stdout.write(JSON.stringify({ seconds, cpu: (cpu.user + cpu.system) / 1e6 }));
  process.exit(0);
}

const size = Number(args.mib) * MiB;
const runs = Number(args.runs);
const work = await mkdtemp(join(os.tmpdir(), 'proxy-bench-'));
const dest = join(work, 'dest');
execFileSync('mkdir', ['-p', dest]);
{
  const fd = openSync(join(dest, 'big.bin'), 'w');
  const block = randomFillSync(Buffer.alloc(8 * MiB));
  for (let written = 0; written < size; written += block.length)
    writeSync(fd, block, 0, Math.min(block.length, size - written));
  closeSync(fd);
}
const server = spawn(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import '@artifacts/local';
     import { startServer } from '@artifacts/server';
     const s = await startServer({ artifactsDestination: ${JSON.stringify(dest)}, port: 0, accessLog: false, auth: { allowUnauthenticated: true } });
     console.log(s.address.url);`,
  ],
  { cwd: resolve(here, '..'), stdio: ['ignore', 'pipe', 'inherit'] },
);
process.on('exit', () => server.kill('SIGKILL'));
const base = await new Promise((resolveUrl) =>
  server.stdout.once('data', (d) => resolveUrl(String(d).trim())),
);
const fileUrl = `${base}/api/2.0/mlflow-artifacts/artifacts/big.bin`;
const rootUrl = `${base}/api/2.0/mlflow-artifacts/artifacts`;

function child(mode) {
  const dst = join(work, `dl-${Math.random().toString(36).slice(2)}`);
  execFileSync('mkdir', ['-p', dst]);
  const flags = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
  const t0 = performance.now();
  const out = execFileSync(
    process.execPath,
    [...flags, fileURLToPath(import.meta.url), '--client', `${rootUrl}|${mode}|${dst}`],
    {
      cwd: resolve(here, '..'),
    },
  );
  const wall = (performance.now() - t0) / 1000;
  execFileSync('rm', ['-rf', dst]);
  return { ...JSON.parse(String(out)), wall };
}

function curl(toFile) {
  const target = toFile ? join(work, 'curl.bin') : '/dev/null';
  const t0 = performance.now();
  const out = spawnSync('/usr/bin/time', ['-f', '%U %S', 'curl', '-sS', '-o', target, fileUrl], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const seconds = (performance.now() - t0) / 1000;
  const [user, sys] = String(out.stderr ?? '')
    .trim()
    .split(/\s+/)
    .slice(-2)
    .map(Number);
  return { seconds, cpu: (user ?? 0) + (sys ?? 0) };
}

const results = {
  'curl → /dev/null': [],
  'curl → file': [],
  'http openRead → sink': [],
  'http downloadArtifacts → file': [],
};
for (let run = 0; run < runs; run++) {
  results['curl → /dev/null'].push(curl(false));
  results['http openRead → sink'].push(child('stream'));
  results['curl → file'].push(curl(true));
  results['http downloadArtifacts → file'].push(child('file'));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `${args.mib} MiB, ${runs} runs interleaved, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log('| client | MiB/s (median) | client CPU s (median) |');
console.log('| --- | ---: | ---: |');
for (const [name, xs] of Object.entries(results)) {
  const rate = median(xs.map((x) => size / MiB / x.seconds));
  console.log(`| ${name} | ${rate.toFixed(0)} | ${median(xs.map((x) => x.cpu)).toFixed(2)} |`);
}
server.kill('SIGTERM');
await rm(work, { recursive: true, force: true });
