// Runs every workspace package's unit and conformance tests (its `test` script) once more on each
// older Node the package supports: the lowest Node 20 and the lowest Node 22 its `engines` admit.
// Node 24 (the root `node` devDependency) already ran them through turbo.
//
// The Node binaries come from the npm registry as root devDependencies under aliases
// (`node-20` → `npm:node@20.19.0`, `node-22` → `npm:node@22.12.0`), so `pnpm install` fetches them
// on a fresh machine like every other tool. Those two versions are the floors stated in the
// packages' `engines` (`^20.19.0 || >=22.12.0`, or `>=22.12.0` where a dependency needs Node 22):
// the floors are the lowest versions this suite can run on (vite, under vitest, needs 20.19/22.12).
//
// The runs are independent (each its own vitest on its own Node, one test worker each, many of
// them waiting on child processes, timers and sockets), so several run at once: `--jobs N` (default
// the number of cores; `ARTIFACTS_NODE_MATRIX_JOBS`), the longest first — by the durations
// the last run recorded in node_modules/.cache, or, on a fresh clone, by the size of the package's
// unit tests. Each run's output is printed whole when it ends, so nothing interleaves.
//
// Usage: node scripts/test-node-matrix.mjs [--filter <package name>]... [--node <major>]... [--jobs N]
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { compareVersions, parseVersion, satisfies } from './node-range.mjs';

const root = new URL('..', import.meta.url).pathname;
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const args = process.argv.slice(2);
const only = (flag) => args.flatMap((arg, i) => (args[i - 1] === flag ? [arg] : []));
const filters = only('--filter');
const majors = only('--node');
const jobsArg = only('--jobs').at(-1) ?? process.env.ARTIFACTS_NODE_MATRIX_JOBS;
const width = jobsArg === undefined ? availableParallelism() : Number(jobsArg);
if (!Number.isInteger(width) || width < 1) {
  console.error(
    `test-node-matrix: --jobs must be a whole number of at least 1, not ${JSON.stringify(jobsArg)}`,
  );
  process.exit(1);
}

/** `node-<major>` aliases of the `node` package among the root devDependencies. */
const nodes = Object.entries(rootManifest.devDependencies)
  .flatMap(([alias, spec]) => {
    const match = /^node-(\d+)$/.exec(alias);
    const version = /^npm:node@(\d+\.\d+\.\d+)$/.exec(spec)?.[1];
    if (!match || !version) return [];
    if (majors.length > 0 && !majors.includes(match[1])) return [];
    return [
      {
        version,
        bin: join(root, 'node_modules', alias, 'bin', process.platform === 'win32' ? 'node.exe' : 'node'),
      },
    ];
  })
  .sort((a, b) => compareVersions(parseVersion(a.version), parseVersion(b.version)));

const workspaceDirs = ['packages', 'examples'].flatMap((group) =>
  existsSync(join(root, group))
    ? readdirSync(join(root, group), { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && existsSync(join(root, group, entry.name, 'package.json')))
        .map((entry) => join(root, group, entry.name))
    : [],
);

const jobs = [];
for (const dir of workspaceDirs) {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const script = manifest.scripts?.test;
  if (!script) continue;
  if (filters.length > 0 && !filters.includes(manifest.name)) continue;
  const range = manifest.engines?.node;
  if (!range) throw new Error(`${manifest.name} has a test script but no engines.node`);
  for (const node of nodes) {
    if (satisfies(node.version, range)) jobs.push({ name: manifest.name, dir, script, node });
  }
}

if (nodes.length === 0 || jobs.length === 0) {
  console.error('test-node-matrix: nothing to run (no node-<major> devDependencies or no package matched)');
  process.exit(1);
}
for (const node of nodes) {
  if (!existsSync(node.bin)) {
    console.error(
      `test-node-matrix: ${node.bin} is missing; run \`pnpm install\` (its install script fetches Node ${node.version})`,
    );
    process.exit(1);
  }
}

// One directory per Node with a `node` link, first on the PATH, so the test script, the vitest
// workers it forks and any `node` a test spawns all run on the Node under test.
const scratch = mkdtempSync(join(tmpdir(), 'artifacts-node-matrix-'));
const binDirs = new Map(nodes.map((node) => [node.version, join(scratch, node.version)]));
for (const node of nodes) {
  mkdirSync(binDirs.get(node.version));
  symlinkSync(node.bin, join(binDirs.get(node.version), 'node'));
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    rmSync(scratch, { recursive: true, force: true });
    process.exit(1);
  });
}

function run(job) {
  const binDir = binDirs.get(job.node.version);
  return new Promise((resolve) => {
    const started = Date.now();
    const output = [];
    // Not through node_modules/.bin: pnpm's shims prefer the `node` beside them (Node 24).
    const [command, ...commandArgs] = job.script.trim().split(/\s+/);
    if (command !== 'vitest')
      throw new Error(`${job.name}: test script ${JSON.stringify(job.script)} is not \`vitest …\``);
    const vitest = join(
      dirname(createRequire(join(job.dir, 'package.json')).resolve('vitest/package.json')),
      'vitest.mjs',
    );
    const child = spawn(job.node.bin, [vitest, ...commandArgs], {
      cwd: job.dir,
      env: {
        ...process.env,
        PATH: [
          binDir,
          join(job.dir, 'node_modules', '.bin'),
          join(root, 'node_modules', '.bin'),
          process.env.PATH,
        ].join(delimiter),
        ARTIFACTS_TEST_NODE: job.node.version,
        NO_COLOR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
    child.on('close', (code, signal) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const ok = code === 0;
      const tail = Buffer.concat(output)
        .toString('utf8')
        .replace(/\x1b\[[0-9;]*m/g, '');
      const summary = tail.match(/^\s*Tests\s+.*$/m)?.[0].trim() ?? '';
      console.log(`${ok ? 'ok  ' : 'FAIL'} node ${job.node.version} ${job.name} (${seconds} s) ${summary}`);
      if (!ok) console.log(tail, signal ? `(killed by ${signal})` : `(exit ${code})`);
      resolve(ok);
    });
  });
}

// Longest first, so the last runs to end are short ones: the durations the last run here recorded,
// or (a fresh clone) the size of the package's unit-test files as a stand-in.
const timesFile = join(root, 'node_modules', '.cache', 'artifacts-node-matrix.json');
let recorded = {};
try {
  recorded = JSON.parse(readFileSync(timesFile, 'utf8'));
} catch {}
const keyOf = (job) => `${job.name}@${job.node.version}`;
function testBytes(dir) {
  let bytes = 0;
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name === 'integration') continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.test\.[cm]?[jt]s$/.test(entry.name)) bytes += statSync(path).size;
    }
  };
  walk(dir);
  return bytes;
}
const estimate = new Map(jobs.map((job) => [job, recorded[keyOf(job)] ?? testBytes(job.dir) / 1000]));
jobs.sort((a, b) => estimate.get(b) - estimate.get(a));

const started = Date.now();
const results = [];
const durations = { ...recorded };
let next = 0;
await Promise.all(
  Array.from({ length: Math.min(width, jobs.length) }, async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const t0 = Date.now();
      const ok = await run(job);
      results.push(ok);
      if (ok) durations[keyOf(job)] = Math.round((Date.now() - t0) / 100) / 10;
    }
  }),
);
rmSync(scratch, { recursive: true, force: true });
try {
  mkdirSync(dirname(timesFile), { recursive: true });
  writeFileSync(timesFile, `${JSON.stringify(durations, null, 2)}\n`);
} catch {}
const failed = results.filter((ok) => !ok).length;
console.log(
  `test-node-matrix: ${results.length - failed}/${results.length} package runs passed on Node ${nodes.map((n) => n.version).join(', ')} (${((Date.now() - started) / 1000).toFixed(0)} s, ${Math.min(width, jobs.length)} at a time)`,
);
process.exit(failed === 0 ? 0 : 1);
