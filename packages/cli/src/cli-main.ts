// The command's process: signals, interruption, standard streams and exit, around `run` (started by
// bin.ts once V8's young generation is sized).
import { removeTempFilesSync } from '@artifacts/core';
import { type ExitSignal, Interrupted, run, SIGNAL_EXIT } from './index.js';

// After a signal, transfers are aborted (their temporary files removed) and the run gets this long
// to settle; one stuck in an uncancellable kernel copy is not waited for.
const GRACE_MS = 1000;

const controller = new AbortController();
let signalsOwned = false;
let exiting: ExitSignal | undefined;
/** Set once the interruption message is out (by `run` when it returns, or by `tell`). */
let told = false;

function exit(code: number): never {
  removeTempFilesSync();
  process.exit(code);
}

/**
 * Ends the process by the signal itself, as a program without handlers would: a shell sees 128+N,
 * and, unlike `process.exit`, nothing waits for a transfer stuck in an uncancellable system call (a
 * kernel copy of a large file runs to its end before Node's exit can join the thread doing it).
 */
function die(signal: ExitSignal): never {
  removeTempFilesSync();
  tell();
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
  // Not reached when the default action ends the process; a fallback if something ignores it.
  process.exit(SIGNAL_EXIT[signal]);
}

for (const signal of Object.keys(SIGNAL_EXIT) as ExitSignal[]) {
  process.on(signal, () => {
    // `serve` stops gracefully on SIGINT/SIGTERM itself; SIGHUP still ends it.
    if (signalsOwned && signal !== 'SIGHUP') return;
    if (exiting !== undefined) die(exiting); // a second signal: at once
    exiting = signal;
    controller.abort(new Interrupted(signal));
    // The partial files go now, not when their transfers notice: a kernel copy notices at its end.
    removeTempFilesSync();
    setTimeout(() => die(signal), GRACE_MS).unref();
  });
}

/**
 * The one interruption message, when the run has not printed it (it prints it when it settles). A
 * second signal ends the process at once, so it must say why too: `timeout -s INT` sends its signal
 * twice (to the process and to its group), and the two arrive as one or as two depending on timing.
 */
function tell(): void {
  if (told || !controller.signal.aborted) return;
  told = true;
  // Not `output`: the run has not settled.
  try {
    process.stderr.write(`artifacts: ${(controller.signal.reason as Error).message}\n`);
  } catch {
    // The terminal may be gone (SIGHUP).
  }
}

// A reader that went away (`| head`) ends the command quietly with success; a full disk is a failure.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      controller.abort(new DOMException('standard output closed', 'AbortError'));
      if (exiting !== undefined) die(exiting);
      exit(stream === process.stdout ? 0 : 1);
    }
    if (stream === process.stdout) {
      const reason = error.code === 'ENOSPC' ? 'no space left on device' : error.message;
      try {
        process.stderr.write(`artifacts: cannot write to standard output: ${reason}\n`);
      } catch {
        // Nothing left to tell.
      }
    }
    exit(1);
  });
}

const code = await run(process.argv.slice(2), {
  signal: controller.signal,
  onOwnSignals: () => {
    signalsOwned = true;
  },
});
told = true;
process.exitCode = code;
removeTempFilesSync();
// Exit through the event loop so piped stdout is flushed; the timer only fires if a backend left a
// handle open.
setTimeout(() => process.exit(code), 2000).unref();
