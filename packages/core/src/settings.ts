import { ArtifactsError } from './errors.js';

/** One setting of a backend (rclone's `fs.Option`): everything about it, declared once. */
export interface SettingSpec<T = unknown> {
  type: 'string' | 'boolean' | 'integer' | 'number' | 'object';
  /** What it does, for the README table. */
  help: string;
  /** Value when neither the option nor the variable is set. */
  default?: T;
  /** How the default reads in the README (`4 MiB`), when the value itself would not say it. */
  defaultText?: string;
  /** Environment variable read when the option is not passed (`''` counts as unset). */
  env?: string;
  /** Inclusive bounds, for numbers. */
  min?: number;
  max?: number;
  /** A credential: scrubbed from every error message, never printed. */
  secret?: boolean;
}

type ValueOf<S extends SettingSpec> = S['type'] extends 'string'
  ? string
  : S['type'] extends 'boolean'
    ? boolean
    : S['type'] extends 'integer' | 'number'
      ? number
      : unknown;

/** The typed configuration a declaration yields: a setting with a default is always present. */
export type SettingsValues<D extends Record<string, SettingSpec>> = {
  [K in keyof D]: D[K] extends { default: unknown } ? ValueOf<D[K]> : ValueOf<D[K]> | undefined;
};

export interface ResolvedSettings<D extends Record<string, SettingSpec>> {
  values: SettingsValues<D>;
  /** Values of the secret settings that are set: hand them to core as the driver's `secrets`. */
  secrets: string[];
  /** Where each set value came from: 'option', the variable's name, or 'default'. */
  sources: { [K in keyof D]?: string };
}

/** A backend's settings, declared once. */
export interface Settings<D extends Record<string, SettingSpec>> {
  readonly backend: string;
  readonly specs: D;
  /**
   * Options first, then environment variables, then defaults. Unknown option keys are refused with
   * the closest known name; a value of the wrong type or out of bounds is refused naming the option
   * or variable. Both are `invalid_argument`.
   */
  resolve(options: object | undefined): ResolvedSettings<D>;
  /** The options table of the package README, generated from the declaration (a test keeps them equal). */
  markdownTable(): string;
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `name` (case-insensitive), when one is close enough to be a typo. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

function parseEnv(spec: SettingSpec, raw: string, from: string): unknown {
  switch (spec.type) {
    case 'boolean': {
      const value = raw.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      throw ArtifactsError.invalidArgument(`${from}=${JSON.stringify(raw)} is not a boolean (true/false)`);
    }
    case 'integer':
    case 'number': {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n))
        throw ArtifactsError.invalidArgument(`${from}=${JSON.stringify(raw)} is not a number`);
      return n;
    }
    default:
      return raw;
  }
}

function check(spec: SettingSpec, value: unknown, from: string): unknown {
  const fail = (expected: string) =>
    ArtifactsError.invalidArgument(
      `${from} must be ${expected}, got ${spec.secret ? 'a value (hidden)' : (JSON.stringify(value) ?? String(value))}`,
    );
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') throw fail('a string');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return value;
    case 'integer':
    case 'number': {
      const integer = spec.type === 'integer';
      const bounds =
        spec.min !== undefined && spec.max !== undefined
          ? ` between ${spec.min} and ${spec.max}`
          : spec.min !== undefined
            ? ` >= ${spec.min}`
            : spec.max !== undefined
              ? ` <= ${spec.max}`
              : '';
      const kind = `${integer ? 'an integer' : 'a number'}${bounds}`;
      if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isInteger(value)))
        throw fail(kind);
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max))
        throw fail(kind);
      return value;
    }
    default:
      if (typeof value !== 'object' || value === null) throw fail('an object');
      return value;
  }
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/**
 * Declares a backend's settings once (rclone's `RegInfo.Options`): the declaration gives the typed
 * configuration, the environment variables, the secrets to scrub, the refusal of unknown keys with
 * a "did you mean", and the README's options table.
 */
export function defineSettings<D extends Record<string, SettingSpec>>(
  backend: string,
  specs: D,
): Settings<D> {
  const names = Object.keys(specs);
  return {
    backend,
    specs,
    resolve(options) {
      const given = (options ?? {}) as Record<string, unknown>;
      for (const key of Object.keys(given)) {
        if (key in specs || given[key] === undefined) continue;
        const guess = closestName(key, names);
        throw ArtifactsError.invalidArgument(
          `unknown option ${JSON.stringify(key)} for ${backend}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''} (known: ${names.join(', ')})`,
        );
      }
      const values: Record<string, unknown> = {};
      const sources: Record<string, string> = {};
      const secrets: string[] = [];
      for (const [name, spec] of Object.entries(specs)) {
        let value: unknown;
        let source: string | undefined;
        if (given[name] !== undefined) {
          value = check(spec, given[name], `option ${name}`);
          source = 'option';
        } else if (spec.env !== undefined) {
          const raw = process.env[spec.env]?.trim();
          if (raw !== undefined && raw !== '') {
            const from = `environment variable ${spec.env}`;
            value = check(spec, parseEnv(spec, raw, from), from);
            source = spec.env;
          }
        }
        if (source === undefined && spec.default !== undefined) {
          value = spec.default;
          source = 'default';
        }
        if (source === undefined) continue;
        values[name] = value;
        sources[name] = source;
        if (spec.secret && typeof value === 'string' && value !== '') secrets.push(value);
      }
      return {
        values: values as SettingsValues<D>,
        secrets,
        sources: sources as ResolvedSettings<D>['sources'],
      };
    },
    markdownTable() {
      const rows = Object.entries(specs).map(([name, spec]) => {
        const fallback =
          spec.defaultText ?? (spec.default === undefined ? '—' : `\`${JSON.stringify(spec.default)}\``);
        return `| \`${name}\` | ${cell(fallback)} | ${spec.env ? `\`${spec.env}\`` : '—'} | ${cell(spec.help)}${spec.secret ? ' (secret)' : ''} |`;
      });
      return [
        '| option | default | environment variable | meaning |',
        '| --- | --- | --- | --- |',
        ...rows,
      ].join('\n');
    },
  };
}
