/**
 * FTP: pure-ftpd from Debian, run as root on 127.0.0.1 with one virtual user (`it-ftp`, PureDB in the
 * state directory, mapped to a system user of the same name and chrooted to its home). Plain FTP and
 * explicit FTPS (AUTH TLS) on the same port (`-Y 1`), with a self-signed certificate for 127.0.0.1
 * generated per instance; the certificate is exported as ARTIFACTS_FTP_CA_FILE so TLS verification
 * stays on. Passive data ports come from a free range below the kernel's ephemeral range, so
 * outgoing connections of other processes cannot take them. vsftpd is the documented fallback
 * (test-servers.md); pure-ftpd needs no config file and serves both modes on one port.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { selfSignedCert } from '../certs.js';
import { engine, startServerContainer, urlHost } from '../containers.js';
import { serverImage } from '../images.js';
import type { LaunchContext, Launcher, RunningServer } from '../types.js';
import {
  appendLog,
  freePort,
  runLogged,
  ServerError,
  type SpawnedProcess,
  spawnLogged,
  waitForPortClosed,
  waitUntil,
} from '../util.js';
import { ensureDebianPackages, ensureSystemUser } from './sftp/debian.js';
import { killProcessTree } from './sftp/processes.js';

const PURE_FTPD = '/usr/sbin/pure-ftpd';
const PURE_PW = '/usr/bin/pure-pw';
const USER = 'it-ftp';
const PASSIVE_PORTS = 32;

async function install(ctx: { cacheDir: string; logFile: string }): Promise<void> {
  await ensureDebianPackages({
    packages: ['pure-ftpd', 'openssl'],
    binaries: [PURE_FTPD, PURE_PW, '/usr/bin/openssl'],
    logFile: ctx.logFile,
    lock: join(ctx.cacheDir, 'apt'),
  });
}

function canBind(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => res(true)));
  });
}

/** `count` consecutive free ports below the ephemeral range (which freePort and clients use). */
async function freePortRange(count: number): Promise<[number, number]> {
  let ephemeralLow = 32768;
  try {
    ephemeralLow = Number(
      readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
    );
  } catch {}
  const lowest = 20000;
  const highest = Math.max(lowest + count * 4, ephemeralLow) - count;
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = lowest + Math.floor(Math.random() * (highest - lowest));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await canBind(p);
    if (ok) return [base, base + count - 1];
  }
  throw new ServerError(`no ${count} consecutive free ports found for FTP passive mode`);
}

/** A TLS certificate for `host` (self-signed: it is its own CA), key and cert in one PEM for pure-ftpd too. */
async function makeCertificate(
  dir: string,
  host = '127.0.0.1',
): Promise<{ certFile: string; pemFile: string }> {
  const { keyFile, certFile } = selfSignedCert(dir, { host });
  const pemFile = join(dir, 'pure-ftpd.pem');
  await writeFile(pemFile, (await readFile(keyFile, 'utf8')) + (await readFile(certFile, 'utf8')), {
    mode: 0o600,
  });
  await chmod(keyFile, 0o600);
  return { certFile, pemFile };
}

/** Waits for the `220` greeting (a TCP connect alone does not prove the daemon serves). */
function greets(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((res) => {
    import('node:net').then(({ connect }) => {
      const sock = connect({ host, port });
      let buf = '';
      const done = (ok: boolean) => {
        sock.destroy();
        res(ok);
      };
      sock.setTimeout(2000, () => done(false));
      sock.on('error', () => done(false));
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        if (/^220[ -]/m.test(buf)) done(true);
      });
    });
  });
}

async function start(ctx: LaunchContext): Promise<RunningServer> {
  const { stateDir, logFile } = ctx;
  await install(ctx);
  const user = await ensureSystemUser(USER, { logFile });

  const dir = join(stateDir, 'pure-ftpd');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o755);
  const home = join(stateDir, 'ftp-home');
  for (const d of [home, join(home, 'root')]) {
    await mkdir(d, { recursive: true, mode: 0o755 });
    await chown(d, user.uid, user.gid);
  }
  if (!(await stat(home)).isDirectory()) throw new ServerError(`cannot create ${home}`);

  // a password that needs percent-encoding in the URI ('@', '/', ':')
  const password = `p@ss/w:rd-${randomBytes(6).toString('hex')}`;
  const passwd = join(dir, 'pureftpd.passwd');
  const pdb = join(dir, 'pureftpd.pdb');
  const certificate = makeCertificate(dir);
  certificate.catch(() => {}); // awaited below; no unhandled rejection if the user setup fails first
  // The user's line is written here rather than by `pure-pw useradd`: pure-pw hashes with argon2id
  // at settings meant for real accounts (t=15), which pure-ftpd then pays on every login (1.7-3.5 s
  // per login on a loaded 2-core machine, minutes over a suite). pure-ftpd checks argon2, then
  // scrypt, then crypt(3): a SHA-512 crypt hash (openssl passwd -6) costs about a millisecond.
  // Fields as pure-pw writes them: login:hash:uid:gid:gecos:home/./ and twelve empty limits.
  await runLogged(
    'sh',
    [
      '-c',
      `H=$(printf '%s' "$P" | openssl passwd -6 -stdin) && [ -n "$H" ] && printf '%s:%s:%s:%s::%s/./::::::::::::\\n' "$U" "$H" "$UID_" "$GID_" "$HOME_" > "$F"`,
    ],
    {
      logFile,
      extraEnv: {
        P: password,
        U: USER,
        UID_: String(user.uid),
        GID_: String(user.gid),
        HOME_: home,
        F: passwd,
      },
    },
  );
  await runLogged(PURE_PW, ['mkdb', pdb, '-f', passwd], { logFile });
  const { certFile, pemFile } = await certificate;

  const port = await freePort();
  const [pasvLo, pasvHi] = await freePortRange(PASSIVE_PORTS);
  const args = [
    '-S',
    `127.0.0.1,${port}`,
    '-l',
    `puredb:${pdb}`,
    '-E', // no anonymous logins
    '-A', // chroot everyone to their home
    '-H', // do not resolve host names
    '-4',
    '-D', // list dot files (artifacts such as .hydra/config.yaml are real)
    '-L',
    '100000:128', // listing limits (default 2000 files, depth 5)
    '-c',
    '64',
    '-C',
    '64',
    '-p',
    `${pasvLo}:${pasvHi}`,
    '-P',
    '127.0.0.1',
    '-Y',
    '1', // plain FTP and explicit FTPS
    '-2',
    pemFile,
  ];

  let proc: SpawnedProcess;
  const launch = async () => {
    proc = spawnLogged(PURE_FTPD, args, { logFile });
    await waitUntil(() => greets(port), { proc, what: `pure-ftpd on 127.0.0.1:${port}`, timeoutMs: 30_000 });
  };
  const halt = async () => {
    await killProcessTree(proc.pid); // the daemon and its per-connection children
    await waitForPortClosed(port, { logFile });
  };
  await launch();

  return {
    name: 'ftp',
    env: {
      ARTIFACTS_IT_FTP_URI: `ftp://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/root`,
      ARTIFACTS_IT_FTP_HOST: '127.0.0.1',
      ARTIFACTS_IT_FTP_PORT: String(port),
      ARTIFACTS_IT_FTP_USER: USER,
      ARTIFACTS_IT_FTP_PASSWORD: password,
      ARTIFACTS_IT_FTP_PASSIVE_PORTS: `${pasvLo}-${pasvHi}`,
      ARTIFACTS_FTP_CA_FILE: certFile,
    },
    get pids() {
      return [proc.pid];
    },
    logFile,
    stop: halt,
    async restart() {
      appendLog(logFile, '--- restart ---\n');
      await halt();
      await launch();
    },
  };
}

/**
 * The same server in a container of the pure-ftpd image (integration/images/pure-ftpd): the system
 * user exists in the image, its entrypoint builds the PureDB from FTP_PASSWORD (or uses a passwd file
 * already in FTP_DIR) and runs pure-ftpd with the native arguments; the state directory is mounted at
 * the same path.
 */
async function startContainer(ctx: LaunchContext): Promise<RunningServer> {
  const { stateDir, logFile } = ctx;
  const eng = await engine();
  const image = await serverImage('ftp');
  const dir = join(stateDir, 'pure-ftpd');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o755);
  const home = join(stateDir, 'ftp-home');
  const password = `p@ss/w:rd-${randomBytes(6).toString('hex')}`;
  const { certFile, pemFile } = await makeCertificate(dir, eng.host);
  const port = await freePort();
  const [pasvLo, pasvHi] = await freePortRange(PASSIVE_PORTS);
  const c = await startServerContainer({
    server: 'ftp',
    what: 'pure-ftpd',
    image,
    command: [
      '-S',
      `${eng.bindHost},${port}`,
      '-l',
      `puredb:${join(dir, 'pureftpd.pdb')}`,
      '-E',
      '-A',
      '-H',
      '-4',
      '-D',
      '-L',
      '100000:128',
      '-c',
      '64',
      '-C',
      '64',
      '-p',
      `${pasvLo}:${pasvHi}`,
      '-P',
      eng.host,
      '-Y',
      '1',
      '-2',
      pemFile,
    ],
    env: { FTP_DIR: dir, FTP_HOME: home, FTP_PASSWORD: password },
    // Debian's pure-ftpd keeps these when it drops privileges and exits (252, silently) without them
    capabilities: ['DAC_READ_SEARCH', 'SYS_NICE'],
    ports: [port, ...Array.from({ length: pasvHi - pasvLo + 1 }, (_, i) => pasvLo + i)],
    binds: [stateDir],
    logFile,
    ready: () => greets(port, eng.host),
    readyTimeoutMs: 60_000,
  });
  return {
    name: 'ftp',
    mode: 'containers',
    env: {
      ARTIFACTS_IT_FTP_URI: `ftp://${USER}:${encodeURIComponent(password)}@${urlHost(eng.host)}:${port}/root`,
      ARTIFACTS_IT_FTP_HOST: eng.host,
      ARTIFACTS_IT_FTP_PORT: String(port),
      ARTIFACTS_IT_FTP_USER: USER,
      ARTIFACTS_IT_FTP_PASSWORD: password,
      ARTIFACTS_IT_FTP_PASSIVE_PORTS: `${pasvLo}-${pasvHi}`,
      ARTIFACTS_FTP_CA_FILE: certFile,
    },
    pids: [],
    processes: () => c.processes(),
    logFile,
    stop: () => c.stop(),
    restart: () => c.restart(),
  };
}

export const launcher: Launcher = { name: 'ftp', install, start, startContainer };
