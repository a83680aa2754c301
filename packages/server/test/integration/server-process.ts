import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// A server in its own process (the built package, as `artifacts serve` runs it), so that its
// memory and file descriptors can be read from /proc without the test's own counted in.

const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  /** Access-log entries printed so far (one JSON line each on stdout). */
  access: Array<Record<string, unknown>>;
  rssBytes(): number;
  openFds(): number;
  stop(): Promise<void>;
}

export async function startServerProcess(
  options: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const script = `
    import { startServer } from '@artifacts/server';
    import '@artifacts/local';
    import '@artifacts/s3';
    const server = await startServer({ port: 0, ...${JSON.stringify(options)}, onMessage: () => undefined });
    process.stderr.write('LISTENING ' + server.address.url + '\\n');`;
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: PACKAGE_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const access: Array<Record<string, unknown>> = [];
  let pending = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      try {
        access.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not an access line
      }
    }
  });
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /LISTENING (\S+)/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the server process exited (${code}): ${stderr}`)));
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    access,
    rssBytes: () => {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return Number(match?.[1] ?? 0) * 1024;
    },
    openFds: () => readdirSync(`/proc/${pid}/fd`).length,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
