/** ARTIFACTS_IT_SERVERS=auto|native|containers, and a quick Docker-engine probe. */
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
): Promise<boolean> {
  return new Promise((res) => {
    const req = request({ ...opts, path: '/_ping', method: 'GET', timeout: timeoutMs }, (r) => {
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

let cached: Promise<ServersMode> | undefined;

/** Resolves ARTIFACTS_IT_SERVERS (default auto: containers when a Docker engine answers, else native). */
export function resolveMode(): Promise<ServersMode> {
  cached ??= (async () => {
    const want = (process.env.ARTIFACTS_IT_SERVERS ?? 'auto').toLowerCase();
    if (want === 'native') return 'native';
    if (want === 'containers') {
      if (!(await dockerAvailable(5000))) {
        throw new Error(
          'ARTIFACTS_IT_SERVERS=containers but no Docker engine answers (DOCKER_HOST / docker.sock)',
        );
      }
      return 'containers';
    }
    if (want !== 'auto')
      throw new Error(`ARTIFACTS_IT_SERVERS must be auto, native or containers (got '${want}')`);
    return (await dockerAvailable()) ? 'containers' : 'native';
  })();
  return cached;
}
