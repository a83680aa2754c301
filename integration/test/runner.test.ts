/**
 * scripts/test-integration.mjs interrupted: the signal reaches every running suite, the runner waits
 * for them, stops what they left running (a server in a process group of its own, as the launchers
 * start them, that ignores the signal), starts no further suite and exits with the signal's code. Run
 * on a workspace of three stand-in suites (`--root`), two lanes.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IT_ROOT, isAlive, sleep } from '../src/util.js';

const runner = join(IT_ROOT, '..', 'scripts', 'test-integration.mjs');
const work = mkdtempSync(join(tmpdir(), 'artifacts-it-runner-'));
const pids = join(work, 'pids');
const started: number[] = [];

afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  rmSync(work, { recursive: true, force: true });
});

/**
 * A stand-in suite: starts a "server" in its own process group (as spawnLogged does) that ignores
 * SIGINT, records both pids, and runs until killed. `slowStop`: on the signal it takes 1.5 s to end (vitest's own
 * clean-up), and says so in a file; else it dies at once, leaving its server.
 */
function suite(name: string, slowStop: boolean): void {
  const dir = join(work, 'packages', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: `@fixture/${name}`,
      private: true,
      scripts: { 'test:integration': 'node suite.mjs' },
    }),
  );
  writeFileSync(
    join(dir, 'suite.mjs'),
    `import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
// The server records both pids itself, once its SIGINT handler is in place: the runner signals it
// too, and a signal that came while Node was still starting would end it before the clean-up sees it.
const server = spawn(process.execPath, ['-e', "process.on('SIGINT', () => {}); require('node:fs').writeFileSync(process.argv[1], JSON.stringify({ suite: Number(process.argv[2]), server: process.pid })); setInterval(() => {}, 1e9)", ${JSON.stringify(join(pids, name))}, String(process.pid)], { detached: true, stdio: 'ignore' });
server.unref();
${
  slowStop
    ? `const stop = () => setTimeout(() => { writeFileSync(${JSON.stringify(join(pids, `${name}.stopped`))}, ''); process.exit(1); }, 1500);
process.on('SIGINT', stop);
process.on('SIGTERM', stop);`
    : ''
}
setInterval(() => {}, 1e9);
`,
  );
}

describe('pnpm test:integration interrupted', () => {
  it('stops every running suite and what it left, starts no other, exits 130 on SIGINT', async () => {
    mkdirSync(pids, { recursive: true });
    suite('a', true);
    suite('b', false);
    suite('c', false);
    const child = spawn(process.execPath, [runner, '--root', work, '--lanes', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    started.push(child.pid as number);

    // two lanes: a and b run, c waits for a lane
    const deadline = Date.now() + 60_000;
    while (!(existsSync(join(pids, 'a')) && existsSync(join(pids, 'b')))) {
      expect(Date.now(), `the suites did not start:\n${out}`).toBeLessThan(deadline);
      await sleep(100);
    }
    const a = JSON.parse(readFileSync(join(pids, 'a'), 'utf8')) as { suite: number; server: number };
    const b = JSON.parse(readFileSync(join(pids, 'b'), 'utf8')) as { suite: number; server: number };
    started.push(a.suite, a.server, b.suite, b.server);
    for (const pid of [a.suite, a.server, b.suite, b.server]) expect(isAlive(pid), `pid ${pid}`).toBe(true);

    child.kill('SIGINT');
    expect(await exited, out).toBe(130);

    // the runner waited for the slow suite, and nothing of the run is left
    expect(existsSync(join(pids, 'a.stopped')), out).toBe(true);
    for (const pid of [a.suite, a.server, b.suite, b.server])
      expect(isAlive(pid), `pid ${pid}\n${out}`).toBe(false);
    expect(existsSync(join(pids, 'c')), out).toBe(false);
    expect(out).toMatch(/SIGINT: stopping @fixture\/a, @fixture\/b/);
    expect(out).toMatch(/stopping \d+ process\(es\) the suites left/);
    expect(out).toMatch(/not run \(interrupted by SIGINT\): @fixture\/c/);
  });
});
