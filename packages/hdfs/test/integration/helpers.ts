import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';

export function env(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run this suite through test:integration (integrationConfig(['hdfs']))`,
    );
  return value;
}

/** A fresh directory below a base URI, so that every test starts empty. */
export function unique(base: string, label = 't'): string {
  return `${base.replace(/\/$/, '')}/${label}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** The HDFS path of an hdfs:// URI. */
export function hdfsPath(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname);
}

/** Raw WebHDFS call (the test's own view of the server, independent of the driver). */
export async function webhdfs(method: string, path: string, op: string, params: Record<string, string> = {}) {
  const search = new URLSearchParams({ op, 'user.name': env('HADOOP_USER_NAME'), ...params });
  // reset: the socket closes after the answer, so that the tests' own calls never count as the
  // driver's connections (fetch would keep them alive in the global pool).
  const response = await request(`${env('ARTIFACTS_IT_HDFS_WEBHDFS_URL')}/webhdfs/v1${path}?${search}`, {
    method: method as 'GET',
    reset: true,
  });
  return { status: response.statusCode, json: () => response.body.json() };
}

/** Names directly in an HDFS directory (raw LISTSTATUS), or [] when it does not exist. */
export async function rawList(path: string): Promise<string[]> {
  const response = await webhdfs('GET', path, 'LISTSTATUS');
  const json = await response.json();
  if (response.status === 404) return [];
  const body = json as { FileStatuses: { FileStatus: { pathSuffix: string }[] } };
  return body.FileStatuses.FileStatus.map((s) => s.pathSuffix);
}

/**
 * Established TCP connections from this process to 127.0.0.1:port (other processes, such as the
 * integration supervisor's health checks, also talk to the NameNode).
 */
export function connectionsTo(port: number): number {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${port} )`], {
    encoding: 'utf8',
  });
  return out.split('\n').filter((line) => line.includes(`pid=${process.pid},`)).length;
}
