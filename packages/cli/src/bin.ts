/**
 * The `artifacts` command's entry: sizes V8's young generation for a transfer, then runs the command
 * (`cli-main.ts`).
 *
 * Node 24 on a machine with 4 GiB or more lets V8's young generation grow to 2 × 64 MiB under the
 * allocation rate of a transfer of many small files (one request, answer and promise chain per file),
 * and that space is resident once grown: 5,000 small files to or from S3 peaked at 137–198 MiB of
 * RSS, and at 118–142 MiB with a 2 MiB semi-space, at the same CPU (docs/benchmarks/s3.md). A
 * library cannot set this (V8 reads it once, when the process starts); the command owns its process,
 * so it starts itself again, in place (`process.execve`: same pid, same standard streams, nothing
 * loaded yet), with `--max-semi-space-size=2`. Not where `process.execve` is missing (Windows, Node
 * before 22.15) or the user chose a size (`node --max-semi-space-size=…` or NODE_OPTIONS): there it
 * runs as started. A shebang cannot carry the flag portably (`env -S` is not in BusyBox's `env`).
 * Only for the commands that transfer files and `serve`: starting again costs a second
 * start of Node, about 22 ms of CPU (`ls` of a local store: 82 ms against 60 run as started,
 * docs/benchmarks/server.md), which a listing, a `stat`, a `cat`, `--version` or `--help` pays for
 * nothing.
 *
 * `serve` gets 4 MiB: under V8's own sizing the server's young generation grew to 2 × 64 MiB serving
 * small files, and its peak RSS with it (`pnpm bench:proxy`, 500 files up and down, 20 transfers
 * per server: 252–263 MiB; 2 MiB: 115–116; 4 MiB: 114–130; 8 MiB: 124–146; 16 MiB: 174), at the same
 * server CPU and rates within the run's noise (docs/benchmarks/server.md, 2026-12-02 08:43). 4
 * rather than 2: at 2 more of each request's objects reach the old generation, for the costlier
 * full collections of a process that runs for days.
 */
import { lstatSync, mkdirSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FLAG = '--max-semi-space-size';
// Every global option is a flag without a value, so the command is the first other argument.
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
/** MiB. 1 promotes the requests in flight to the old generation (measured higher, 147–163 MiB). */
const SEMI_SPACE_MIB = command === 'serve' ? 4 : 2;
/** The commands that move many files' bytes, the case measured above; and the server. */
const RESTARTED = new Set(['log', 'download', 'cp', 'sync', 'serve']);

const chosen =
  process.execArgv.some((arg) => arg.startsWith(FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(FLAG);
if (!chosen && command !== undefined && RESTARTED.has(command) && typeof process.execve === 'function') {
  try {
    process.execve(process.execPath, [
      process.execPath,
      `${FLAG}=${SEMI_SPACE_MIB}`,
      ...process.execArgv,
      ...process.argv.slice(1),
    ]);
  } catch {
    // Not available here after all: run as started.
  }
}
if (command !== 'serve') useCompileCache();
await import('./cli-main.js');

/**
 * V8's code cache of the modules a command loads (core, the backend and its library, commander, the
 * CLI), kept between runs by Node (`module.enableCompileCache`, Node 22.1+): a command then parses
 * and compiles none of them again, about 8 ms of its 60–100 ms of CPU (docs/benchmarks/server.md).
 * Not for `serve`: a process started once, whose idle RSS the cache raises by 1.5–2.5 MiB (the
 * functions the last run compiled are all read back at start). The directory is this user's own,
 * `<tmpdir>/artifacts-compile-cache-<uid>`, made with mode 0700: one that is not a directory of this
 * user's that nobody else can write is not used, since what it holds is code this command would run.
 * NODE_COMPILE_CACHE (a directory the user chose, which Node has then already enabled) and
 * NODE_DISABLE_COMPILE_CACHE=1 win; a cache that cannot be written costs nothing but its speed.
 */
function useCompileCache(): void {
  if (process.env.NODE_COMPILE_CACHE) return;
  const uid = process.getuid?.();
  if (uid === undefined) return;
  const dir = join(tmpdir(), `artifacts-compile-cache-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return;
  }
  try {
    const found = lstatSync(dir);
    if (!found.isDirectory() || found.uid !== uid || (found.mode & 0o022) !== 0) return;
    enableCompileCache(dir);
  } catch {
    // Not there after all, or the cache refused: run without it.
  }
}
