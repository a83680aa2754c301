/** Free ports and one-shot TCP/HTTP probes. */
import { createServer, Socket } from 'node:net';

/**
 * Ports this process has handed out. The kernel may give a port that was bound and closed again at
 * once to the next `bind :0`; servers start concurrently (Controller.up), so one whose server has not
 * bound its port yet must not see that port handed to the next.
 */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bind :0, read, close), never one this process handed out before
 * (servers keep theirs across restarts; a restart never asks again).
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = await anyFreePort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
    if (attempt >= 1000) throw new Error('no free TCP port that this process has not handed out already');
  }
}

function anyFreePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return rej(new Error('no port'));
      srv.close(() => res(addr.port));
    });
  });
}

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePort());
  return [...out];
}

/** True when a TCP connection to host:port succeeds within `timeoutMs`. */
export function tcpAnswers(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((res) => {
    const sock = new Socket();
    const done = (ok: boolean) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('error', () => done(false));
    sock.connect(port, host, () => done(true));
  });
}

/** Status code of a GET (uses node:http(s) so a CA can be given; 3 s timeout). */
export async function httpStatus(url: string, ca?: string | Buffer): Promise<number> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((res, rej) => {
    const req = mod.get(url, { timeout: 3000, ...(ca ? { ca } : {}) }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
}
