import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { startTcpProxy } from '@artifacts/testkit';
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

/** When a `CuttingFtpProxy` resets the next data connection. */
export type Cut =
  /** As soon as the client's data connection is accepted, before a byte passes. */
  | { at: 'accept' }
  /**
   * While the server's `150` reply (the transfer starts) is on its way to the client; the server's
   * data is held back until then, so the client has received none.
   */
  | { at: '150' }
  /** Once this many bytes of file data have passed (either direction). */
  | { at: 'bytes'; bytes: number };

export interface CuttingFtpProxy {
  readonly host: string;
  readonly port: number;
  /** Data connections reset so far. */
  readonly cuts: number;
  /** Resets the next data connection (both of its sides, with an RST) as `cut` says. */
  cutNext(cut: Cut): void;
  close(): Promise<void>;
}

/**
 * testkit's TCP proxy in front of the FTP server's control connection, each `229` reply pointed at
 * a one-use listener of this proxy that forwards the passive data connection and resets it when a
 * cut is armed: a data connection dropped at a chosen moment, which pure-ftpd cannot be asked for.
 */
export async function startCuttingFtpProxy(target: { host: string; port: number }): Promise<CuttingFtpProxy> {
  const armed: Cut[] = [];
  const live = new Set<() => void>();
  const listeners = new Set<Server>();
  let cuts = 0;
  const control = await startTcpProxy(target, {
    async rewriteLine(line) {
      if (line.startsWith('150') && armed[0]?.at === '150' && live.size > 0) {
        armed.shift();
        for (const reset of [...live]) reset();
      }
      const epsv = /^229 .*\(\|\|\|(\d+)\|\)/.exec(line);
      if (!epsv) return line;
      const cut = armed[0]?.at === '150' ? armed[0] : armed.shift();
      const server = createServer((client) => {
        server.close();
        listeners.delete(server);
        const upstream = connect(Number(epsv[1]), target.host);
        let passed = 0;
        const reset = () => {
          live.delete(reset);
          cuts++;
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        };
        live.add(reset);
        const forward = (from: Socket, to: Socket) => {
          from.on('data', (chunk: Buffer) => {
            if (cut?.at === '150' && from === upstream) return;
            if (cut?.at === 'bytes' && passed + chunk.length >= cut.bytes && live.has(reset)) {
              to.write(chunk.subarray(0, Math.max(0, cut.bytes - passed)), () => reset());
              passed = cut.bytes;
              return;
            }
            passed += chunk.length;
            to.write(chunk);
          });
          from.on('end', () => to.end());
          from.on('error', () => to.destroy());
          from.on('close', () => live.delete(reset));
        };
        forward(client, upstream);
        forward(upstream, client);
        if (cut?.at === 'accept') reset();
      });
      listeners.add(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      return line.replace(`|||${epsv[1]}|`, `|||${port}|`);
    },
  });
  return {
    host: control.host,
    port: control.port,
    get cuts() {
      return cuts;
    },
    cutNext(cut) {
      armed.push(cut);
    },
    async close() {
      for (const server of listeners) server.close();
      for (const reset of [...live]) reset();
      await control.close();
    },
  };
}
