import type { Command } from 'commander';
import type { Output } from './output.js';

/** What every command gets: where to print, the global flags and the run's AbortSignal. */
export interface CommandContext {
  output: Output;
  quiet: boolean;
  json: boolean;
  signal: AbortSignal;
  stdin: NodeJS.ReadableStream;
  /** Called by a command that handles SIGINT/SIGTERM itself (`serve` stops gracefully). */
  ownSignals: () => void;
}

/**
 * One command's registration: adds itself to the program. A new command is a new file under
 * `commands/` exporting one of these, listed in `commands/index.ts`.
 */
export type RegisterCommand = (program: Command, context: () => CommandContext) => void;
