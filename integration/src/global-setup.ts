/**
 * vitest globalSetup used by integrationConfig(). Runs in vitest's main process before any worker:
 *  1. servers already started by `pnpm servers up` (integration/.state/cli + .servers.env) are reused
 *     when they answer;
 *  2. the others are installed and started here (owner .state/vitest-<pid>) and stopped at teardown;
 *  3. their variables go into process.env (inherited by the workers) and are also `provide`d as
 *     'artifactsItEnv' (copied into process.env by worker-setup.ts);
 *  4. ARTIFACTS_IT_CONTROL tells workers where to ask for restart() (see client.ts).
 * A server that cannot start fails the run with the reason and its log tail.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import type { ControlInfo } from './client.js';
import { Controller } from './controller.js';
import { describeMode, resolveMode } from './mode.js';
import { ALL_SERVERS, isServerName } from './registry.js';
import { ownerDir, pruneStaleRuns, readOwnerState, serverAnswers } from './runtime.js';
import type { ServerName } from './types.js';
import { isAlive, parseEnvFile, SERVERS_ENV_FILE, STATE_ROOT } from './util.js';

declare module 'vitest' {
  export interface ProvidedContext {
    artifactsItServers: ServerName[];
    artifactsItEnv: Record<string, string>;
  }
}

const say = (line: string) => process.stderr.write(`[artifacts-it] ${line}\n`);

/** The MLflow image this run would use, when the engine has it (else undefined: no MLflow needed yet). */
async function mlflowImageIfPresent(): Promise<string | undefined> {
  try {
    const { serverImage } = await import('./images.js');
    return await serverImage('mlflow');
  } catch {
    return undefined;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const names = (project.getProvidedContext().artifactsItServers ?? []) as ServerName[];
  const bad = names.filter((n) => !isServerName(n));
  if (bad.length > 0)
    throw new Error(
      `integrationConfig: unknown server(s) ${bad.join(', ')} (known: ${ALL_SERVERS.join(', ')})`,
    );
  await mkdir(STATE_ROOT, { recursive: true });
  await pruneStaleRuns();

  const env: Record<string, string> = {};
  // the mode, resolved once here, for the workers too (mlflowVenv(), startMlflowServer())
  const mode = await resolveMode().catch(() => undefined);
  if (mode) env.ARTIFACTS_IT_RESOLVED_MODE = mode;
  const control: Partial<Record<ServerName, ControlInfo>> = {};
  const envKeys: Partial<Record<ServerName, string[]>> = {};
  const missing: ServerName[] = [];

  // 1. reuse `pnpm servers up`
  const cli = readOwnerState('cli');
  const fileEnv = existsSync(SERVERS_ENV_FILE) ? parseEnvFile(readFileSync(SERVERS_ENV_FILE, 'utf8')) : {};
  for (const name of names) {
    const s = cli?.servers[name];
    const listed = s && Object.keys(s.env).every((k) => fileEnv[k] === s.env[k]);
    if (cli && s && listed && isAlive(cli.ownerPid) && (await serverAnswers(s))) {
      say(`${name}: reusing the server from \`pnpm servers up\` (${s.addresses.join(' ') || s.mode})`);
      Object.assign(env, s.env);
      envKeys[name] = Object.keys(s.env);
      if (cli.control) control[name] = { ...cli.control, logFile: s.logFile, stateDir: s.stateDir };
    } else {
      missing.push(name);
    }
  }

  // 2. start the rest here
  const owner = `vitest-${process.pid}`;
  const ctl = new Controller(owner);
  // the run's header (mode, engine) comes with the first start; say it when nothing starts here
  if (missing.length === 0) say(await describeMode().catch((e: Error) => e.message));
  if (missing.length > 0) {
    const info = await ctl.listen();
    const errors = await ctl.up(missing, say);
    ctl.state.status = Object.keys(errors).length > 0 ? 'failed' : 'ready';
    await ctl.persist();
    if (Object.keys(errors).length > 0) {
      await ctl.stopAll().catch(() => {});
      await ctl.close();
      throw new Error(
        `integration servers could not start:\n${Object.entries(errors)
          .map(([n, e]) => `● ${n}: ${e}`)
          .join('\n\n')}`,
      );
    }
    for (const s of ctl.servers.values()) {
      Object.assign(env, s.running.env);
      envKeys[s.name] = Object.keys(s.running.env);
      control[s.name] = { ...info, logFile: s.logFile, stateDir: s.stateDir };
    }
  }

  if (mode === 'containers' && !env.ARTIFACTS_IT_MLFLOW_IMAGE) {
    // MLflow's Python for tests that run its client beside a server they start themselves (after the
    // run's header, which the first server start prints)
    const image = await mlflowImageIfPresent();
    if (image) {
      env.ARTIFACTS_IT_MLFLOW_IMAGE = image;
      await (await import('./containers.js')).describeImage('mlflow', image);
    }
  }

  // 3. hand the env to the workers
  Object.assign(process.env, env);
  process.env.ARTIFACTS_IT_CONTROL = JSON.stringify(control);
  process.env.ARTIFACTS_IT_ENV_KEYS = JSON.stringify(envKeys);
  process.env.ARTIFACTS_IT_LOG_FILES = JSON.stringify(
    Object.fromEntries(Object.entries(control).map(([n, c]) => [n, c?.logFile])),
  );
  project.provide('artifactsItEnv', {
    ...env,
    ARTIFACTS_IT_CONTROL: process.env.ARTIFACTS_IT_CONTROL,
    ARTIFACTS_IT_ENV_KEYS: process.env.ARTIFACTS_IT_ENV_KEYS,
  });

  return async () => {
    if (ctl.servers.size === 0) return;
    say(`stopping ${[...ctl.servers.keys()].join(' ')}`);
    await ctl.stopAll();
    await ctl.close();
    // keep the logs (the failure reporter reads them); drop data dirs and the state file
    for (const n of names) await rm(`${ownerDir(owner)}/${n}`, { recursive: true, force: true });
    await rm(`${ownerDir(owner)}/state.json`, { force: true });
  };
}
