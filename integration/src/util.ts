/**
 * Helpers shared by every launcher: cache and state directories, free ports, process spawning into a
 * log file (own process group, killed as a whole), readiness probes that fail fast with the log tail,
 * and /proc-based checks of what is listening. One module per concern under ./util/; this file
 * re-exports them all for `@artifacts/integration/util`.
 */
export * from './util/env-file.js';
export * from './util/go.js';
export * from './util/instances.js';
export * from './util/lock.js';
export * from './util/logs.js';
export * from './util/managed-process.js';
export * from './util/net.js';
export * from './util/paths.js';
export * from './util/proc.js';
export * from './util/processes.js';
export * from './util/wait.js';
