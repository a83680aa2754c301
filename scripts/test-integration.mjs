// Runs every workspace package's integration suite (its `test:integration` script), one at a time,
// in an order chosen for a fresh machine: first the suites whose servers cost no compile (pure-ftpd
// and sshd from apt, Azurite from npm, MiniDFSCluster's jars from Maven Central), so that the long
// installs (`pnpm servers install`, which CI starts beside the unit tests: MinIO's Go build, then
// fake-gcs-server's, then toxiproxy's; MLflow's venv) finish while those run instead of holding up
// the first suite. With every server installed the order changes nothing. The packages must be
// built (`pnpm test:integration` runs `turbo run build` first).
//
// One suite at a time: the timeout suites measure stalls of 1.5–4 s, which a second suite on a
// 2-core machine can cause. Stops at the first failing suite (like turbo without --continue) unless
// given --continue. Prints each suite's time and the load average at its end, then a summary.
//
// Usage: node scripts/test-integration.mjs [--filter <package name>]... [--continue] [--list]
// (`--list` prints the suites in the order they would run, and runs none)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const filters = args.flatMap((arg, i) => (args[i - 1] === '--filter' ? [arg] : []));
const keepGoing = args.includes('--continue');
const listOnly = args.includes('--list');

/**
 * The order, by what each suite's servers cost to install on a fresh machine (the Go builds run one
 * after another in this order: MinIO, fake-gcs-server, toxiproxy). A suite not named here runs after
 * these, in directory order.
 */
const ORDER = [
  '@artifacts/ftp', // pure-ftpd (apt)
  '@artifacts/sftp', // sshd (apt)
  '@artifacts/azure', // Azurite (npm, part of pnpm install)
  '@artifacts/hdfs', // MiniDFSCluster (Maven Central), then the KDC (apt) and the kerberos binding (node-gyp)
  '@artifacts/s3', // MinIO: the first Go build
  '@artifacts/server', // MinIO, Azurite, MLflow (PyPI)
  '@artifacts/http', // MinIO, Azurite, MLflow
  '@artifacts/cli', // MinIO, MLflow
  '@artifacts/gcs', // fake-gcs-server: the second Go build
  '@artifacts/fault-tests', // every server but MLflow, and toxiproxy: the third Go build
  '@artifacts/integration', // the smoke suite: every server
];

const dirs = ['packages', 'examples']
  .flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => join(root, group, entry.name))
      : [],
  )
  .concat([join(root, 'integration'), join(root, 'integration', 'faults'), join(root, 'bench')])
  .filter((dir) => existsSync(join(dir, 'package.json')));

const suites = dirs.flatMap((dir) => {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return manifest.scripts?.['test:integration'] ? [{ name: manifest.name, dir }] : [];
});
for (const name of ORDER) {
  if (!suites.some((suite) => suite.name === name)) {
    console.error(`test-integration: ${name} is in ORDER but has no test:integration script`);
    process.exit(1);
  }
}
const rank = (name) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);
const chosen = suites
  .filter((suite) => filters.length === 0 || filters.includes(suite.name))
  .sort((a, b) => rank(a.name) - rank(b.name));
if (chosen.length === 0) {
  console.error(`test-integration: no package with a test:integration script matches ${filters.join(', ')}`);
  process.exit(1);
}

if (listOnly) {
  for (const suite of chosen) console.log(suite.name);
  process.exit(0);
}

const load = () =>
  loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');

function run(suite) {
  return new Promise((resolve) => {
    console.log(`\ntest-integration: ${suite.name} (load ${load()})`);
    // `pnpm run` puts the package's and the root's node_modules/.bin (and the root's Node) first
    const child = spawn('pnpm', ['run', 'test:integration'], { cwd: suite.dir, stdio: 'inherit' });
    child.on('error', (error) => resolve({ code: 1, error }));
    child.on('close', (code, signal) => resolve({ code: code ?? 1, signal }));
  });
}

const started = Date.now();
const results = [];
for (const suite of chosen) {
  const t0 = Date.now();
  const { code, signal, error } = await run(suite);
  const seconds = Math.round((Date.now() - t0) / 1000);
  const ok = code === 0;
  results.push({ name: suite.name, ok, seconds, load: load() });
  console.log(
    `test-integration: ${suite.name} ${ok ? 'passed' : `FAILED (${error?.message ?? signal ?? `exit ${code}`})`} in ${seconds} s (load ${load()})`,
  );
  if (!ok && !keepGoing) break;
}

console.log(`\ntest-integration: time per suite (${Math.round((Date.now() - started) / 1000)} s in all)`);
for (const r of results)
  console.log(
    `  ${r.ok ? 'ok  ' : 'FAIL'} ${r.name.padEnd(26)} ${String(r.seconds).padStart(5)} s  load ${r.load}`,
  );
const skipped = chosen.slice(results.length).map((suite) => suite.name);
if (skipped.length > 0) console.log(`  not run (an earlier suite failed): ${skipped.join(', ')}`);
process.exit(results.every((r) => r.ok) && skipped.length === 0 ? 0 : 1);
