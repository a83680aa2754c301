/**
 * Debian packages for the file-protocol servers (sshd, pure-ftpd): installed with apt-get when the
 * binary is absent. Used by sftp.ts and ftp.ts. System-wide (not in the artifacts-it cache): the
 * binaries live where Debian puts them. apt-get waits for the dpkg lock, so two launchers installing
 * at once queue instead of failing. Package maintainer scripts cannot start the Debian services here
 * (no init system, policy-rc.d), so installing opens no port.
 */
import { existsSync, readFileSync } from 'node:fs';
import { appendLog, runLogged, ServerError, withLock } from '../../util.js';

let updated = false;

/** Installs `packages` unless every file in `binaries` already exists. */
export async function ensureDebianPackages(opts: {
  packages: string[];
  binaries: string[];
  logFile: string;
  /** Lock path (a directory `<lock>.lock` is created), e.g. inside the cache root. */
  lock: string;
}): Promise<void> {
  if (opts.binaries.every((b) => existsSync(b))) return;
  await withLock(opts.lock, async () => {
    if (opts.binaries.every((b) => existsSync(b))) return;
    if (process.getuid?.() !== 0) {
      throw new ServerError(
        `${opts.binaries.join(', ')} missing and not running as root: install the Debian packages ` +
          `${opts.packages.join(' ')} (apt-get install -y ${opts.packages.join(' ')})`,
      );
    }
    const started = Date.now();
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const lockWait = ['-o', 'DPkg::Lock::Timeout=600'];
    const install = () =>
      runLogged(
        'apt-get',
        [...lockWait, 'install', '-y', '-q', '--no-install-recommends', ...opts.packages],
        {
          logFile: opts.logFile,
          env,
          timeoutMs: 15 * 60_000,
        },
      );
    try {
      await install();
    } catch {
      // a fresh machine may have no package lists yet
      if (!updated) {
        await runLogged('apt-get', [...lockWait, 'update', '-q'], {
          logFile: opts.logFile,
          env,
          timeoutMs: 10 * 60_000,
        });
        updated = true;
      }
      await install();
    }
    const missing = opts.binaries.filter((b) => !existsSync(b));
    if (missing.length > 0)
      throw new ServerError(`installed ${opts.packages.join(' ')} but ${missing.join(', ')} missing`);
    appendLog(
      opts.logFile,
      `installed ${opts.packages.join(' ')} in ${Math.round((Date.now() - started) / 1000)} s\n`,
    );
  });
}

/** Creates a system user (no home, shell `shell`) unless it exists. Returns its uid and gid. */
export async function ensureSystemUser(
  name: string,
  opts: { logFile: string; shell?: string },
): Promise<{ uid: number; gid: number }> {
  const lookup = (): { uid: number; gid: number } | undefined => {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${name}:`));
    if (!line) return undefined;
    const f = line.split(':');
    return { uid: Number(f[2]), gid: Number(f[3]) };
  };
  const found = lookup();
  if (found) return found;
  await runLogged(
    'useradd',
    [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      opts.shell ?? '/usr/sbin/nologin',
      name,
    ],
    { logFile: opts.logFile },
  ).catch(async (err) => {
    if (!lookup()) throw err; // lost a race with another launcher: fine
  });
  const made = lookup();
  if (!made) throw new ServerError(`could not create system user ${name}`);
  return made;
}
