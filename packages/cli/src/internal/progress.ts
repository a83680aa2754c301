import type { ProgressEvent } from '@artifacts/core';
import formatBytes from 'bytes';
import { SingleBar } from 'cli-progress';

/** Receives core's progress events; draws a bar on a terminal, nothing otherwise. */
export interface ProgressSink {
  update(event: ProgressEvent): void;
  /** Removes the bar (idempotent). */
  stop(): void;
}

const NONE: ProgressSink = { update() {}, stop() {} };

export function human(n: number): string {
  return formatBytes(n, { unitSeparator: ' ', decimalPlaces: 1 }) ?? `${n} B`;
}

/**
 * A bar of bytes and files on `stream` when it is a terminal and not `quiet`. Output piped to a
 * file or another program never receives one: it would be escape codes in a log.
 */
export function createProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  quiet: boolean,
  label: string,
): ProgressSink {
  if (quiet || stream.isTTY !== true) return NONE;
  const bar = new SingleBar({
    stream,
    format: `${label} [{bar}] {percentage}% | {value}/{total} | {files} files | {speed}/s | ETA {eta_formatted}`,
    formatValue: (value, _options, type) =>
      type === 'value' || type === 'total' ? human(Number(value)) : String(value),
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
    // Redraws on a timer (10 fps) rather than on every chunk, whatever the chunk rate.
    fps: 10,
    etaBuffer: 50,
  });
  let started = false;
  let stopped = false;
  const startedAt = Date.now();
  return {
    update(event) {
      if (stopped) return;
      const total = Math.max(event.bytesTotal ?? event.bytesDone, event.bytesDone, 1);
      const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
      const payload = {
        files:
          event.filesTotal === undefined ? `${event.filesDone}` : `${event.filesDone}/${event.filesTotal}`,
        speed: human(event.bytesDone / seconds),
      };
      if (!started) {
        started = true;
        bar.start(total, event.bytesDone, payload);
      } else {
        bar.setTotal(total);
        bar.update(event.bytesDone, payload);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (started) bar.stop();
    },
  };
}
