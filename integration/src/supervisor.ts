/**
 * The background process behind `pnpm servers up`: starts the named servers, holds their handles
 * (so restart() works from other processes through the control API), writes .state/cli/state.json
 * and integration/.servers.env, and stops everything on POST /stop, SIGTERM or SIGINT.
 */
import { rmSync } from 'node:fs';
import { Controller } from './controller.js';
import { isServerName } from './registry.js';
import { stateFile } from './runtime.js';
import type { ServerName } from './types.js';
import { SERVERS_ENV_FILE } from './util.js';

const OWNER = 'cli';
const names = process.argv.slice(2);
const bad = names.filter((n) => !isServerName(n));
if (bad.length > 0) {
  console.error(`unknown server(s): ${bad.join(', ')}`);
  process.exit(2);
}

const log = (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);
const ctl = new Controller(OWNER, SERVERS_ENV_FILE);
let stopping = false;

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping every server');
  try {
    await ctl.stopAll();
  } catch (err) {
    log((err as Error).message);
    code = 1;
  }
  await ctl.close();
  rmSync(SERVERS_ENV_FILE, { force: true });
  rmSync(stateFile(OWNER), { force: true });
  log('stopped');
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
process.on('SIGHUP', () => {});

await ctl.listen(() => void shutdown(0), log);
ctl.state.pending = [...(names as ServerName[])];
await ctl.persist();
log(`supervisor ${process.pid}, control ${ctl.state.control?.url}`);
await ctl.up(names as ServerName[], log);
ctl.state.status = 'ready';
await ctl.persist();
log('ready');
// stay alive until told to stop
setInterval(() => {}, 1 << 30);
