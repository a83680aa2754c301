// FTP benchmark: @artifacts/ftp beside curl and rclone against the integration pure-ftpd, in one
// run. Medians over --runs; wall time, rate and the peak RSS of each client process (/usr/bin/time -v).
//
//   pnpm servers up ftp && pnpm --filter @artifacts/ftp build && pnpm --filter @artifacts/ftp bench \
//     [--big-mib 2048] [--files 5000] [--runs 3] [--data /tmp/artifacts-bench] [--write ../../docs/benchmarks/ftp.md]
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRepository } from '@artifacts/core';
import '../dist/index.js';
import {
  arg,
  loadServersEnv,
  MiB,
  machine,
  markdownTable,
  prepareData,
  runAll,
  timed,
  toolVersion,
} from '../../../scripts/bench-common.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = resolve(here, '../../..');
loadServersEnv(repoRoot);
const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run \`pnpm servers up ftp\` first`);
  return value;
};
const baseUri = need('ARTIFACTS_IT_FTP_URI');
const host = need('ARTIFACTS_IT_FTP_HOST');
const port = need('ARTIFACTS_IT_FTP_PORT');
const user = need('ARTIFACTS_IT_FTP_USER');
const password = need('ARTIFACTS_IT_FTP_PASSWORD');
const remoteBase = decodeURIComponent(new URL(baseUri).pathname);

const bigBytes = Number(arg('big-mib', '2048')) * MiB;
const files = Number(arg('files', '5000'));
const runs = Number(arg('runs', '3'));
const dataDir = arg('data', '/tmp/artifacts-bench');
const only = arg('clients', 'artifacts,curl,rclone').split(',');
const output = arg('write', undefined);

const log = (line) => process.stdout.write(`${line}\n`);
log(`preparing data in ${dataDir} (${bigBytes / MiB} MiB file, ${files} small files)…`);
const data = await prepareData(join(dataDir, 'src'), { bigBytes, files });
const outDir = join(dataDir, 'out-ftp');
const smallFiles = (await readdir(data.small, { recursive: true, withFileTypes: true }))
  .filter((e) => e.isFile())
  .map((e) => relative(data.small, join(e.parentPath ?? e.path, e.name)));

const cases = [
  {
    name: `upload ${bigBytes / MiB} MiB`,
    kind: 'upload-file',
    rate: (s) => `${(bigBytes / MiB / s).toFixed(1)} MiB/s`,
  },
  {
    name: `download ${bigBytes / MiB} MiB`,
    kind: 'download-file',
    rate: (s) => `${(bigBytes / MiB / s).toFixed(1)} MiB/s`,
  },
  { name: `upload ${files} files`, kind: 'upload-dir', rate: (s) => `${(files / s).toFixed(0)} files/s` },
  { name: `download ${files} files`, kind: 'download-dir', rate: (s) => `${(files / s).toFixed(0)} files/s` },
];

const bigName = basename(data.big);
const smallName = 'small';
const remoteDir = (client) => `${remoteBase}/bench-${client}`;
// Cleaning goes through the backend itself (the server's files sit in a chroot this script does not know).
const cleaner = await openRepository(baseUri);

async function cleanRemote(client, kind) {
  const path = `bench-${client}/${kind === 'upload-file' ? bigName : smallName}`;
  await cleaner.deleteArtifacts(path);
}

async function cleanLocal() {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
}

// Credentials go through a netrc file and the environment, never the command line (ps shows it).
const netrc = join(dataDir, 'bench.netrc');
await writeFile(netrc, `machine ${host} login ${user} password ${password}\n`, { mode: 0o600 });
const curlAuth = ['--netrc-file', netrc, '--silent', '--show-error', '--fail'];
const ftpUrl = (path) => `ftp://${host}:${port}${path.split('/').map(encodeURIComponent).join('/')}`;
const rcloneFlags = ['--ftp-host', host, '--ftp-port', port, '--ftp-user', user, '--config', '/dev/null'];
const rcloneEnv = {
  RCLONE_FTP_PASS: execFileSync('rclone', ['obscure', '-'], { input: password, encoding: 'utf8' }).trim(),
};

const clients = [
  {
    name: '@artifacts/ftp',
    id: 'artifacts',
    run(kase) {
      const url = new URL(baseUri);
      url.pathname = `${url.pathname.replace(/\/$/, '')}/bench-artifacts`;
      const uri = url.toString();
      const op = join(here, 'artifacts-op.mjs');
      const args = {
        'upload-file': [op, 'upload-file', uri, data.big, ''],
        'download-file': [op, 'download-file', uri, outDir, bigName],
        'upload-dir': [op, 'upload-dir', uri, data.small, smallName],
        'download-dir': [op, 'download-dir', uri, outDir, smallName],
      }[kase.kind];
      return timed(process.execPath, args);
    },
  },
  {
    name: 'curl (one connection, -K list)',
    id: 'curl',
    async run(kase) {
      const dir = remoteDir('curl');
      if (kase.kind === 'upload-file') {
        return timed('curl', [...curlAuth, '--ftp-create-dirs', '-T', data.big, ftpUrl(`${dir}/${bigName}`)]);
      }
      if (kase.kind === 'download-file') {
        return timed('curl', [...curlAuth, '-o', join(outDir, bigName), ftpUrl(`${dir}/${bigName}`)]);
      }
      // Many transfers in one curl process reuse its connection: curl's best case for many files.
      const config = join(dataDir, 'curl-list.txt');
      const lines = smallFiles.map((rel) =>
        kase.kind === 'upload-dir'
          ? `upload-file = "${join(data.small, rel)}"\nurl = "${ftpUrl(`${dir}/${smallName}/${rel}`)}"`
          : `url = "${ftpUrl(`${dir}/${smallName}/${rel}`)}"\noutput = "${join(outDir, smallName, rel)}"`,
      );
      await writeFile(config, `${lines.join('\n')}\n`);
      return timed('curl', [...curlAuth, '--ftp-create-dirs', '--create-dirs', '-K', config]);
    },
  },
  {
    name: 'rclone (ftp backend)',
    id: 'rclone',
    run(kase) {
      const dir = remoteDir('rclone');
      const remote = (p) => `:ftp:${dir}/${p}`;
      const args = {
        'upload-file': ['copyto', data.big, remote(bigName)],
        'download-file': ['copyto', remote(bigName), join(outDir, bigName)],
        'upload-dir': ['copy', data.small, remote(smallName)],
        'download-dir': ['copy', remote(smallName), join(outDir, smallName)],
      }[kase.kind];
      return timed('rclone', [...args, ...rcloneFlags], { env: rcloneEnv });
    },
  },
].filter((c) => only.includes(c.id));

for (const client of clients) {
  client.before = async (kase) => {
    if (kase.kind.startsWith('upload')) await cleanRemote(client.id, kase.kind);
    else await cleanLocal();
  };
}

const info = machine();
const versions = {
  curl: toolVersion('curl', ['--version']),
  rclone: toolVersion('rclone', ['version']),
  server: toolVersion('dpkg-query', ['-W', 'pure-ftpd']).replace(/\s+/, ' '),
};
const started = Date.now();
const table = await runAll({ clients, cases, runs, log });
const minutes = ((Date.now() - started) / 60000).toFixed(1);
for (const client of clients) await cleaner.deleteArtifacts(`bench-${client.id}`);
await cleaner.close();
await rm(outDir, { recursive: true, force: true });
await rm(netrc, { force: true });

const report = `## Run of ${new Date().toISOString().slice(0, 10)}

Machine: ${info.nproc} cores (${info.cpu}), ${info.memGiB} GiB RAM (${info.freeGiB} GiB free at the end), Node ${info.node},
load average at the end ${info.load}. Server: ${versions.server} on 127.0.0.1 (integration/ launcher), plain FTP, passive mode.
Clients: @artifacts/ftp (defaults: 4 connections, \`maxConcurrency\` 16), ${versions.curl.split(' ').slice(0, 2).join(' ')} (one process and
connection for all files, \`-K\` list), ${versions.rclone} (defaults: 4 transfers). Each client is a fresh process (start-up and
login included); ${runs} run(s) of each case, interleaved; medians; peak RSS from \`/usr/bin/time -v\`.
Data: one ${bigBytes / MiB} MiB file; ${files} files of 1–16 KiB (${(data.smallBytes / MiB).toFixed(1)} MiB) in ${Math.ceil(files / 25)} directories.
The whole run took ${minutes} min.

${markdownTable(table)}
`;
log(`\n${report}`);
if (output) {
  // Keep what the page says above the results (its analysis); replace the results.
  const marker = '<!-- bench-results -->';
  const previous = await readFile(output, 'utf8').catch(() => '');
  const head = previous.includes(marker)
    ? previous.slice(0, previous.indexOf(marker) + marker.length)
    : marker;
  await writeFile(output, `${head}\n\n${report}`);
  log(`written to ${output}`);
}
