/** One long-running server process with start, stop and restart. */
import { appendLog } from './logs.js';
import { killProcessGroup, type SpawnedProcess, spawnLogged } from './processes.js';
import { waitForPortClosed } from './wait.js';

export interface ManagedProcessSpec {
  command: string;
  args: string[];
  /** Extra variables over process.env. */
  extraEnv?: Record<string, string>;
  cwd?: string;
  logFile: string;
  /** Waits until the freshly spawned process answers (use waitForHttp/waitForTcp with `{ proc }`). */
  ready(proc: SpawnedProcess): Promise<void>;
  /** Ports it listens on: stop() waits until they are closed. */
  ports?: number[];
  /** What it is, for messages. */
  what?: string;
}

/**
 * One long-running server process with start/stop/restart on the same command line (and so the same
 * ports and data). `pids` is updated in place on restart, so hand it to RunningServer.pids.
 */
export class ManagedProcess {
  proc?: SpawnedProcess;
  readonly pids: number[] = [];

  readonly spec: ManagedProcessSpec;

  constructor(spec: ManagedProcessSpec) {
    this.spec = spec;
  }

  async start(): Promise<void> {
    const s = this.spec;
    appendLog(s.logFile, `--- ${new Date().toISOString()} starting ${s.what ?? s.command}\n`);
    const proc = spawnLogged(s.command, s.args, { logFile: s.logFile, cwd: s.cwd, extraEnv: s.extraEnv });
    this.proc = proc;
    this.pids.splice(0, this.pids.length, proc.pid);
    try {
      await s.ready(proc);
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  async stop(): Promise<void> {
    if (!this.proc) return;
    const pid = this.proc.pid;
    this.proc = undefined;
    await killProcessGroup(pid);
    for (const p of this.spec.ports ?? []) await waitForPortClosed(p, { what: this.spec.what });
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
