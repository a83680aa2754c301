// The README's "Install the command globally" section, done for real in a temporary directory: pack
// the built packages with pnpm, install @artifacts/cli and one backend (@artifacts/ftp) globally with
// npm (its global prefix in the temporary directory), then use the command. Also proves, on the
// installed copies:
// - a backend installed beside the CLI is found from any working directory;
// - a missing backend names the global install, and a checkout's node_modules is never imported
//   (its code never runs) unless ARTIFACTS_RESOLVE_FROM_CWD=1;
// - an ESM application gets the backend's ESM build and a CJS application its CJS build, each
//   sharing the application's copy of core (`instanceof ArtifactsError` holds).
// Needs `pnpm build` first; npm fetches the third-party dependencies (from its cache when it can).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const started = Date.now();
const temp = mkdtempSync(join(tmpdir(), 'artifacts-packed-install-'));
const tarballs = join(temp, 'tarballs');
const prefix = join(temp, 'global');
// The Node running this script (>= 22.12, as @artifacts/cli requires) runs npm's installs and the command.
const env = {
  // Not pnpm's npm_config_* settings (this script runs under pnpm): npm gets only its own below.
  ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_config_/i.test(key))),
  PATH: [dirname(process.execPath), process.env.PATH].join(delimiter),
  npm_config_prefix: prefix,
  npm_config_update_notifier: 'false',
  npm_config_fund: 'false',
  npm_config_audit: 'false',
  NO_COLOR: '1',
};
delete env.ARTIFACTS_RESOLVE_FROM_CWD;
delete env.ARTIFACTS_PLUGINS;
const failures = [];

function check(ok, what, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(`${what}${detail ? `\n${detail}` : ''}`);
}

function sh(command, args, options = {}) {
  console.log(`$ ${command} ${args.join(' ')}`);
  return execFileSync(command, args, {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    ...options,
  });
}

function artifacts(args, { cwd = temp, extraEnv = {} } = {}) {
  const bin = join(prefix, process.platform === 'win32' ? 'artifacts.cmd' : join('bin', 'artifacts'));
  const result = spawnSync(bin, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

try {
  // 1. Pack (as `pnpm publish` would: workspace: ranges become versions).
  mkdirSync(tarballs);
  for (const pkg of ['core', 'local', 'cli', 'ftp']) {
    sh('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(root, 'packages', pkg) });
  }
  const tgz = (name) =>
    join(
      tarballs,
      readdirSync(tarballs).find((f) => f.startsWith(`artifacts-${name}-`)),
    );

  // 2. The command and its dependencies first, without the backend: the untrusted-checkout cases.
  sh('npm', ['install', '--global', '--prefer-offline', tgz('core'), tgz('local'), tgz('cli')]);
  const checkout = join(temp, 'untrusted-checkout');
  const marker = join(checkout, 'its-code-ran');
  const evil = join(checkout, 'node_modules', '@artifacts', 'ftp');
  mkdirSync(evil, { recursive: true });
  writeFileSync(
    join(evil, 'package.json'),
    JSON.stringify({ name: '@artifacts/ftp', version: '0.1.0', main: 'index.js' }),
  );
  writeFileSync(
    join(evil, 'index.js'),
    `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`,
  );
  const missing = artifacts(['ls', 'ftp://127.0.0.1:9/x'], { cwd: checkout });
  check(
    missing.code !== 0 && missing.stderr.includes('npm install --global @artifacts/ftp'),
    'a missing backend tells the command user to install it globally',
    missing.stderr,
  );
  check(!existsSync(marker), "the working directory's node_modules is not imported by default");
  artifacts(['ls', 'ftp://127.0.0.1:9/x'], { cwd: checkout, extraEnv: { ARTIFACTS_RESOLVE_FROM_CWD: '1' } });
  check(existsSync(marker), "ARTIFACTS_RESOLVE_FROM_CWD=1 imports the working directory's node_modules");

  // 3. The backend, installed globally beside the command, is used from any directory.
  // Beside core's tarball again: a global install resolves @artifacts/core from the registry otherwise.
  sh('npm', ['install', '--global', '--prefer-offline', tgz('core'), tgz('ftp')]);
  const version = artifacts(['--version']);
  check(version.code === 0 && /\d+\.\d+\.\d+/.test(version.stdout), 'artifacts --version', version.stderr);
  const run = join(temp, 'run');
  mkdirSync(join(run, 'plots'), { recursive: true });
  writeFileSync(join(run, 'params.json'), '{"lr":0.1}\n');
  writeFileSync(join(run, 'plots', 'loss.csv'), 'step,loss\n1,0.5\n');
  const store = join(temp, 'store', 'run-1');
  const logged = artifacts(['log', run, store]);
  check(logged.code === 0, 'artifacts log DIR STORE', logged.stderr);
  const listed = artifacts(['ls', '-r', store]);
  check(
    listed.code === 0 && listed.stdout.includes('plots/loss.csv'),
    'artifacts ls -r STORE',
    listed.stdout + listed.stderr,
  );
  const ftp = artifacts(['ls', 'ftp://127.0.0.1:9/x'], { cwd: tmpdir() });
  check(
    ftp.code !== 0 &&
      !/no backend/.test(ftp.stderr) &&
      /ECONNREFUSED|refused|unavailable|connect/i.test(ftp.stderr),
    'the globally installed @artifacts/ftp serves ftp: URIs (it fails on the closed port, not for want of a backend)',
    ftp.stderr,
  );

  // 4. Applications: one ESM, one CJS, resolving @artifacts/* from the global node_modules.
  const app = join(prefix, 'lib', 'app');
  mkdirSync(app, { recursive: true });
  writeFileSync(
    join(app, 'esm.mjs'),
    `import { ArtifactsError, openRepository, resolveBackend } from '@artifacts/core';
const repo = await openRepository(${JSON.stringify(store)}); // lazily imports @artifacts/local
const local = await import('@artifacts/local');
const plugin = await resolveBackend('file');
let error;
try { await repo.openRead('no-such-file'); } catch (e) { error = e; }
console.log(JSON.stringify({ sameBuild: plugin === local.localBackend, instanceOf: error instanceof ArtifactsError, code: error?.code }));
`,
  );
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const { ArtifactsError, openRepository, resolveBackend } = require('@artifacts/core');
(async () => {
  const repo = await openRepository(${JSON.stringify(store)});
  const local = require('@artifacts/local');
  const plugin = await resolveBackend('file');
  let error;
  try { await repo.openRead('no-such-file'); } catch (e) { error = e; }
  console.log(JSON.stringify({ sameBuild: plugin === local.localBackend, instanceOf: error instanceof ArtifactsError, code: error && error.code }));
})();
`,
  );
  for (const file of ['esm.mjs', 'cjs.cjs']) {
    const out = execFileSync(process.execPath, [file], { cwd: app, env, encoding: 'utf8' });
    const result = JSON.parse(out.trim().split('\n').pop());
    check(
      result.sameBuild && result.instanceOf && result.code === 'not_found',
      `${file}: the lazily loaded backend is the build the application imports, errors are its ArtifactsError`,
      out,
    );
  }
} catch (error) {
  failures.push(error instanceof Error ? (error.stack ?? error.message) : String(error));
} finally {
  rmSync(temp, { recursive: true, force: true });
}

console.log(`test-packed-install: ${((Date.now() - started) / 1000).toFixed(1)} s`);
if (failures.length > 0) {
  console.error(`test-packed-install: ${failures.length} failure(s):\n${failures.join('\n')}`);
  process.exit(1);
}
