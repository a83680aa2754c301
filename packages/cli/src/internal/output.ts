import { ArtifactsError, redactUri, scrub } from '@artifacts/core';

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

export class Output {
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

  /** One line, `artifacts: <message>`; with `debug`, the stack and the chain of causes too. */
  error(error: unknown, debug: boolean): void {
    const message = error instanceof Error ? error.message : String(error);
    this.err(`artifacts: ${message.replace(/\s*\n\s*/g, ' ')}`);
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
