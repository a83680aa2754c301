/**
 * The framework itself: `pnpm servers up s3` / `status` / `down` leave nothing behind and listen on
 * loopback only; a package's integrationConfig() run sees the servers' env in its workers and can
 * restart a server from a test. Runs against its own state dir (ARTIFACTS_IT_STATE_DIR), apart from
 * servers a person started.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  IT_ROOT,
  isAlive,
  isLoopback,
  listeningSockets,
  parseEnvFile,
  processGroupMembers,
  sleep,
} from '../src/util.ts';

const work = mkdtempSync(join(tmpdir(), 'artifacts-it-framework-'));
const env = {
  ...process.env,
  // these tests check native processes (pids, sockets); the container mode has its own runs
  ARTIFACTS_IT_MODE: 'native',
  ARTIFACTS_IT_STATE_DIR: join(work, 'state'),
  ARTIFACTS_IT_SERVERS_ENV: join(work, 'servers.env'),
};

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: IT_ROOT,
    env,
    encoding: 'utf8',
    timeout: 60 * 60_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

afterAll(() => {
  cli('down');
  rmSync(work, { recursive: true, force: true });
});

describe('pnpm servers', () => {
  it('up s3, status, down: loopback only, then no process and no port left', () => {
    const up = cli('up', 's3');
    expect(up.code, up.out).toBe(0);
    const file = parseEnvFile(readFileSync(env.ARTIFACTS_IT_SERVERS_ENV, 'utf8'));
    expect(file.ARTIFACTS_IT_S3_URI).toBe('s3://artifacts-it/root');
    expect(readFileSync(env.ARTIFACTS_IT_SERVERS_ENV, 'utf8')).toMatch(/^export ARTIFACTS_IT_S3_URI=/m);
    const state = JSON.parse(readFileSync(join(env.ARTIFACTS_IT_STATE_DIR, 'cli', 'state.json'), 'utf8'));
    const s3 = state.servers.s3;
    expect(s3.pids.length).toBeGreaterThan(0);
    expect(s3.ports.length).toBeGreaterThanOrEqual(2); // http and https (no console: MINIO_BROWSER=off)
    const pgids: number[] = [state.ownerPid, ...s3.pids];
    const pids = new Set(pgids.flatMap((g) => [g, ...processGroupMembers(g)]));
    const mine = listeningSockets().filter((l) => s3.ports.includes(l.port));
    expect(mine.length).toBeGreaterThanOrEqual(2);
    for (const l of mine) expect(isLoopback(l.address), `${l.address}:${l.port}`).toBe(true);

    const status = cli('status');
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/s3\s+up/);

    const down = cli('down');
    expect(down.code, down.out).toBe(0);
    for (const p of pids) expect(isAlive(p), `pid ${p}`).toBe(false);
    const left = listeningSockets().filter(
      (l) => s3.ports.includes(l.port) || l.port === Number(new URL(state.control.url).port),
    );
    expect(left).toEqual([]);
    expect(existsSync(env.ARTIFACTS_IT_SERVERS_ENV)).toBe(false);
  });
});

describe('pnpm servers down after a run that was interrupted', () => {
  it("waits for an orphaned server's port that closes a moment after its process is killed", async () => {
    // What an orphaned container looks like to `down`: the recorded process is killed, but the port
    // is held by another process (the engine's forwarder) that lets go of it a moment later.
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    // the forwarder starts the server (its own process group, as recorded in the state) and closes
    // the port 1.5 s after the server has exited
    const forwarder = spawn(
      process.execPath,
      [
        '-e',
        `const { spawn } = require('node:child_process');
         const s = require('node:net').createServer().listen(${port}, '127.0.0.1');
         const server = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { detached: true, stdio: 'ignore' });
         server.on('exit', () => setTimeout(() => s.close(), 1500));
         console.log(server.pid);`,
      ],
      { detached: true, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const serverPid = await new Promise<number>((res) =>
      forwarder.stdout?.once('data', (d: Buffer) => res(Number(d.toString().trim()))),
    );
    forwarder.stdout?.destroy();
    forwarder.unref();
    try {
      while (!listeningSockets().some((l) => l.port === port)) await sleep(50);
      const gone = spawnSync(process.execPath, ['-e', '']).pid as number; // an owner that has exited
      const dir = join(env.ARTIFACTS_IT_STATE_DIR, 'interrupted');
      mkdirSync(dir, { recursive: true });
      const server0 = { name: 's3', mode: 'native', pids: [serverPid], env: {}, logFile: '', stateDir: dir };
      writeFileSync(
        join(dir, 'state.json'),
        JSON.stringify({
          owner: 'interrupted',
          ownerPid: gone,
          status: 'ready',
          servers: { s3: { ...server0, ports: [port], addresses: [`127.0.0.1:${port}`] } },
          errors: {},
          pending: [],
        }),
      );
      const down = cli('down');
      expect(down.code, down.out).toBe(0);
      expect(down.out).not.toMatch(/still listening/);
      expect(listeningSockets().filter((l) => l.port === port)).toEqual([]);
      expect(existsSync(join(dir, 'state.json'))).toBe(false);
    } finally {
      for (const pid of [serverPid, forwarder.pid as number]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
    }
  });
});

describe('integrationConfig', () => {
  it('starts the servers, gives workers their env and restart(), stops them after', () => {
    const before = new Set(listeningSockets().map((l) => l.port));
    const r = spawnSync(
      process.execPath,
      [join(IT_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'vitest.integration.config.ts'],
      { cwd: join(IT_ROOT, 'test-fixtures/consumer'), env, encoding: 'utf8', timeout: 30 * 60_000 },
    );
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/2 passed/);
    const after = listeningSockets().filter((l) => !before.has(l.port) && !isLoopback(l.address));
    expect(after).toEqual([]);
  });
});

describe('a server that cannot start', () => {
  it('fails the run with the reason (never skips)', () => {
    const r = spawnSync(
      process.execPath,
      [join(IT_ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--config', 'vitest.integration.config.ts'],
      {
        cwd: join(IT_ROOT, 'test-fixtures/consumer'),
        env: { ...env, ARTIFACTS_IT_MODE: 'containers', DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
        encoding: 'utf8',
        timeout: 10 * 60_000,
      },
    );
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).not.toBe(0);
    expect(out).toMatch(/integration servers could not start/);
    expect(out).toMatch(/no Docker engine answers/);
    expect(out).not.toMatch(/skipped/);
  });
});
