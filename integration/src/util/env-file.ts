/** `export NAME=value` files (integration/.servers.env): writing and reading them. */

/** Shell-quotes a value for `export NAME=value` lines (single quotes). */
export function shellQuote(value: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Renders `export NAME=value` lines. */
export function renderEnvFile(env: Record<string, string>): string {
  return Object.entries(env)
    .map(([k, v]) => `export ${k}=${shellQuote(v)}\n`)
    .join('');
}

/** Parses what renderEnvFile wrote (export NAME=value, single-quoted or bare values). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw);
    if (!m) continue;
    const key = m[1] as string;
    let rest = (m[2] as string).trim();
    let val = '';
    while (rest.length > 0) {
      if (rest.startsWith("'")) {
        const end = rest.indexOf("'", 1);
        val += rest.slice(1, end < 0 ? undefined : end);
        rest = end < 0 ? '' : rest.slice(end + 1);
      } else if (rest.startsWith('\\')) {
        val += rest.slice(1, 2);
        rest = rest.slice(2);
      } else {
        const m2 = /^[^'\\]+/.exec(rest);
        val += m2?.[0] ?? '';
        rest = rest.slice(m2?.[0].length ?? 1);
      }
    }
    out[key] = val;
  }
  return out;
}
