/** ARTIFACTS_IT_MODE=auto|native|containers, and a quick Docker-engine probe. */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type ServersMode = 'native' | 'containers';

/** Candidate Docker engine sockets, in the order testcontainers tries them. */
function dockerSockets(): string[] {
  const out: string[] = [];
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) out.push(host.slice('unix://'.length));
  out.push(
    '/var/run/docker.sock',
    join(homedir(), '.docker/run/docker.sock'),
    join(homedir(), '.docker/desktop/docker.sock'),
  );
  if (process.env.XDG_RUNTIME_DIR) out.push(join(process.env.XDG_RUNTIME_DIR, 'docker.sock'));
  return out;
}

function ping(
  opts: { socketPath?: string; host?: string; port?: number },
  timeoutMs: number,
  path = '/_ping',
): Promise<boolean> {
  return new Promise((res) => {
    const req = request({ ...opts, path, method: 'GET', timeout: timeoutMs }, (r) => {
      r.resume();
      res(r.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => res(false));
    req.end();
  });
}

/**
 * True when a Docker engine answers /_ping within `timeoutMs`. Returns false at once when no socket
 * exists and DOCKER_HOST is not a tcp:// address (the common case here), without loading testcontainers.
 */
export async function dockerAvailable(timeoutMs = 2000): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('tcp://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    return ping({ host: u.hostname, port: Number(u.port || 2375) }, timeoutMs);
  }
  for (const s of dockerSockets()) {
    if (existsSync(s) && (await ping({ socketPath: s }, timeoutMs))) return true;
  }
  return false;
}

/**
 * Testcontainers, run inside a container (/.dockerenv) against a unix socket, looks for the engine's
 * host through the `bridge` network's gateway and fails when the engine has none (dockerd
 * --bridge=none, as on the CI machines, where the engine runs in this same container): then its
 * servers, host-networked, are on this machine's loopback, which TESTCONTAINERS_HOST_OVERRIDE says.
 */
export async function prepareTestcontainersHost(): Promise<void> {
  if (process.env.TESTCONTAINERS_HOST_OVERRIDE !== undefined || !existsSync('/.dockerenv')) return;
  const host = process.env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) return;
  for (const s of dockerSockets()) {
    if (!existsSync(s) || !(await ping({ socketPath: s }, 2000))) continue;
    if (!(await ping({ socketPath: s }, 2000, '/networks/bridge'))) {
      process.env.TESTCONTAINERS_HOST_OVERRIDE = '127.0.0.1';
    }
    return;
  }
}

let cached: Promise<ServersMode> | undefined;

/** One line for the start of a run: the mode, why, and (containers) the engine. */
export async function describeMode(): Promise<string> {
  const mode = await resolveMode();
  const why = `ARTIFACTS_IT_MODE=${requestedMode()}`;
  if (mode === 'native') return `servers mode native (${why})`;
  const { engine } = await import('./containers.js');
  return `servers mode containers (${why}; ${(await engine()).describe})`;
}

/**
 * The switch's value as given: ARTIFACTS_IT_MODE, default native (a Docker engine that happens to run
 * must not change what an unconfigured run does; `auto` opts in).
 */
export function requestedMode(): string {
  return (process.env.ARTIFACTS_IT_MODE || 'native').toLowerCase();
}

/** Resolves ARTIFACTS_IT_MODE (auto: containers when a Docker engine answers, else native). */
export function resolveMode(): Promise<ServersMode> {
  cached ??= (async () => {
    const want = requestedMode();
    if (want === 'native') return 'native';
    if (want === 'containers') {
      if (!(await dockerAvailable(5000))) {
        throw new Error(
          'ARTIFACTS_IT_MODE=containers but no Docker engine answers (DOCKER_HOST / docker.sock)',
        );
      }
      return 'containers';
    }
    if (want !== 'auto')
      throw new Error(`ARTIFACTS_IT_MODE must be auto, native or containers (got '${want}')`);
    return (await dockerAvailable()) ? 'containers' : 'native';
  })();
  return cached;
}

/**
 * Whether this process runs servers in containers, without probing: ARTIFACTS_IT_MODE=containers, or
 * `auto` that a run's global setup resolved to containers (ARTIFACTS_IT_RESOLVED_MODE, inherited by
 * the test workers). For the few synchronous callers (mlflowVenv()).
 */
export function containerModeSelected(): boolean {
  const resolved = process.env.ARTIFACTS_IT_RESOLVED_MODE;
  if (resolved) return resolved === 'containers';
  return requestedMode() === 'containers';
}
