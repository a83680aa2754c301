/**
 * Used inside test files (vitest workers): the environment of the servers and a handle to restart one.
 *
 * The RunningServer objects live in the process that started the servers (the vitest globalSetup, or
 * the `pnpm servers up` supervisor). Those owners answer a token-protected control API on 127.0.0.1;
 * the globalSetup passes each server's owner to the workers in ARTIFACTS_IT_CONTROL, and without it
 * the owner is found through integration/.state/<owner>/state.json.
 */
import { callControl } from './controller.js';
import { readAllOwnerStates, type ServerState } from './runtime.js';
import type { ServerName } from './types.js';
import { isAlive, logTail } from './util.js';

export interface ControlInfo {
  url: string;
  token: string;
  logFile: string;
  /** The server's state directory (configuration, keys, data; bind-mounted at the same path in containers). */
  stateDir: string;
}

/** A server as seen from a test file. */
export interface ServerHandle {
  name: ServerName;
  /** The server's variables (same as in .servers.env). */
  env: Record<string, string>;
  logFile: string;
  /** Its state directory (what it stores, where the launcher keeps it: e.g. FTP's `ftp-home`). */
  stateDir: string;
  /** Stops and starts it again on the same ports with the same data; resolves once it answers. */
  restart(): Promise<void>;
  /** The last lines of its log. */
  logTail(lines?: number): string;
}

function controlFromEnv(): Partial<Record<ServerName, ControlInfo>> {
  const raw = process.env.ARTIFACTS_IT_CONTROL;
  if (!raw) return {};
  try {
    return JSON.parse(raw) as Partial<Record<ServerName, ControlInfo>>;
  } catch {
    return {};
  }
}

function findInState(name: ServerName): { control: ControlInfo; state: ServerState } | undefined {
  for (const st of readAllOwnerStates()) {
    const s = st.servers[name];
    if (s && st.control && isAlive(st.ownerPid)) {
      return { control: { ...st.control, logFile: s.logFile, stateDir: s.stateDir }, state: s };
    }
  }
  return undefined;
}

/** Returns a handle on a running server (started by globalSetup or `pnpm servers up`). */
export function serverHandle(name: ServerName): ServerHandle {
  const fromEnv = controlFromEnv()[name];
  const found = fromEnv ? undefined : findInState(name);
  const control = fromEnv ?? found?.control;
  if (!control) {
    throw new Error(
      `no running ${name} server known to this process: run the suite through integrationConfig(['${name}', …]) or start it with \`pnpm servers up ${name}\``,
    );
  }
  return {
    name,
    env: found?.state.env ?? pickEnv(name),
    logFile: control.logFile,
    stateDir: control.stateDir,
    logTail: (lines = 40) => logTail(control.logFile, lines),
    async restart() {
      try {
        await callControl(control, 'POST', `/restart/${name}`);
      } catch (err) {
        throw new Error(
          `restart of ${name} failed: ${(err as Error).message}\n${logTail(control.logFile, 40)}`,
        );
      }
    },
  };
}

function pickEnv(name: ServerName): Record<string, string> {
  const raw = process.env.ARTIFACTS_IT_ENV_KEYS;
  const out: Record<string, string> = {};
  if (!raw) return out;
  try {
    const keys = (JSON.parse(raw) as Partial<Record<ServerName, string[]>>)[name] ?? [];
    for (const k of keys) if (process.env[k] !== undefined) out[k] = process.env[k] as string;
  } catch {}
  return out;
}
