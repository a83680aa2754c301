/**
 * For smoke tests that exercise a launcher directly (no globalSetup): start one server under the
 * owner `smoke-<pid>` (state in .state/smoke-<pid>/, so `pnpm servers down` can clean up after a
 * crashed run) and stop it in afterAll.
 *
 *   let srv: LaunchedForTest;
 *   beforeAll(async () => { srv = await launchForTest('s3'); });
 *   afterAll(() => srv?.stop());
 */
import { rm } from 'node:fs/promises';
import { Controller } from './controller.js';
import { ownerDir, type StartedServer } from './runtime.js';
import type { ServerName } from './types.js';

export interface LaunchedForTest {
  server: StartedServer;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export async function launchForTest(name: ServerName): Promise<LaunchedForTest> {
  const owner = `smoke-${process.pid}-${name}`;
  const ctl = new Controller(owner);
  const errors = await ctl.up([name], (l) => process.stderr.write(`[smoke] ${l}\n`));
  ctl.state.status = 'ready';
  await ctl.persist();
  const err = errors[name];
  if (err) throw new Error(err);
  const server = ctl.servers.get(name)!;
  return {
    server,
    env: server.running.env,
    async stop() {
      await ctl.stopAll();
      await rm(ownerDir(owner), { recursive: true, force: true });
    },
  };
}
