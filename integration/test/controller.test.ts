/**
 * Controller.up starts a suite's servers all at once: each waits for its own readiness, a failure
 * names its server and leaves the others' starts alone, the servers are kept in the order given, and
 * free ports are never handed out twice in one process (a server that has not bound its port yet must
 * not see it handed to the next). Stand-in launchers (no real server: the suites prove those).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Launcher, RunningServer, ServerName } from '../src/types.js';

const work = mkdtempSync(join(tmpdir(), 'artifacts-it-controller-'));
const saved = { state: process.env.ARTIFACTS_IT_STATE_DIR, mode: process.env.ARTIFACTS_IT_MODE };
let mod: {
  Controller: typeof import('../src/controller.js').Controller;
  launchers: typeof import('../src/registry.js').launchers;
  freePort: typeof import('../src/util.js').freePort;
};

beforeAll(async () => {
  // the state directory is read when the modules load; the controller is what is tested, not a mode
  process.env.ARTIFACTS_IT_STATE_DIR = join(work, 'state');
  process.env.ARTIFACTS_IT_MODE = 'native';
  const [{ Controller }, { launchers }, { freePort }] = await Promise.all([
    import('../src/controller.js'),
    import('../src/registry.js'),
    import('../src/util.js'),
  ]);
  mod = { Controller, launchers, freePort };
});

afterAll(() => {
  for (const [key, value] of [
    ['ARTIFACTS_IT_STATE_DIR', saved.state],
    ['ARTIFACTS_IT_MODE', saved.mode],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  rmSync(work, { recursive: true, force: true });
});

interface Timeline {
  began: Partial<Record<ServerName, number>>;
  ended: Partial<Record<ServerName, number>>;
  stopped: ServerName[];
}

/** A launcher whose start takes `ms` and then answers, or fails with `error`. */
function standIn(name: ServerName, ms: number, timeline: Timeline, error?: string): Launcher {
  const start = async (): Promise<RunningServer> => {
    timeline.began[name] = Date.now();
    await new Promise((res) => setTimeout(res, ms));
    timeline.ended[name] = Date.now();
    if (error) throw new Error(error);
    return {
      name,
      env: { [`ARTIFACTS_IT_${name.toUpperCase()}_URI`]: `${name}://stand-in` },
      pids: [],
      logFile: join(work, `${name}.log`),
      async stop() {
        timeline.stopped.push(name);
      },
    };
  };
  return { name, install: async () => {}, start, startContainer: start };
}

describe('Controller.up', () => {
  it('starts the servers at once, names the one that failed, keeps the order given', async () => {
    const timeline: Timeline = { began: {}, ended: {}, stopped: [] };
    const originals = { s3: mod.launchers.s3, azure: mod.launchers.azure, gcs: mod.launchers.gcs };
    mod.launchers.s3 = standIn('s3', 2400, timeline);
    mod.launchers.azure = standIn('azure', 300, timeline, 'the stand-in azure cannot start');
    mod.launchers.gcs = standIn('gcs', 1200, timeline);
    try {
      const ctl = new mod.Controller('controller-test');
      const lines: string[] = [];
      const t0 = Date.now();
      const errors = await ctl.up(['s3', 'azure', 'gcs'], (line) => lines.push(line));
      const took = Date.now() - t0;

      // all three began before the first ended; the whole took about the slowest's time, not the sum (3.9 s)
      const firstEnd = Math.min(...Object.values(timeline.ended));
      for (const name of ['s3', 'azure', 'gcs'] as const) expect(timeline.began[name]).toBeLessThan(firstEnd);
      expect(took).toBeLessThan(3300);

      expect(Object.keys(errors)).toEqual(['azure']);
      expect(errors.azure).toMatch(/^azure: start failed: the stand-in azure cannot start/);
      expect(ctl.state.errors.azure).toBe(errors.azure);
      // "starting" in the order given; "ready"/"FAILED" as each ends (azure, gcs, then s3)
      const events = lines
        .filter((l) => !l.startsWith('servers mode'))
        .map((l) => l.split(/[ …]/).slice(0, 2).join(' '));
      expect(events).toEqual([
        'starting s3',
        'starting azure',
        'starting gcs',
        'azure FAILED:',
        'gcs ready',
        's3 ready',
      ]);
      // kept in the order given although gcs was ready first: env, state.json and the stop order follow it
      expect([...ctl.servers.keys()]).toEqual(['s3', 'gcs']);
      const state = JSON.parse(readFileSync(join(work, 'state', 'controller-test', 'state.json'), 'utf8'));
      expect(Object.keys(state.servers)).toEqual(['s3', 'gcs']);
      expect(state.pending).toEqual([]);
      // each server's start time is when it became ready, not the time of the state's last write
      const startedAt = (name: 's3' | 'gcs') => Date.parse(state.servers[name].startedAt);
      expect(Math.abs(startedAt('gcs') - timeline.ended.gcs!)).toBeLessThan(500);
      expect(startedAt('s3') - startedAt('gcs')).toBeGreaterThan(700);
      expect(Object.keys(ctl.env())).toEqual(['ARTIFACTS_IT_S3_URI', 'ARTIFACTS_IT_GCS_URI']);

      await ctl.stopAll();
      expect(timeline.stopped).toEqual(['gcs', 's3']);
    } finally {
      Object.assign(mod.launchers, originals);
    }
  });
});

describe('freePort', () => {
  it('never hands out the same port twice in one process', async () => {
    // the kernel picks bind(:0) ports at random: without the guard 15-28 of 500 picks repeated (3 runs)
    const ports: number[] = [];
    for (let i = 0; i < 500; i++) ports.push(await mod.freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });
});
