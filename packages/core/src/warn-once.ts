const warned = new Set<string>();

/**
 * A DeprecationWarning (Node's `process.emitWarning`, with its `code`) printed once per process for
 * each code: a deprecated setting read at every open must not repeat it.
 */
export function deprecationOnce(code: string, message: string): void {
  if (warned.has(code)) return;
  warned.add(code);
  process.emitWarning(message, { type: 'DeprecationWarning', code });
}

/** For tests: lets `code`'s warning fire again. */
export function forgetDeprecation(code: string): void {
  warned.delete(code);
}
