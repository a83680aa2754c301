export type { ExitSignal } from './internal/exit-codes.js';
export { EXIT, Interrupted, SIGNAL_EXIT } from './internal/exit-codes.js';
export type { CliIo } from './internal/output.js';
export type { RunOptions } from './internal/program.js';
export { createProgram, run } from './internal/program.js';
export type { Target } from './internal/target.js';
export { parseTarget } from './internal/target.js';
