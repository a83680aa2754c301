/**
 * OpenSSH's patterns (ssh_config(5) PATTERNS, match.c), the one matcher of this backend: for
 * `Host` and `Match` lines of ~/.ssh/config and the host fields of known_hosts. `*` matches any run
 * of characters, `?` exactly one, every other character itself.
 */
export function matchPattern(text: string, pattern: string, ignoreCase: boolean): boolean {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, ignoreCase ? 'is' : 's').test(text);
}

/**
 * OpenSSH's `match_pattern_list`: `1` when a pattern matches, `-1` when a negated one (`!pattern`)
 * does (it wins over every other), `0` otherwise. A string is a comma-separated pattern-list
 * (`Match`, known_hosts); an array holds whole patterns, commas included (a `Host` line's words).
 */
export function matchPatternList(
  text: string,
  patterns: string | readonly string[],
  ignoreCase: boolean,
): -1 | 0 | 1 {
  let result: 0 | 1 = 0;
  for (const pattern of typeof patterns === 'string' ? patterns.split(',') : patterns) {
    const negated = pattern.startsWith('!');
    if (matchPattern(text, negated ? pattern.slice(1) : pattern, ignoreCase)) {
      if (negated) return -1;
      result = 1;
    }
  }
  return result;
}
