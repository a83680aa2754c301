import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'basic-ftp';

export function env(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run this suite through test:integration (integrationConfig(['ftp']))`,
    );
  return value;
}

/** A fresh directory below a base URI, so that every test starts empty. */
export function unique(base: string, label = 't'): string {
  return `${base.replace(/\/$/, '')}/${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
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

/** A plain client logged in as the URI's user (to plant or see what the driver would not). */
export async function rawClient(uri: string): Promise<Client> {
  const url = new URL(uri);
  const client = new Client(30_000);
  await client.access({
    host: url.hostname,
    port: Number(url.port || 21),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  });
  return client;
}

/** Every name below a directory of the FTP server, dot files included, listed with a plain client. */
export async function rawNames(uri: string): Promise<string[]> {
  const url = new URL(uri);
  const client = await rawClient(uri);
  try {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries: Awaited<ReturnType<Client['list']>>;
      try {
        entries = await client.list(dir);
      } catch {
        return;
      }
      for (const entry of entries) {
        if (entry.name === '.' || entry.name === '..') continue;
        out.push(`${dir}/${entry.name}`);
        if (entry.isDirectory) await walk(`${dir}/${entry.name}`);
      }
    };
    await walk(decodeURIComponent(url.pathname));
    return out;
  } finally {
    client.close();
  }
}

/**
 * Kills the server-side processes of every established connection to 127.0.0.1:port, as a crash or
 * a reboot of the server would (a daemon may keep running sessions when it restarts).
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
