import { ArtifactsError } from '@artifacts/core';

/** The `artifacts` exit statuses: one per kind of failure a script may want to tell apart. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  permission: 4,
  unavailable: 5,
  integrity: 6,
  partial: 7,
} as const;

/** 128 + the signal's number, as shells report a process a signal ended. */
export const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const;
export type ExitSignal = keyof typeof SIGNAL_EXIT;

export const EXIT_HELP = `Exit status:
  0  success                 4  permission denied or not authenticated
  1  failure (other)         5  storage unreachable (network, timeout)
  2  usage error             6  integrity (checksum or size mismatch)
  3  not found              7  partial failure (some files failed)
  129/130/143  ended by SIGHUP/SIGINT/SIGTERM, after removing partial files`;

/** A bad command line (an option value, a combination of arguments): exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The reason the bin aborts with when a signal ends the run: one message for every abort. */
export class Interrupted extends Error {
  // Core and the backends recognise aborts by this name.
  override readonly name = 'AbortError';
  constructor(readonly signal: ExitSignal) {
    super(`interrupted by ${signal}; transfers in flight were cancelled and their partial files removed`);
  }
}

function errnoChain(error: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && typeof current === 'object' && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** The exit status for an error a command threw. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (!ArtifactsError.is(error)) return EXIT.failure;
  // A full disk is mapped to `unavailable` by core, but it is no network failure.
  if (errnoChain(error).some((code) => code === 'ENOSPC' || code === 'EDQUOT')) return EXIT.failure;
  switch (error.code) {
    case 'not_found':
      return EXIT.notFound;
    case 'permission_denied':
    case 'unauthenticated':
      return EXIT.permission;
    case 'unavailable':
    case 'timeout':
      return EXIT.unavailable;
    case 'integrity':
      return EXIT.integrity;
    case 'partial_failure':
      return EXIT.partial;
    default:
      return EXIT.failure;
  }
}
