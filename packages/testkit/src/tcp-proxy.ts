import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A TCP proxy in front of a real server that counts, paces and stalls the bytes on their way: how a
 * backend's integration tests reach a slow link, a store that stops answering mid-transfer, or prove
 * that a server-side copy moved no bytes through the client. Protocol-agnostic (HTTP, SSH, an FTP
 * control connection); point the client at `host:port` instead of the server.
 */
export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** Bytes from clients to the server, over every connection so far. */
  readonly bytesUp: number;
  /** Bytes from the server to clients. */
  readonly bytesDown: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Paces each direction of each connection to this many bytes per second; undefined = full speed. */
  rateBytesPerSecond: number | undefined;
  /** When the last `stallAfter` took effect (Date.now()), undefined while forwarding. */
  readonly stalledSince: number | undefined;
  /** Stops forwarding in both directions once `bytes` more have passed (0 = now); sockets stay open. */
  stallAfter(bytes: number): void;
  /** Forwards again (and forgets a pending `stallAfter`). */
  resume(): void;
  /** Zeroes the byte counters. */
  resetCounters(): void;
  /**
   * Another port, forwarding to `target` with the same pace, stall and counters: for a service whose
   * client is sent to a second address (a WebHDFS DataNode, an FTP passive data port). The same
   * target always gets the same port.
   */
  route(target: { host: string; port: number }): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export interface TcpProxyOptions {
  /**
   * Rewrites each line the server sends on the connections to the main port, before pacing: how a
   * line-based protocol's replies that name an address (FTP's passive-mode replies) are pointed at
   * a `route` of this proxy. Lines keep their `\r\n`/`\n` ending.
   */
  rewriteLine?: (line: string, proxy: TcpProxy) => string | Promise<string>;
}

const TICK_MS = 50;

export async function startTcpProxy(
  target: { host: string; port: number },
  options: TcpProxyOptions = {},
): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  const routes = new Map<string, Promise<{ host: string; port: number }>>();
  let bytesUp = 0;
  let bytesDown = 0;
  let connections = 0;
  let rate: number | undefined;
  /** Bytes still allowed before the stall; undefined = no stall pending. */
  let allowance: number | undefined;
  let wake: Array<() => void> = [];
  let stalledSince: number | undefined;

  const stalled = () => {
    const now = allowance !== undefined && allowance <= 0;
    if (now) stalledSince ??= Date.now();
    return now;
  };
  const waitWhileStalled = async (socket: Socket) => {
    while (stalled() && !socket.destroyed) await new Promise<void>((resolve) => wake.push(resolve));
  };

  const pace = { tokens: 0, refilled: Date.now() };
  function pump(
    from: Socket,
    to: Socket,
    count: (n: number) => void,
    rewrite?: (chunk: Buffer) => Promise<Buffer>,
  ): void {
    // One token bucket for the whole proxy (every connection, both directions: a client reading
    // ranges over four connections gets the pace, not four times it): the pace holds whatever the
    // size of the chunks that arrive (sleeping a tick per chunk would cap it at one chunk per tick),
    // with bursts of one tick at most.
    const bucket = pace;
    /** The chunk being forwarded ('end' may come before it is: it waits for it). */
    let busy = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      from.pause();
      busy = (rewrite ? rewrite(chunk).then(forward) : forward(chunk)).catch(() => {
        // The other side went away mid-write (EPIPE): the connection is over for both.
        from.destroy();
        to.destroy();
      });
    });
    const forward = async (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length && !to.destroyed) {
        await waitWhileStalled(to);
        if (to.destroyed) return;
        let n = chunk.length - offset;
        if (rate !== undefined) {
          const now = Date.now();
          const burst = Math.max(1, Math.ceil((rate * TICK_MS) / 1000));
          bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilled) * rate) / 1000);
          bucket.refilled = now;
          if (bucket.tokens < 1) {
            await sleep(Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / rate)));
            continue;
          }
          n = Math.min(n, Math.floor(bucket.tokens));
          bucket.tokens -= n;
        }
        if (allowance !== undefined) n = Math.min(n, allowance);
        if (n <= 0) continue;
        const slice = chunk.subarray(offset, offset + n);
        offset += n;
        if (allowance !== undefined) allowance -= n;
        count(n);
        if (!to.write(slice)) await Promise.race([once(to, 'drain'), once(to, 'close')]);
      }
      if (!from.destroyed) from.resume();
    };
    // A side that ended cleanly has its end passed on once its last chunk is forwarded (a paused
    // stream still emits 'end' right after handing out its last chunk); destroying the other side
    // on its close would drop those bytes (an FTP client destroys its data socket once it wrote).
    let ended = false;
    from.once('end', () => {
      ended = true;
      void busy.then(() => waitWhileStalled(to)).then(() => to.end());
    });
    from.once('close', () => {
      if (!ended) to.destroy();
    });
    from.on('error', () => to.destroy());
  }

  /** Splits what the server sends into whole lines and hands each to `rewriteLine`. */
  const lineRewriter = () => {
    let pending = '';
    return async (chunk: Buffer): Promise<Buffer> => {
      pending += chunk.toString('latin1');
      const end = pending.lastIndexOf('\n') + 1;
      const lines = pending.slice(0, end).split(/(?<=\n)/);
      pending = pending.slice(end);
      let out = '';
      for (const line of lines) if (line !== '') out += await options.rewriteLine!(line, proxy);
      return Buffer.from(out, 'latin1');
    };
  };

  const listen = async (to: { host: string; port: number }, main: boolean): Promise<number> => {
    const server: Server = createServer((client) => {
      connections++;
      const upstream = connect(to.port, to.host);
      sockets.add(client);
      sockets.add(upstream);
      client.once('close', () => sockets.delete(client));
      upstream.once('close', () => sockets.delete(upstream));
      pump(client, upstream, (n) => {
        bytesUp += n;
      });
      pump(
        upstream,
        client,
        (n) => {
          bytesDown += n;
        },
        main && options.rewriteLine ? lineRewriter() : undefined,
      );
    });
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
    return address.port;
  };
  const port = await listen(target, true);

  const release = () => {
    const waiting = wake;
    wake = [];
    for (const resolve of waiting) resolve();
  };
  const proxy: TcpProxy = {
    host: '127.0.0.1',
    port,
    get bytesUp() {
      return bytesUp;
    },
    get bytesDown() {
      return bytesDown;
    },
    get connections() {
      return connections;
    },
    get stalledSince() {
      return stalledSince;
    },
    get rateBytesPerSecond() {
      return rate;
    },
    set rateBytesPerSecond(value: number | undefined) {
      rate = value;
    },
    stallAfter(bytes: number) {
      allowance = bytes;
      stalledSince = undefined;
    },
    resume() {
      allowance = undefined;
      stalledSince = undefined;
      release();
    },
    resetCounters() {
      bytesUp = 0;
      bytesDown = 0;
    },
    route(to) {
      const key = `${to.host}:${to.port}`;
      let route = routes.get(key);
      if (!route) {
        route = listen(to, false).then((routePort) => ({ host: '127.0.0.1', port: routePort }));
        routes.set(key, route);
      }
      return route;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      release();
      await Promise.all(
        servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
      );
    },
  };
  return proxy;
}
