import { ArtifactsError, redactUri, scrub } from '@artifacts/core';
import { exitCodeOf } from './exit-codes.js';

/** Where the CLI writes; `process.stdout`/`process.stderr` unless a caller (a test) passes others. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Every secret on the command line: URI passwords (raw and decoded) and the values of secret query
 * parameters (SAS signatures, tokens). Everything the CLI prints passes through `scrub` with these,
 * whatever produced the text (a backend's error, a library's stack trace, commander's usage error).
 */
export function secretsOf(argv: readonly string[]): string[] {
  const secrets = new Set<string>();
  const add = (value: string) => {
    if (value === '') return;
    secrets.add(value);
    try {
      secrets.add(decodeURIComponent(value));
    } catch {
      // A malformed escape: the raw form is what could be echoed.
    }
  };
  for (const arg of argv) {
    const userInfo = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)@/.exec(arg)?.[1];
    if (userInfo?.includes(':')) add(userInfo.slice(userInfo.indexOf(':') + 1));
    const q = arg.indexOf('?');
    if (q === -1) continue;
    const original = arg.slice(q + 1).split('&');
    const redacted = redactUri(arg);
    const redactedPairs = redacted.slice(redacted.indexOf('?') + 1).split('&');
    original.forEach((pair, i) => {
      if (redactedPairs[i] !== pair) add(pair.slice(pair.indexOf('=') + 1));
    });
  }
  return [...secrets];
}

/** MLflow's FileInfo as JSON: snake_case, a directory has no size. */
export interface JsonFileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number;
}

export function jsonFileInfo(entry: { path: string; isDir: boolean; fileSize?: number }): JsonFileInfo {
  return entry.isDir || entry.fileSize === undefined
    ? { path: entry.path, is_dir: entry.isDir }
    : { path: entry.path, is_dir: false, file_size: entry.fileSize };
}

export class Output {
  /** Set by `--json`: results and errors are JSON documents. */
  json = false;

  constructor(
    readonly io: CliIo,
    private readonly secrets: readonly string[],
  ) {}

  /** Anything printed goes through here: secrets become '***'. */
  clean(text: string): string {
    return scrub(text, this.secrets);
  }

  out(text: string): void {
    this.io.stdout.write(this.clean(text.endsWith('\n') ? text : `${text}\n`));
  }

  err(text: string): void {
    this.io.stderr.write(this.clean(text.endsWith('\n') ? text : `${text}\n`));
  }

  /** A command's result: `json` under `--json`, else the human lines. */
  result(json: unknown, human: () => string | string[] | undefined): void {
    if (this.json) {
      this.out(JSON.stringify(json, null, 2));
      return;
    }
    const text = human();
    if (text === undefined) return;
    for (const line of Array.isArray(text) ? text : [text]) this.out(line);
  }

  /**
   * One line, `artifacts: <message>` (under `--json`, one JSON object `{"error": {code, message,
   * exit_code}}`); with `debug`, the stack and the chain of causes too.
   */
  error(error: unknown, debug: boolean, exitCode = exitCodeOf(error)): void {
    const message = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    if (this.json) {
      const code = ArtifactsError.is(error)
        ? error.code
        : exitCode === 2
          ? 'usage'
          : (error as { name?: string } | null)?.name === 'AbortError'
            ? 'aborted'
            : 'internal';
      const failures = ArtifactsError.is(error)
        ? error.failures.map((failure) => ({
            path: failure.path,
            code: failure.error.code,
            message: failure.error.message,
          }))
        : [];
      this.err(
        JSON.stringify({
          error: { code, message, exit_code: exitCode, ...(failures.length ? { failures } : {}) },
        }),
      );
    } else {
      this.err(`artifacts: ${message}`);
    }
    if (!debug) return;
    let current: unknown = error;
    for (let depth = 0; current !== undefined && depth < 8; depth++) {
      if (current instanceof Error) {
        const code = ArtifactsError.is(current) ? ` [${current.code}]` : '';
        this.err(`${depth === 0 ? '' : 'caused by: '}${current.stack ?? current.message}${code}`);
        current = current.cause;
      } else {
        this.err(`caused by: ${String(current)}`);
        current = undefined;
      }
    }
  }
}
