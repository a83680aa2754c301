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
 * Only for the commands that transfer files (`TRANSFERS`): starting again costs a second start of
 * Node, about 22 ms of CPU (`ls` of a local store: 82 ms against 60 run as started,
 * docs/benchmarks/server.md), which a listing, a `stat`, a `cat`, `--version` or `--help` pays for
 * nothing. Nor for `serve`: a long-running server's collections were measured under V8's own sizing
 * (docs/benchmarks/server.md), not this one.
 */
const FLAG = '--max-semi-space-size';
/** MiB. 1 promotes the requests in flight to the old generation (measured higher, 147–163 MiB). */
const SEMI_SPACE_MIB = 2;
/** The commands that move many files' bytes, the case measured above. */
const TRANSFERS = new Set(['log', 'download', 'cp', 'sync']);

const chosen =
  process.execArgv.some((arg) => arg.startsWith(FLAG)) || (process.env.NODE_OPTIONS ?? '').includes(FLAG);
// Every global option is a flag without a value, so the command is the first other argument.
const command = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
if (!chosen && command !== undefined && TRANSFERS.has(command) && typeof process.execve === 'function') {
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
await import('./cli-main.js');
