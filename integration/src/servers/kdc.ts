/**
 * Kerberos for the integration servers: an MIT KDC (Debian's krb5-kdc; `krb5kdc -n` in the
 * foreground, its database, stash, keytabs and configuration all in the server's state directory,
 * one realm, listening on 127.0.0.1 only), and the `kerberos` npm package (the GSSAPI binding
 * @artifacts/hdfs loads for SPNEGO) built against Debian's libkrb5 headers.
 *
 * The binding is an optional dependency: `pnpm install` never builds it (it is not in
 * onlyBuiltDependencies, so installing needs no compiler and no libkrb5-dev). ensureKerberosModule
 * builds it once with node-gyp into the install cache and copies the result into the installed
 * package, where `require('kerberos')` finds it (build/Release/kerberos.node). It is a Node-API
 * module, so one build serves every Node version.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  appendLog,
  freePort,
  IT_ROOT,
  killProcessGroup,
  runLogged,
  ServerError,
  spawnLogged,
  waitForPortClosed,
  waitForTcp,
  withLock,
} from '../util.js';
import { ensureDebianPackages } from './sftp/debian.js';

export const KRB_REALM = 'ARTIFACTS.TEST';

const DEBIAN_PACKAGES = ['krb5-kdc', 'krb5-admin-server', 'krb5-user', 'libkrb5-dev'];
const DEBIAN_FILES = [
  '/usr/sbin/krb5kdc',
  '/usr/sbin/kdb5_util',
  '/usr/sbin/kadmin.local',
  '/usr/bin/kinit',
  '/usr/include/gssapi/gssapi.h',
];

/** The KDC's programs, kinit and the GSSAPI headers (apt, as root), then the `kerberos` binding. */
export async function installKerberos(ctx: { cacheDir: string; logFile: string }): Promise<void> {
  await ensureDebianPackages({
    packages: DEBIAN_PACKAGES,
    binaries: DEBIAN_FILES,
    logFile: ctx.logFile,
    lock: join(ctx.cacheDir, 'apt'),
  });
  await ensureKerberosModule(ctx);
}

/** node-gyp: the one bundled with pnpm (which runs this), else npm's. */
function nodeGyp(): string {
  const candidates: string[] = [];
  const execpath = process.env.npm_execpath;
  if (execpath) {
    const real = realpathSync(execpath);
    candidates.push(join(dirname(real), '..', 'dist', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    candidates.push(join(dirname(real), 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  for (const prefix of ['/usr/lib/node_modules', '/usr/local/lib/node_modules']) {
    candidates.push(join(prefix, 'pnpm', 'dist', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
    candidates.push(join(prefix, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new ServerError(
      `cannot build the kerberos package: node-gyp not found (looked in ${candidates.join(', ')})`,
    );
  }
  return found;
}

/** Node's headers on this machine (node-gyp would otherwise download them). */
function nodeDir(): string | undefined {
  const prefixes = [dirname(dirname(process.execPath)), '/usr', '/usr/local'];
  return prefixes.find((p) => existsSync(join(p, 'include', 'node', 'common.gypi')));
}

/**
 * Makes `require('kerberos')` work for @artifacts/hdfs: builds the binding once (cached per version)
 * and puts it into the installed package.
 */
export async function ensureKerberosModule(ctx: { cacheDir: string; logFile: string }): Promise<void> {
  const requireFromHdfs = createRequire(join(IT_ROOT, '..', 'packages', 'hdfs', 'package.json'));
  let packageJson: string;
  try {
    packageJson = requireFromHdfs.resolve('kerberos/package.json');
  } catch (error) {
    throw new ServerError(
      `the kerberos package is not installed beside @artifacts/hdfs (run pnpm install): ${(error as Error).message}`,
    );
  }
  const dir = dirname(packageJson);
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  const target = join(dir, 'build', 'Release', 'kerberos.node');
  if (existsSync(target)) return;
  const cacheDir = join(ctx.cacheDir, `kerberos-${version}-napi`);
  const cached = join(cacheDir, 'kerberos.node');
  await withLock(cacheDir, async () => {
    if (existsSync(cached)) return;
    const started = Date.now();
    const nodedir = nodeDir();
    appendLog(ctx.logFile, `building the kerberos ${version} binding in ${dir} (node-gyp, libkrb5-dev)\n`);
    await runLogged(process.execPath, [nodeGyp(), 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])], {
      logFile: ctx.logFile,
      cwd: dir,
      timeoutMs: 15 * 60_000,
    });
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${cached}.${process.pid}.tmp`;
    await copyFile(target, tmp);
    await rename(tmp, cached);
    appendLog(ctx.logFile, `built the kerberos binding in ${Math.round((Date.now() - started) / 1000)} s\n`);
  });
  if (!existsSync(target)) {
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    await copyFile(cached, tmp);
    await rename(tmp, target);
  }
}

export interface Kdc {
  realm: string;
  port: number;
  /** krb5.conf for clients (KRB5_CONFIG; Java's -Djava.security.krb5.conf). */
  krb5Conf: string;
  /** Keytab file of each group of principals asked for. */
  keytabs: Record<string, string>;
  /** The krb5kdc process (absent when the KDC runs in a container: kdc-container.ts). */
  pid?: number;
  stop(): Promise<void>;
}

const run = promisify(execFile);

/**
 * The KDC's directory (`<stateDir>/kdc`) with kdc.conf, krb5.conf and an empty kadm5.acl for a KDC on
 * 127.0.0.1:`port`; the same files serve the native KDC and the container's (kdc-container.ts).
 */
export async function writeKdcConfig(
  stateDir: string,
  port: number,
): Promise<{ dir: string; kdcConf: string; krb5Conf: string }> {
  const dir = join(stateDir, 'kdc');
  await mkdir(dir, { recursive: true });
  const kdcConf = join(dir, 'kdc.conf');
  const krb5Conf = join(dir, 'krb5.conf');
  await writeFile(
    kdcConf,
    `[kdcdefaults]
 kdc_listen = 127.0.0.1:${port}
 kdc_tcp_listen = 127.0.0.1:${port}
[realms]
 ${KRB_REALM} = {
  database_name = ${join(dir, 'principal')}
  key_stash_file = ${join(dir, 'stash')}
  acl_file = ${join(dir, 'kadm5.acl')}
  max_life = 10h
  max_renewable_life = 1d
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:${join(dir, 'krb5kdc.log')}
`,
  );
  // rdns/dns_canonicalize_hostname off: the service principal is HTTP/<the host as written in the URL>.
  await writeFile(
    krb5Conf,
    `[libdefaults]
 default_realm = ${KRB_REALM}
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 udp_preference_limit = 1
 default_ccache_name = FILE:${join(dir, 'ccache-default')}
[realms]
 ${KRB_REALM} = {
  kdc = 127.0.0.1:${port}
 }
[domain_realm]
 localhost = ${KRB_REALM}
 127.0.0.1 = ${KRB_REALM}
`,
  );
  await writeFile(join(dir, 'kadm5.acl'), '');
  return { dir, kdcConf, krb5Conf };
}

/**
 * Starts a KDC for KRB_REALM with `principals` (random keys), each group exported to its own
 * keytab: `{ service: ['HTTP/localhost', …], alice: ['alice'] }` → keytabs.service, keytabs.alice.
 */
export async function startKdc(opts: {
  stateDir: string;
  logFile: string;
  principals: Record<string, string[]>;
}): Promise<Kdc> {
  const port = await freePort();
  const { dir, kdcConf, krb5Conf } = await writeKdcConfig(opts.stateDir, port);
  const env = { ...process.env, KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };
  // execFile, not runLogged: the command line carries the (throwaway) master password
  const admin = async (file: string, args: string[]) => {
    try {
      await run(file, args, { env, timeout: 60_000 });
    } catch (error) {
      const e = error as { stderr?: string; code?: unknown };
      throw new ServerError(
        `${file} ${args[0] ?? ''} failed (${String(e.code)}): ${(e.stderr ?? '').trim()}`,
      );
    }
  };
  await admin('kdb5_util', [
    'create',
    '-s',
    '-r',
    KRB_REALM,
    '-P',
    randomBytes(18).toString('base64url'),
    '-W',
  ]);
  const keytabs: Record<string, string> = {};
  for (const [group, names] of Object.entries(opts.principals)) {
    keytabs[group] = join(dir, `${group}.keytab`);
    for (const name of names) await admin('kadmin.local', ['-q', `addprinc -randkey ${name}`]);
    await admin('kadmin.local', ['-q', `ktadd -k ${keytabs[group]} ${names.join(' ')}`]);
  }
  appendLog(opts.logFile, `KDC for ${KRB_REALM} on 127.0.0.1:${port} (${dir})\n`);
  const proc = spawnLogged('krb5kdc', ['-n', '-P', join(dir, 'krb5kdc.pid')], { logFile: opts.logFile, env });
  await waitForTcp(port, { proc, what: 'krb5kdc', timeoutMs: 30_000 });
  return {
    realm: KRB_REALM,
    port,
    krb5Conf,
    keytabs,
    pid: proc.pid,
    async stop() {
      await killProcessGroup(proc.pid, 10_000);
      await waitForPortClosed(port, { logFile: opts.logFile });
    },
  };
}
