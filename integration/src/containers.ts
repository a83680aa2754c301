/**
 * Container mode (ARTIFACTS_IT_MODE=containers): one helper every launcher's startContainer() uses to
 * run its server in a container through testcontainers, and the engine facts they need.
 *
 * Networking: `host` (the container shares the engine host's network; the server binds where it would
 * natively) or `bridge` (the engine's default network; each server port is published on the same port
 * number, so addresses a server hands out in-band — FTP passive replies, WebHDFS redirects — stay
 * right). ARTIFACTS_IT_CONTAINER_NETWORK=host|bridge; by default host when the engine has no `bridge`
 * network (dockerd --bridge=none), else bridge. Clients reach servers at the engine's host as
 * testcontainers reports it (DOCKER_HOST=tcp://… gives that host), never at an assumed 127.0.0.1.
 *
 * Files: each container bind-mounts the server's state directory at the same path, so the
 * configuration, keys, certificates and data the launcher prepares (and the tests read back) have one
 * path on both sides. That needs an engine sharing this machine's file system (a local socket, Docker
 * Desktop, a tcp:// engine on this machine).
 *
 * Clean-up: Testcontainers' reaper (Ryuk) is an image too, which a machine without a registry cannot
 * pull, so it is off (TESTCONTAINERS_RYUK_DISABLED=true unless set) and the project cleans up itself:
 * every container carries the labels `artifacts-it.pid` / `artifacts-it.host`; stop() removes it, and
 * removeOrphanContainers() (run at the start of every run and by `pnpm servers down`) removes those of
 * processes that are gone.
 */

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import { prepareTestcontainersHost } from './mode.js';
import type { ServerName } from './types.js';
import {
  appendLog,
  isAlive,
  isLoopback,
  processesInPidNamespaceOf,
  ServerError,
  sleep,
  tcpAnswers,
} from './util.js';

process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';

const say = (line: string) => process.stderr.write(`[artifacts-it] ${line}\n`);

export type ContainerNetwork = 'host' | 'bridge';

export interface Engine {
  /** Where clients reach the servers: the engine's host ('localhost' resolved to 127.0.0.1). */
  host: string;
  /** The address servers bind inside their container. */
  bindHost: string;
  network: ContainerNetwork;
  /** One line for the run's header. */
  describe: string;
}

let enginePromise: Promise<Engine> | undefined;

/** Testcontainers' client for the engine (after prepareTestcontainersHost). */
export async function runtimeClient() {
  await prepareTestcontainersHost();
  const { getContainerRuntimeClient } = await import('testcontainers');
  return getContainerRuntimeClient();
}

/** Facts about the Docker engine testcontainers talks to (cached per process). */
export function engine(): Promise<Engine> {
  enginePromise ??= (async () => {
    const client = await runtimeClient();
    const wanted = (process.env.ARTIFACTS_IT_CONTAINER_NETWORK ?? '').toLowerCase();
    let network: ContainerNetwork;
    if (wanted === 'host' || wanted === 'bridge') network = wanted;
    else if (wanted) {
      throw new ServerError(`ARTIFACTS_IT_CONTAINER_NETWORK must be host or bridge (got '${wanted}')`);
    } else {
      const nets = await client.container.dockerode.listNetworks();
      network = nets.some((n) => n.Name === 'bridge') ? 'bridge' : 'host';
    }
    const { host, bindHost } = engineAddresses(client.info.containerRuntime.host, network);
    const describe = `engine ${client.info.containerRuntime.serverVersion ? `Docker ${client.info.containerRuntime.serverVersion}` : 'Docker'} at ${process.env.DOCKER_HOST ?? client.info.containerRuntime.remoteSocketPath}, servers reached at ${host}, network ${network}`;
    return { host, bindHost, network, describe };
  })();
  return enginePromise;
}

/**
 * Where clients reach the servers and where the servers bind, from the engine's host as testcontainers
 * reports it. An engine on a loopback address ('localhost', any of 127.0.0.0/8, ::1, in brackets or
 * not) is this machine: its servers are reached at 127.0.0.1 (they bind IPv4; 'localhost' may resolve
 * to ::1 first, and a server bound to 127.0.0.1 does not answer at 127.0.0.2) and, with host
 * networking, bind 127.0.0.1 only. Any other host is the engine's machine: servers bind its interfaces
 * (0.0.0.0; a remote engine's loopback is unreachable from here). Bridge networking: the container's
 * own interfaces (0.0.0.0), published by the engine.
 */
export function engineAddresses(
  rawHost: string,
  network: ContainerNetwork,
): { host: string; bindHost: string } {
  const bare = rawHost.replace(/^\[(.*)\]$/, '$1');
  const loopback = bare.toLowerCase() === 'localhost' || isLoopback(bare);
  const host = loopback ? '127.0.0.1' : bare;
  return { host, bindHost: network === 'host' && loopback ? '127.0.0.1' : '0.0.0.0' };
}

/** `IP:x` or `DNS:x` for a certificate's subjectAltName. */
export function subjectAltName(host: string): string {
  return isIP(host) ? `IP:${host}` : `DNS:${host}`;
}

/** A URL's host part (IPv6 in brackets). */
export function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

export interface ServerContainerSpec {
  server: ServerName;
  /** What it is, for messages ("minio (https)"). */
  what: string;
  image: string;
  entrypoint?: string[];
  command: string[];
  env?: Record<string, string>;
  /** Ports the server listens on (bridge: each published on the same host port). */
  ports: number[];
  /** Host directories mounted at the same path inside the container (read-write). */
  binds?: string[];
  workingDir?: string;
  /** Linux capabilities beyond the engine's default set (e.g. pure-ftpd's DAC_READ_SEARCH, SYS_NICE). */
  capabilities?: string[];
  logFile: string;
  /** True once the server really serves (polled; the container dying fails at once). */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

export interface ServerContainer {
  id: string;
  image: string;
  /** Stops and removes the container; resolves once its ports are closed. */
  stop(): Promise<void>;
  /** docker restart (same container, same file system and binds), then waits until ready. */
  restart(): Promise<void>;
  /**
   * The container's processes as host pids when the engine runs on this machine (so the loopback
   * checks read their sockets as they read a native server's); [] when they are not visible here (an
   * engine on another machine or in a VM, as Docker Desktop's).
   */
  processes(): number[];
}

/**
 * The host pid of a running container's first process, when it is a process of this machine: the
 * engine reports it in its own PID namespace, so it is trusted only when that process's cgroup names
 * the container (an engine in a VM reports pids that mean something else here).
 */
async function hostPidOf(id: string): Promise<number | undefined> {
  const client = await runtimeClient();
  const pid = (await client.container.getById(id).inspect()).State.Pid;
  if (!pid) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(id) ? pid : undefined;
  } catch {
    return undefined;
  }
}

const shown = new Set<string>();

/** Prints the image's reference and id once per run (the run's record of what it tested). */
export async function describeImage(server: ServerName, image: string): Promise<void> {
  if (shown.has(image)) return;
  shown.add(image);
  const { ImageName } = await import('testcontainers');
  const client = await runtimeClient();
  try {
    const info = await client.image.inspect(ImageName.fromString(image));
    const digest = info.RepoDigests?.[0]?.split('@')[1];
    say(`${server}: image ${image} id ${info.Id}${digest ? ` digest ${digest}` : ''}`);
  } catch {
    say(`${server}: image ${image} (not present yet: pulled on start)`);
  }
}

async function waitReady(spec: ServerContainerSpec, id: string): Promise<void> {
  const client = await runtimeClient();
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (await spec.ready().catch(() => false)) return;
    const st = (await client.container.getById(id).inspect()).State;
    if (!st.Running) {
      throw new ServerError(
        `${spec.what}: the container exited (code ${st.ExitCode}${st.Error ? `, ${st.Error}` : ''}) before it served`,
      );
    }
    if (Date.now() > deadline) {
      throw new ServerError(
        `${spec.what}: not ready after ${Math.round((spec.readyTimeoutMs ?? 120_000) / 1000)} s`,
      );
    }
    await sleep(250);
  }
}

async function waitPortsClosed(host: string, ports: number[], what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const p of ports) {
    while (await tcpAnswers(p, host)) {
      if (Date.now() > deadline) throw new ServerError(`${what}: port ${p} still answers after stop`);
      await sleep(200);
    }
  }
}

/** Starts a server container and waits until `spec.ready()` answers. */
export async function startServerContainer(spec: ServerContainerSpec): Promise<ServerContainer> {
  const { GenericContainer } = await import('testcontainers');
  const eng = await engine();
  await describeImage(spec.server, spec.image);
  appendLog(spec.logFile, `--- ${new Date().toISOString()} starting ${spec.what} in ${spec.image}\n`);
  let c = new GenericContainer(spec.image)
    .withCommand(spec.command)
    .withLabels({
      'artifacts-it.server': spec.server,
      'artifacts-it.pid': String(process.pid),
      'artifacts-it.host': hostname(),
    })
    .withLogConsumer((stream: Readable) => {
      stream.on('data', (d: Buffer | string) => appendLog(spec.logFile, d.toString()));
      stream.on('error', () => {});
    })
    .withStartupTimeout(120_000);
  if (spec.entrypoint) c = c.withEntrypoint(spec.entrypoint);
  if (spec.env) c = c.withEnvironment(spec.env);
  if (spec.workingDir) c = c.withWorkingDir(spec.workingDir);
  if (spec.capabilities?.length) c = c.withAddedCapabilities(...spec.capabilities);
  if (spec.binds?.length) {
    c = c.withBindMounts(spec.binds.map((d) => ({ source: d, target: d, mode: 'rw' as const })));
  }
  if (eng.network === 'host') c = c.withNetworkMode('host');
  else c = c.withExposedPorts(...spec.ports.map((p) => ({ container: p, host: p })));
  const started = await c.start();
  const id = started.getId();
  const stop = async () => {
    await started.stop({ remove: true, timeout: 10_000 });
    await waitPortsClosed(eng.host, spec.ports, spec.what);
  };
  let pid: number | undefined;
  try {
    await waitReady(spec, id);
    pid = await hostPidOf(id);
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return {
    id,
    image: spec.image,
    stop,
    async restart() {
      appendLog(spec.logFile, `--- ${new Date().toISOString()} restarting ${spec.what}\n`);
      pid = undefined;
      await started.restart({ timeout: 10_000 });
      await waitReady(spec, id);
      pid = await hostPidOf(id);
    },
    processes: () => (pid ? processesInPidNamespaceOf(pid) : []),
  };
}

/**
 * Removes containers this project started for processes that are gone (a run killed before its
 * clean-up). Quiet when no engine answers.
 */
export async function removeOrphanContainers(): Promise<string[]> {
  const { dockerAvailable } = await import('./mode.js');
  if (!(await dockerAvailable(1000))) return [];
  const client = await runtimeClient();
  const all = await client.container.dockerode.listContainers({
    all: true,
    filters: JSON.stringify({ label: ['artifacts-it.pid'] }),
  });
  const removed: string[] = [];
  for (const info of all) {
    const pid = Number(info.Labels['artifacts-it.pid']);
    if (info.Labels['artifacts-it.host'] !== hostname() || isAlive(pid)) continue;
    await client.container.dockerode
      .getContainer(info.Id)
      .remove({ force: true })
      .catch(() => {});
    removed.push(`${info.Labels['artifacts-it.server'] ?? '?'} ${info.Id.slice(0, 12)}`);
  }
  return removed;
}

/** Containers this project started for the processes `pids` that are still present. */
export async function ownContainers(pids: number[]): Promise<string[]> {
  const { dockerAvailable } = await import('./mode.js');
  if (!(await dockerAvailable(1000))) return [];
  const client = await runtimeClient();
  const all = await client.container.dockerode.listContainers({
    all: true,
    filters: JSON.stringify({ label: ['artifacts-it.pid'] }),
  });
  return all
    .filter(
      (i) =>
        i.Labels['artifacts-it.host'] === hostname() && pids.includes(Number(i.Labels['artifacts-it.pid'])),
    )
    .map(
      (i) =>
        `${i.Labels['artifacts-it.server'] ?? '?'} ${i.Id.slice(0, 12)} (pid ${i.Labels['artifacts-it.pid']})`,
    );
}
