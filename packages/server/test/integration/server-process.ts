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
  /**
   * The server's `process.memoryUsage()` right after two full garbage collections (only with the
   * `gcProbe` option: the process then runs with `--expose-gc` and answers SIGUSR2).
   */
  memoryAfterGc(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

export async function startServerProcess(
  options: Record<string, unknown>,
  env: Record<string, string> = {},
  { gcProbe = false }: { gcProbe?: boolean } = {},
): Promise<ServerProcess> {
  const probe = gcProbe
    ? `process.on('SIGUSR2', () => {
        globalThis.gc();
        globalThis.gc();
        process.stderr.write('MEMORY ' + JSON.stringify(process.memoryUsage()) + '\\n');
      });`
    : '';
  const script = `
    import { startServer } from '@artifacts/server';
    import '@artifacts/local';
    import '@artifacts/s3';
    const server = await startServer({ port: 0, ...${JSON.stringify(options)}, onMessage: () => undefined });
    ${probe}
    process.stderr.write('LISTENING ' + server.address.url + '\\n');`;
  const nodeArgs = gcProbe ? ['--expose-gc'] : [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
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
  const onStderr: Array<() => void> = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      for (const listener of [...onStderr]) listener();
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
    memoryAfterGc: () =>
      new Promise((resolve, reject) => {
        if (!gcProbe) return reject(new Error('memoryAfterGc needs the gcProbe option'));
        const from = stderr.length;
        const listener = () => {
          const match = /MEMORY (\{.*\})\n/.exec(stderr.slice(from));
          if (!match) return;
          onStderr.splice(onStderr.indexOf(listener), 1);
          resolve(JSON.parse(match[1]!) as NodeJS.MemoryUsage);
        };
        onStderr.push(listener);
        child.kill('SIGUSR2');
      }),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
