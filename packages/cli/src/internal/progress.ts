import type { ProgressEvent } from '@artifacts/core';
import type { SingleBar } from 'cli-progress';

/** Receives core's progress events; draws a bar on a terminal, nothing otherwise. */
export interface ProgressSink {
  update(event: ProgressEvent): void;
  /** Removes the bar (idempotent). */
  stop(): void;
}

const NONE: ProgressSink = { update() {}, stop() {} };
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** A byte count in IEC units, labelled as such: 500000000 → "476.8 MiB". */
export function human(n: number): string {
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A bar is for a person at a terminal that understands cursor movement. */
export function wantsProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  quiet: boolean,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  return !quiet && stream.isTTY === true && env.TERM !== 'dumb';
}

/** Transfers shorter than this never draw a bar: it would only flicker. */
export const PROGRESS_DELAY_MS = 1000;

/**
 * A bar of bytes and files on `stream` when it is a terminal (not `TERM=dumb`) and not `quiet`,
 * drawn once the transfer has lasted a second. Output piped to a file or another program never
 * receives one: it would be escape codes in a log. `NO_COLOR` keeps it to plain ASCII.
 */
export function createProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  quiet: boolean,
  label: string,
  /** Totals known before the first byte moves (a local file's size). */
  seed?: ProgressEvent,
): ProgressSink {
  if (!wantsProgress(stream, quiet)) return NONE;
  const plain = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  // cli-progress is loaded only when a bar may be drawn: its import alone adds ~8 MiB to the
  // process's RSS (measured on Node 24), which a run with --quiet, --json or output to a pipe or
  // file never needs. It loads well before the first draw (a second in); a draw before that waits
  // for the next tick of the timer below.
  let bar: SingleBar | undefined;
  const newBar = (Bar: typeof SingleBar) =>
    new Bar({
      stream,
      // Without a known total (a stream from stdin) there is no bar, percentage or ETA to show.
      format: (options, params, payload: Record<string, string>) => {
        if (payload.size === '?')
          return `${label} ${payload.done} | ${payload.files} files | ${payload.speed}/s`;
        const size = options.barsize ?? 24;
        const filled = Math.round(Math.min(1, params.progress) * size);
        const bar = `${(options.barCompleteChar ?? '=').repeat(filled)}${(options.barIncompleteChar ?? '-').repeat(size - filled)}`;
        return `${label} [${bar}] ${Math.floor(Math.min(1, params.progress) * 100)}% | ${payload.done}/${payload.size} | ${payload.files} files | ${payload.speed}/s | ETA ${payload.eta_text}`;
      },
      barsize: 24,
      hideCursor: !plain,
      clearOnComplete: true,
      // Redraws on a timer (10 fps) rather than on every chunk, whatever the chunk rate.
      fps: 10,
      barCompleteChar: plain ? '#' : '\u2588',
      barIncompleteChar: plain ? '-' : '\u2591',
    });
  let started = false;
  let stopped = false;
  let last: ProgressEvent | undefined = seed;
  import('cli-progress').then(
    (m) => {
      if (!stopped) bar = newBar(m.SingleBar);
    },
    // Without the module there is no bar; the transfer is not affected.
    () => {},
  );
  const startedAt = Date.now();
  const payload = (event: ProgressEvent) => {
    const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
    const rate = event.bytesDone / seconds;
    const total = event.bytesTotal ?? event.bytesDone;
    return {
      done: human(event.bytesDone),
      size: event.bytesTotal === undefined ? '?' : human(total),
      files: event.filesTotal === undefined ? `${event.filesDone}` : `${event.filesDone}/${event.filesTotal}`,
      speed: human(Math.round(rate)),
      // Nothing moved yet (a kernel copy reports at its end): no estimate rather than a wrong one.
      eta_text:
        rate > 0 && event.bytesTotal !== undefined ? duration((total - event.bytesDone) / rate) : '--',
    };
  };
  const draw = () => {
    if (stopped || !last || !bar) return;
    const total = Math.max(last.bytesTotal ?? last.bytesDone, last.bytesDone, 1);
    if (!started) {
      started = true;
      bar.start(total, last.bytesDone, payload(last));
    } else {
      bar.setTotal(total);
      bar.update(last.bytesDone, payload(last));
    }
  };
  // The bar appears after a second even when no byte has been reported yet (a kernel copy), and
  // then refreshes its speed and ETA while the transfer is silent.
  const timer = setInterval(draw, 500);
  timer.unref();
  const first = setTimeout(() => {
    last ??= { bytesDone: 0, filesDone: 0 };
    draw();
  }, PROGRESS_DELAY_MS);
  first.unref();
  return {
    update(event) {
      last = event;
      if (Date.now() - startedAt >= PROGRESS_DELAY_MS) draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      clearTimeout(first);
      if (started) bar?.stop();
    },
  };
}
