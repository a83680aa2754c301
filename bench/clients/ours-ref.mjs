// Ours as it was at a git revision (`--ref <rev>[,<rev>…]`): the library of that revision, core and
// the backend's package, each built once from `git archive <rev>` into the artifacts-it cache, run
// through the same openRepository + logArtifact(s) / downloadArtifacts as `ours-lib`. This is how a
// "before" row is reproduced from a fresh clone: same harness, same server, same run, interleaved.
//   node ours-ref.mjs <dir> <package> <big-up|big-down|small-up|small-down> <directory URI> <local path>
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PACKAGES } from '../src/backend-packages.mjs';
import { runCase } from './ours-lib.mjs';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cacheRoot = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'artifacts-it', 'bench-refs');
const packageOf = (backend) =>
  PACKAGES[{ azure: 'wasbs', gcs: 'gs', local: 'file', proxy: 'mlflow-artifacts' }[backend] ?? backend];

/**
 * The revision's core and backend package, built once (the directory is complete when `built-<pkg>`
 * exists). Two benches building the same revision at once take turns: the build runs under an
 * exclusive `flock` on `<sha>.lock`, which the kernel releases if the builder dies, and the second
 * finds the stamp the first left. Throws, naming the revision, when it cannot be built.
 */
export function buildRef(rev, backend, log) {
  const pkg = packageOf(backend);
  let sha;
  try {
    sha = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    throw new Error(`--ref ${rev}: no such revision in ${repoRoot}`);
  }
  const dir = join(cacheRoot, sha.slice(0, 12));
  if (existsSync(join(dir, `built-${pkg}`))) return { sha, dir };
  mkdirSync(cacheRoot, { recursive: true });
  const lock = `${dir}.lock`;
  const build = [process.execPath, fileURLToPath(import.meta.url), '--build', sha, dir, pkg];
  log(`building @artifacts/${pkg} of ${rev} (${sha.slice(0, 12)}) in ${dir}…`);
  try {
    const options = { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * 1024 * 1024 };
    try {
      execFileSync('flock', ['--nonblock', '--conflict-exit-code', '75', lock, ...build], options);
    } catch (error) {
      if (error.status !== 75) throw error;
      log(`another bench is building ${sha.slice(0, 12)}; waiting for it…`);
      execFileSync('flock', [lock, ...build], options);
    }
  } catch (error) {
    const lines = String(error.stderr ?? error.message)
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !/^at |^\^|^[│╭╰]/.test(line));
    // pnpm's own error lines (` ERR_PNPM_… `, `error …`) wherever they are, then the last lines.
    const errors = lines.filter((line) => /\bERR_PNPM_\w+|\berror\b/i.test(line)).slice(0, 6);
    const detail = [...new Set([...errors, ...lines.slice(-4)])].join(' / ');
    throw new Error(`--ref ${rev} (${sha.slice(0, 12)}): building @artifacts/${pkg} failed: ${detail}`);
  }
  return { sha, dir };
}

/** The build itself, run under the lock: extract the tree once, install, build; idempotent. */
function buildLocked(sha, dir, pkg) {
  const stamp = join(dir, `built-${pkg}`);
  if (existsSync(stamp)) return;
  // The revision's tree is extracted once and shared by every package built from it (another
  // backend's build of the same revision may be in use by a run beside this one: never removed here).
  const extracted = join(dir, '.extracted');
  if (!existsSync(extracted)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    execFileSync('sh', ['-c', `git -C "${repoRoot}" archive ${sha} | tar -x -C "${dir}"`], {
      stdio: 'inherit',
    });
    writeFileSync(extracted, `${sha}\n`);
  }
  // pnpm's report goes to stderr: the bench shows its last lines when a step fails.
  const pnpm = (...args) => execFileSync('pnpm', args, { cwd: dir, stdio: ['ignore', 2, 'inherit'] });
  const stamps = readdirSync(dir).filter((name) => name.startsWith('built-'));
  // A run may be using this revision's build of another package: nothing it loads is built again.
  // The whole workspace is installed once; core (every backend's one workspace dependency) is
  // built once (any earlier stamp built it with its package), then only the package asked for.
  if (!existsSync(join(dir, '.installed'))) {
    const scope = stamps.length > 0 ? ['--filter', `@artifacts/${pkg}...`] : [];
    pnpm('install', '--frozen-lockfile', '--prefer-offline', ...scope);
    if (scope.length === 0) writeFileSync(join(dir, '.installed'), `${sha}\n`);
  }
  if (stamps.length === 0) {
    pnpm('--filter', '@artifacts/core', 'run', 'build');
    writeFileSync(join(dir, 'built-core'), `${sha}\n`);
  }
  if (pkg !== 'core') pnpm('--filter', `@artifacts/${pkg}`, 'run', 'build');
  writeFileSync(stamp, `${sha}\n`);
}

/** The client of one revision, built beforehand by `buildRef`. */
export function refClient(rev, built) {
  return {
    id: `ours@${rev}`,
    label: () => `ours (library) at ${rev}`,
    backends: ['s3', 'azure', 'gcs', 'sftp', 'ftp', 'hdfs', 'local', 'proxy'],
    command(ctx, op, p) {
      return {
        cmd: process.execPath,
        args: [
          ...ctx.nodeFlags,
          fileURLToPath(import.meta.url),
          built.dir,
          packageOf(ctx.backend),
          op,
          p.uri,
          p.local,
        ],
      };
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--build') {
  const [sha, dir, pkg] = process.argv.slice(3);
  try {
    buildLocked(sha, dir, pkg);
  } catch (error) {
    // The failed step's own output is already above on stderr; end with what failed, not a stack.
    const command = error.spawnargs ? error.spawnargs.join(' ') : String(error.message).split('\n')[0];
    console.error(`${command} failed${error.status ? ` (exit ${error.status})` : ''}`);
    process.exit(1);
  }
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, pkg, op, uri, local] = process.argv.slice(2);
  const load = (name) => import(pathToFileURL(join(dir, 'packages', name, 'dist/index.js')).href);
  const { openRepository } = await load('core');
  await load(pkg);
  await runCase(await openRepository(uri), op, local);
}
