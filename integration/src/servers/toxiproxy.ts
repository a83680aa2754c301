/**
 * Toxiproxy: a fault-injecting TCP proxy for the fault suites (integration/faults). Built with
 * `go install` into the cache (keyed by version), like MinIO. One server per suite on a free loopback
 * port; each test creates proxies (listen on a free loopback port, upstream = a real server's
 * port) and adds toxics (latency, bandwidth, reset_peer, timeout, limit_data, …) through the
 * admin API. Not part of `pnpm servers up`: it fronts the other servers rather than being one.
 */
import { join } from 'node:path';
import type { LaunchContext } from '../types.js';
import {
  cacheDirFor,
  freePort,
  type GoBuild,
  goInstall,
  ManagedProcess,
  ServerError,
  waitForHttp,
} from '../util.js';

export const TOXIPROXY_MODULE = 'github.com/Shopify/toxiproxy/v2/cmd/server';
export const TOXIPROXY_VERSION = 'v2.12.0';

function toxiproxyBin(): string {
  return join(cacheDirFor('toxiproxy', TOXIPROXY_VERSION), 'bin', 'server');
}

export interface Toxic {
  type: 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'reset_peer' | 'slicer' | 'limit_data';
  stream?: 'upstream' | 'downstream';
  toxicity?: number;
  attributes: Record<string, number>;
  name?: string;
}

/** One proxy: `listen` (127.0.0.1:port) forwards to `upstream`. */
export class ToxiProxy {
  constructor(
    private readonly api: string,
    readonly name: string,
    readonly port: number,
  ) {}

  async addToxic(toxic: Toxic): Promise<string> {
    const name = toxic.name ?? `${toxic.type}_${toxic.stream ?? 'downstream'}`;
    await call(this.api, 'POST', `/proxies/${this.name}/toxics`, {
      name,
      type: toxic.type,
      stream: toxic.stream ?? 'downstream',
      toxicity: toxic.toxicity ?? 1,
      attributes: toxic.attributes,
    });
    return name;
  }

  async removeToxic(name: string): Promise<void> {
    await call(this.api, 'DELETE', `/proxies/${this.name}/toxics/${name}`);
  }

  /** Removes every toxic (the proxy forwards cleanly again). */
  async clear(): Promise<void> {
    const toxics = (await call(this.api, 'GET', `/proxies/${this.name}/toxics`)) as { name: string }[];
    for (const toxic of toxics) await this.removeToxic(toxic.name);
  }

  /** Disabling closes every open connection and refuses new ones; enabling listens again. */
  async setEnabled(enabled: boolean): Promise<void> {
    await call(this.api, 'POST', `/proxies/${this.name}`, { enabled });
  }

  async remove(): Promise<void> {
    await call(this.api, 'DELETE', `/proxies/${this.name}`);
  }
}

async function call(api: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${api}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await response.text();
  if (!response.ok) throw new ServerError(`toxiproxy ${method} ${path}: HTTP ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export interface RunningToxiproxy {
  api: string;
  pids: number[];
  /**
   * A new proxy on a free loopback port in front of 127.0.0.1:`upstreamPort`; `at` chooses the
   * listening port and the upstream host instead (a server bound to another loopback address,
   * advertising this one).
   */
  proxy(
    name: string,
    upstreamPort: number,
    at?: { listenPort?: number; upstreamHost?: string },
  ): Promise<ToxiProxy>;
  stop(): Promise<void>;
}

/** What `go install` builds for toxiproxy, and where the binary goes. */
export function toxiproxyBuild(): GoBuild {
  return {
    pkg: TOXIPROXY_MODULE,
    version: TOXIPROXY_VERSION,
    installDir: cacheDirFor('toxiproxy', TOXIPROXY_VERSION),
    binary: 'server',
  };
}

export async function installToxiproxy(ctx: Pick<LaunchContext, 'logFile'>): Promise<string> {
  return goInstall({ ...toxiproxyBuild(), logFile: ctx.logFile });
}

export async function startToxiproxy(ctx: Pick<LaunchContext, 'logFile'>): Promise<RunningToxiproxy> {
  await installToxiproxy(ctx);
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;
  const proc = new ManagedProcess({
    command: toxiproxyBin(),
    args: ['-host', '127.0.0.1', '-port', String(port)],
    logFile: ctx.logFile,
    ports: [port],
    what: 'toxiproxy',
    ready: (p) => waitForHttp(`${api}/version`, { proc: p, what: 'toxiproxy' }),
  });
  await proc.start();
  return {
    api,
    pids: proc.pids,
    async proxy(name, upstreamPort, at) {
      const listen = at?.listenPort ?? (await freePort());
      await call(api, 'POST', '/proxies', {
        name,
        listen: `127.0.0.1:${listen}`,
        upstream: `${at?.upstreamHost ?? '127.0.0.1'}:${upstreamPort}`,
        enabled: true,
      });
      return new ToxiProxy(api, name, listen);
    },
    stop: () => proc.stop(),
  };
}
