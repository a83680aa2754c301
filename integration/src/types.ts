/**
 * The shape every server launcher shares. One file per server under src/servers/, each exporting a
 * `Launcher`. Servers run as native processes on 127.0.0.1 (testcontainers when a Docker engine
 * answers and ARTIFACTS_IT_MODE allows it).
 */
export type ServerName = 's3' | 'azure' | 'gcs' | 'sftp' | 'ftp' | 'hdfs' | 'hdfs-kerberos' | 'mlflow';

export interface LaunchContext {
  /** Per-version install cache outside the clone: `${XDG_CACHE_HOME:-~/.cache}/artifacts-it/`. */
  cacheDir: string;
  /** A fresh directory for this server instance's data, config and log (under integration/.state/). */
  stateDir: string;
  /** Where the server's stdout/stderr go; its tail is printed when a run fails. */
  logFile: string;
}

export interface RunningServer {
  name: ServerName;
  /**
   * `export NAME=value` lines for integration/.servers.env: ARTIFACTS_IT_<NAME>_URI (a root URI for
   * openRepository) plus every variable the matching backend reads. Sourcing them is all a
   * backend, the CLI or a person needs to reach the server.
   */
  env: Record<string, string>;
  /** Process ids started for this server (all are killed by stop). */
  pids: number[];
  /**
   * A container server's processes as host pids, when the engine runs on this machine ([] when not
   * visible here): not for stopping it (stop() does that), for reading what it listens on.
   */
  processes?(): number[];
  logFile: string;
  /** Stops the server and every process it started; resolves once its ports are closed. */
  stop(): Promise<void>;
  /** Stops and starts the server again on the same ports with the same data (file-protocol suites). */
  restart?(): Promise<void>;
  /** How it runs (absent = 'native'). */
  mode?: 'native' | 'containers';
}

export interface Launcher {
  name: ServerName;
  /** Installs the server into ctx.cacheDir if it is not there yet (idempotent, cached by version). */
  install(ctx: Pick<LaunchContext, 'cacheDir' | 'logFile'>): Promise<void>;
  /** Starts it on free loopback ports, waits until it really answers, creates what tests need. */
  start(ctx: LaunchContext): Promise<RunningServer>;
  /** Pinned version of what install() fetches (shown by `pnpm servers status` and the README). */
  version?: string;
  /**
   * Same result as start(), with testcontainers (used when ARTIFACTS_IT_MODE selects containers).
   * Optional: a launcher without it always runs natively.
   */
  startContainer?(ctx: LaunchContext): Promise<RunningServer>;
}
