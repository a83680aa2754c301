import type { RegisterCommand } from '../context.js';
import { registerGc } from '../gc.js';
import { registerCat } from './cat.js';
import { registerCp } from './cp.js';
import { registerDownload } from './download.js';
import { registerLog } from './log.js';
import { registerLs } from './ls.js';
import { registerPresign } from './presign.js';
import { registerRm } from './rm.js';
import { registerServe } from './serve.js';
import { registerDu, registerStat } from './stat.js';
import { registerSync } from './sync.js';

/** Every command, in the order `--help` lists them. A new command is one file and one line here. */
export const COMMANDS: readonly RegisterCommand[] = [
  registerLs,
  registerLog,
  registerDownload,
  registerCat,
  registerRm,
  registerCp,
  registerSync,
  registerStat,
  registerDu,
  registerPresign,
  registerGc,
  registerServe,
];
