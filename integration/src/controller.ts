/**
 * The owner side: holds the RunningServer handles of one owner (the `servers up` supervisor or a
 * vitest globalSetup), records them in <ownerDir>/state.json and answers a small HTTP control API on
 * 127.0.0.1 (token-protected) so other processes — test workers, `pnpm servers down` — can restart
 * or stop servers whose handles live here.
 *
 *   GET  /status            → OwnerState
 *   POST /restart/<name>    → restarts one server (RunningServer.restart), same ports and data
 *   POST /up?names=a,b      → 202 at once, then starts the missing servers (watch state.json `pending`)
 *   POST /stop              → stops every server
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { removeOrphanContainers } from './containers.js';
import { describeMode, resolveMode } from './mode.js';
import { isServerName } from './registry.js';
import {
  type OwnerState,
  type StartedServer,
  serverSockets,
  startServer,
  toServerState,
  writeFileAtomic,
  writeOwnerState,
} from './runtime.js';
import type { ServerName } from './types.js';
import { isLoopback, renderEnvFile } from './util.js';

export class Controller {
  readonly servers = new Map<ServerName, StartedServer>();
  readonly state: OwnerState;
  private http?: Server;
  private busy: Promise<unknown> = Promise.resolve();
  private persisting: Promise<unknown> = Promise.resolve();
  private described = false;

  readonly owner: string;
  /** Where to write `export NAME=value` lines after every change (the CLI's .servers.env). */
  private readonly envFile?: string;

  constructor(owner: string, envFile?: string) {
    this.owner = owner;
    this.envFile = envFile;
    this.state = { owner, ownerPid: process.pid, status: 'starting', servers: {}, errors: {}, pending: [] };
  }

  /** Env of every running server, merged. */
  env(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of this.servers.values()) Object.assign(out, s.running.env);
    return out;
  }

  /** Writes state.json (and the env file); calls made at once (concurrent starts) write one after another. */
  persist(): Promise<void> {
    const next = this.persisting.then(async () => {
      this.state.servers = {};
      for (const s of this.servers.values()) this.state.servers[s.name] = toServerState(s);
      writeOwnerState(this.state);
      if (this.envFile) await writeFileAtomic(this.envFile, renderEnvFile(this.env()));
    });
    this.persisting = next.catch(() => {});
    return next;
  }

  /** Serializes operations (start/restart/stop never overlap). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.busy.then(fn, fn);
    this.busy = next.catch(() => {});
    return next;
  }

  /**
   * Starts the named servers that are not running yet, all at once (each waits for its own readiness;
   * installs still run one at a time, see startServer); returns the errors by name. The "starting"
   * lines come in the order given; each "ready" or "FAILED" line when that server is done. A server
   * that fails does not stop the others' starts (they cannot be cancelled half-way): the caller stops
   * what did start (globalSetup fails the run naming each server that failed, then stops the rest).
   * The servers are kept in the order given whatever order they became ready in (env, state, stop).
   */
  up(
    names: ServerName[],
    log: (line: string) => void = () => {},
  ): Promise<Partial<Record<ServerName, string>>> {
    return this.serial(async () => {
      const errors: Partial<Record<ServerName, string>> = {};
      if (!this.described) {
        this.described = true;
        // the run's header: mode (and engine); a mode that cannot resolve fails each server below
        try {
          log(await describeMode());
          if ((await resolveMode()) === 'containers') {
            for (const c of await removeOrphanContainers()) log(`removed the orphaned container ${c}`);
          }
        } catch {}
      }
      const wanted = [...new Set(names)].filter((name) => !this.servers.has(name));
      for (const name of wanted) log(`starting ${name}…`);
      await Promise.all(
        wanted.map(async (name) => {
          try {
            const s = await startServer(name, this.owner);
            this.servers.set(name, s);
            delete this.state.errors[name];
            log(
              `${name} ready (${s.mode}; install ${(s.installMs / 1000).toFixed(1)} s, start ${(s.startMs / 1000).toFixed(1)} s; log ${s.logFile})`,
            );
          } catch (err) {
            const msg = (err as Error).message;
            errors[name] = msg;
            this.state.errors[name] = msg;
            log(`${name} FAILED: ${msg}`);
          }
          this.state.pending = this.state.pending.filter((n) => n !== name);
          await this.persist();
        }),
      );
      // insertion order = the order given (stopAll stops in reverse), not the order they got ready
      const started = [...this.servers.entries()];
      const rank = (name: ServerName) => (wanted.includes(name) ? wanted.indexOf(name) : -1);
      started.sort(([a], [b]) => rank(a) - rank(b));
      this.servers.clear();
      for (const [name, s] of started) this.servers.set(name, s);
      await this.persist();
      return errors;
    });
  }

  restart(name: ServerName): Promise<void> {
    return this.serial(async () => {
      const s = this.servers.get(name);
      if (!s) throw new Error(`${name} is not running under owner ${this.owner}`);
      if (!s.running.restart) throw new Error(`the ${name} launcher has no restart()`);
      await s.running.restart();
      if (s.running.pids.length > 0 || s.running.processes) {
        s.listening = serverSockets(s.running).filter((l) => isLoopback(l.address));
      }
      await this.persist();
    });
  }

  stopAll(): Promise<void> {
    return this.serial(async () => {
      this.state.status = 'stopping';
      const errors: string[] = [];
      for (const name of [...this.servers.keys()].reverse()) {
        const s = this.servers.get(name)!;
        try {
          await s.running.stop();
        } catch (err) {
          errors.push(`${name}: ${(err as Error).message}`);
        }
        this.servers.delete(name);
        await this.persist();
      }
      if (errors.length > 0) throw new Error(`stopping failed:\n${errors.join('\n')}`);
    });
  }

  /** Starts the control API on 127.0.0.1:<free port>. */
  async listen(onStop?: () => void, onLog?: (line: string) => void): Promise<{ url: string; token: string }> {
    const token = randomBytes(16).toString('hex');
    this.http = createServer((req, res) => {
      this.handle(req, res, token, onStop, onLog).catch((err) =>
        reply(res, 500, { error: (err as Error).message }),
      );
    });
    await new Promise<void>((res) => this.http!.listen({ host: '127.0.0.1', port: 0 }, () => res()));
    const addr = this.http.address();
    if (!addr || typeof addr === 'string') throw new Error('control server has no port');
    this.http.unref();
    this.state.control = { url: `http://127.0.0.1:${addr.port}`, token };
    return this.state.control;
  }

  async close(): Promise<void> {
    const h = this.http;
    this.http = undefined;
    if (h) await new Promise<void>((res) => h.close(() => res()));
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    token: string,
    onStop?: () => void,
    onLog?: (line: string) => void,
  ) {
    if (req.headers['x-artifacts-it-token'] !== token) return reply(res, 403, { error: 'bad token' });
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    req.resume();
    if (req.method === 'GET' && url.pathname === '/status') return reply(res, 200, this.state);
    if (req.method !== 'POST') return reply(res, 405, { error: 'method' });
    const m = /^\/restart\/([a-z0-9]+)$/.exec(url.pathname);
    if (m) {
      const name = m[1] as string;
      if (!isServerName(name)) return reply(res, 404, { error: `unknown server ${name}` });
      await this.restart(name);
      return reply(res, 200, { ok: true, server: this.state.servers[name] });
    }
    if (url.pathname === '/up') {
      const names = (url.searchParams.get('names') ?? '').split(',').filter(Boolean);
      const bad = names.filter((n) => !isServerName(n));
      if (bad.length > 0) return reply(res, 400, { error: `unknown server(s) ${bad.join(', ')}` });
      // answers at once: starting can take many minutes (first installs); callers poll state.json
      const wanted = (names as ServerName[]).filter((n) => !this.servers.has(n));
      for (const n of wanted) if (!this.state.pending.includes(n)) this.state.pending.push(n);
      await this.persist();
      void this.up(wanted, onLog);
      return reply(res, 202, { accepted: wanted });
    }
    if (url.pathname === '/stop') {
      let error: string | undefined;
      try {
        await this.stopAll();
      } catch (err) {
        error = (err as Error).message;
      }
      reply(res, error ? 500 : 200, error ? { error } : { ok: true });
      onStop?.();
      return;
    }
    return reply(res, 404, { error: 'not found' });
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Calls an owner's control API (from workers, the CLI). */
export async function callControl(
  control: { url: string; token: string },
  method: 'GET' | 'POST',
  path: string,
  timeoutMs = 10 * 60_000,
): Promise<unknown> {
  const res = await fetch(control.url + path, {
    method,
    headers: { 'x-artifacts-it-token': control.token },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new Error(`${method} ${path}: ${body.error ?? res.status}`);
  return body;
}
