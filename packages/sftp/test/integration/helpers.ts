import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export function env(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run this suite through test:integration (integrationConfig(['sftp']))`,
    );
  return value;
}

/** A fresh directory below a base URI, so that every test starts empty. */
export function unique(base: string, label = 't'): string {
  return `${base.replace(/\/$/, '')}/${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** The local path behind an sftp:// URI (the test server runs on this machine). */
export function localPath(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname);
}

/** Established TCP connections from this machine to 127.0.0.1:port (the clients' side only). */
export function connectionsTo(port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( dport = :${port} )`], {
    encoding: 'utf8',
  });
  return out.split('\n').filter((line) => line.trim() !== '').length;
}

/** Runs `fn` while sampling connectionsTo(port) every few ms; returns its result and the peak. */
export async function withConnectionSampling<T>(
  port: number,
  fn: () => Promise<T>,
): Promise<{ result: T; peak: number }> {
  let peak = 0;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, connectionsTo(port));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    const result = await fn();
    return { result, peak };
  } finally {
    running = false;
    await sampler;
  }
}

/** Every name below a local directory, recursively (to find leftovers such as temporary files). */
export async function allNames(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const entry of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      out.push(join(d, entry.name));
      if (entry.isDirectory()) await walk(join(d, entry.name));
    }
  };
  await walk(dir);
  return out;
}

/**
 * Kills the server-side processes of every established connection to 127.0.0.1:port, as a crash or
 * a reboot of the server would (OpenSSH's sshd keeps running sessions when only the daemon restarts).
 */
export function killSessions(port: number): number {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], {
    encoding: 'utf8',
  });
  const pids = new Set<number>();
  for (const match of out.matchAll(/pid=(\d+)/g)) pids.add(Number(match[1]));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return pids.size;
}
