// Ours as it was at a git revision (`--ref <rev>[,<rev>…]`): the library of that revision, core and
// the backend's package, each built once from `git archive <rev>` into the artifacts-it cache, run
// through the same openRepository + logArtifact(s) / downloadArtifacts as `ours-lib`. This is how a
// "before" row is reproduced from a fresh clone: same harness, same server, same run, interleaved.
//   node ours-ref.mjs <dir> <package> <big-up|big-down|small-up|small-down> <directory URI> <local path>
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PACKAGES } from '../src/backend-packages.mjs';
import { runCase } from './ours-lib.mjs';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cacheRoot = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'artifacts-it', 'bench-refs');
const packageOf = (backend) =>
  PACKAGES[{ azure: 'wasbs', gcs: 'gs', local: 'file', proxy: 'mlflow-artifacts' }[backend] ?? backend];

/** The revision's core and backend package, built once (the directory is complete when `built` exists). */
function build(rev, pkg, log) {
  const sha = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--verify', `${rev}^{commit}`], {
    encoding: 'utf8',
  }).trim();
  const dir = join(cacheRoot, sha.slice(0, 12));
  const stamp = join(dir, `built-${pkg}`);
  if (existsSync(stamp)) return { sha, dir };
  log(`building @artifacts/${pkg} of ${rev} (${sha.slice(0, 12)}) in ${dir}…`);
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
  const pnpm = (...args) => execFileSync('pnpm', args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  pnpm('install', '--frozen-lockfile', '--prefer-offline', '--filter', `@artifacts/${pkg}...`);
  pnpm('--filter', `@artifacts/${pkg}...`, 'run', 'build');
  writeFileSync(stamp, `${sha}\n`);
  return { sha, dir };
}

/** One client per revision of `--ref`. */
export function refClients(revs, log) {
  return revs.map((rev) => ({
    id: `ours@${rev}`,
    label: () => `ours (library) at ${rev}`,
    backends: ['s3', 'azure', 'gcs', 'sftp', 'ftp', 'hdfs', 'local', 'proxy'],
    built: undefined,
    available(ctx) {
      try {
        this.built = build(rev, packageOf(ctx.backend), log);
        return undefined;
      } catch (error) {
        return `could not build ${rev}: ${String(error.message).split('\n')[0]}`;
      }
    },
    command(ctx, op, p) {
      return {
        cmd: process.execPath,
        args: [
          ...ctx.nodeFlags,
          fileURLToPath(import.meta.url),
          this.built.dir,
          packageOf(ctx.backend),
          op,
          p.uri,
          p.local,
        ],
      };
    },
  }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dir, pkg, op, uri, local] = process.argv.slice(2);
  const load = (name) => import(pathToFileURL(join(dir, 'packages', name, 'dist/index.js')).href);
  const { openRepository } = await load('core');
  await load(pkg);
  await runCase(await openRepository(uri), op, local);
}
