// SFTP benchmark: @artifacts/sftp beside OpenSSH's sftp (batch mode) and rclone, against the
// integration sshd, in one run. Medians over --runs; wall time, rate and the peak RSS of each
// client process (/usr/bin/time -v).
//
//   pnpm servers up sftp && pnpm --filter @artifacts/sftp build && pnpm --filter @artifacts/sftp bench \
//     [--big-mib 2048] [--files 5000] [--runs 3] [--data /tmp/artifacts-bench] [--write ../../docs/benchmarks/sftp.md]
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
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
  if (!value) throw new Error(`${name} is not set: run \`pnpm servers up sftp\` first`);
  return value;
};
const baseUri = need('ARTIFACTS_IT_SFTP_URI');
const keyFile = need('ARTIFACTS_SFTP_IDENTITY_FILE');
const knownHosts = need('ARTIFACTS_SFTP_KNOWN_HOSTS');
const port = need('ARTIFACTS_IT_SFTP_PORT');
const host = need('ARTIFACTS_IT_SFTP_HOST');
const user = new URL(baseUri).username;
const remoteBase = decodeURIComponent(new URL(baseUri).pathname);

const bigBytes = Number(arg('big-mib', '2048')) * MiB;
const files = Number(arg('files', '5000'));
const runs = Number(arg('runs', '3'));
const dataDir = arg('data', '/tmp/artifacts-bench');
const only = arg('clients', 'artifacts,openssh,rclone').split(',');
const output = arg('write', undefined);

const log = (line) => process.stdout.write(`${line}\n`);
log(`preparing data in ${dataDir} (${bigBytes / MiB} MiB file, ${files} small files)…`);
const data = await prepareData(join(dataDir, 'src'), { bigBytes, files });
const outDir = join(dataDir, 'out');

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
/** The remote directory each client works in (the server is on this machine: cleaned with rm). */
const remoteDir = (client) => `${remoteBase}/bench-${client}`;

async function cleanRemote(client, kind) {
  const dir = remoteDir(client);
  if (kind === 'upload-file') await rm(join(dir, bigName), { force: true });
  if (kind === 'upload-dir') await rm(join(dir, smallName), { recursive: true, force: true });
}

async function cleanLocal() {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
}

const sshOpts = [
  '-i',
  keyFile,
  '-o',
  `UserKnownHostsFile=${knownHosts}`,
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  'BatchMode=yes',
  '-P',
  port,
];

const clients = [
  {
    name: '@artifacts/sftp',
    id: 'artifacts',
    async run(kase) {
      const uri = `sftp://${user}@${host}:${port}${remoteDir('artifacts')}`;
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
    name: `OpenSSH sftp -b`,
    id: 'openssh',
    async run(kase) {
      const dir = remoteDir('openssh');
      const batch = {
        'upload-file': `-mkdir ${dir}\nput ${data.big} ${dir}/${bigName}\n`,
        'download-file': `get ${dir}/${bigName} ${outDir}/${bigName}\n`,
        'upload-dir': `-mkdir ${dir}\nput -r ${data.small} ${dir}/${smallName}\n`,
        'download-dir': `get -r ${dir}/${smallName} ${outDir}/${smallName}\n`,
      }[kase.kind];
      return timed('sftp', ['-q', '-b', '-', ...sshOpts, `${user}@${host}`], { input: batch });
    },
  },
  {
    name: 'rclone (sftp backend)',
    id: 'rclone',
    async run(kase) {
      const dir = remoteDir('rclone');
      const remote = (p) => `:sftp:${dir}/${p}`;
      const flags = [
        '--sftp-host',
        host,
        '--sftp-port',
        port,
        '--sftp-user',
        user,
        '--sftp-key-file',
        keyFile,
        '--sftp-known-hosts-file',
        knownHosts,
        // The test server only runs internal-sftp: no remote md5sum/sha1sum commands.
        '--sftp-disable-hashcheck',
        '--config',
        '/dev/null',
      ];
      const args = {
        'upload-file': ['copyto', data.big, remote(bigName)],
        'download-file': ['copyto', remote(bigName), join(outDir, bigName)],
        'upload-dir': ['copy', data.small, remote(smallName)],
        'download-dir': ['copy', remote(smallName), join(outDir, smallName)],
      }[kase.kind];
      return timed('rclone', [...args, ...flags]);
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
  sshd: toolVersion('sh', ['-c', 'sshd -V 2>&1 || true']),
  sftp: toolVersion('sh', ['-c', 'ssh -V 2>&1']),
  rclone: toolVersion('rclone', ['version']),
};
const started = Date.now();
const table = await runAll({ clients, cases, runs, log });
const minutes = ((Date.now() - started) / 60000).toFixed(1);
for (const client of clients) await rm(remoteDir(client.id), { recursive: true, force: true });
await rm(outDir, { recursive: true, force: true });
// The repository API is imported so that a broken build fails here, not in every child.
void openRepository;

const report = `## Run of ${new Date().toISOString().slice(0, 10)}

Machine: ${info.nproc} cores (${info.cpu}), ${info.memGiB} GiB RAM (${info.freeGiB} GiB free at the end), Node ${info.node},
load average at the end ${info.load}. Server: ${versions.sshd} on 127.0.0.1 (integration/ launcher, internal-sftp).
Clients: @artifacts/sftp (defaults: 4 connections, 8 operations each, 16 × 128 KiB requests in flight per
transfer, \`maxConcurrency\` 16), ${versions.sftp} \`sftp -b\` (defaults: 64 × 32 KiB requests), ${versions.rclone}
(defaults: 4 transfers, \`--sftp-disable-hashcheck\`). Each client is a fresh process (start-up, connection and
authentication included); ${runs} run(s) of each case, interleaved; medians; peak RSS from \`/usr/bin/time -v\`.
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
