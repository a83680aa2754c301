/** Server errors and log files: appending, and the tail that goes into failure messages. */
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class ServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerError';
  }
}

/** The last `lines` lines of a log file ('' when missing). */
export function logTail(file: string, lines = 40): string {
  try {
    const text = readFileSync(file, 'utf8');
    const all = text.split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** A message followed by the framed tail of a log, for errors and failure output. */
export function withLogTail(message: string, logFile: string, lines = 40): string {
  const tail = logTail(logFile, lines);
  return `${message}\n--- last ${lines} lines of ${logFile} ---\n${tail || '(empty log)'}\n--- end of log ---`;
}

/** Prints the tail of a log to stderr (used when a run fails). */
export function printLogTail(logFile: string, lines = 40): void {
  process.stderr.write(`${withLogTail('', logFile, lines).trimStart()}\n`);
}

/** Appends a line to a log file (creating it). */
export function appendLog(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  try {
    const buf = Buffer.from(text);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
  } finally {
    closeSync(fd);
  }
}
