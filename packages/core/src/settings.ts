import { checkEndpoint } from './endpoint.js';
import { ArtifactsError } from './errors.js';
import { readSettingFile } from './setting-files.js';

/** Sizes, for declarations (`default: 8 * MiB`). */
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** One setting of a backend (rclone's `fs.Option`): everything about it, declared once. */
export interface SettingSpec<T = unknown> {
  /**
   * `enum`: one of `values`; `list`: a string array, or commas in a string (the variable);
   * `url`: a service endpoint, an http(s) URL without credentials or query (`checkEndpoint`), its
   * trailing slash dropped; `function`: a callback (options only); `custom`: whatever `parse` accepts.
   */
  type:
    | 'string'
    | 'boolean'
    | 'integer'
    | 'number'
    | 'object'
    | 'enum'
    | 'list'
    | 'url'
    | 'function'
    | 'custom';
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
  /**
   * A structured value holding credentials (an object of keys, JSON with a key in it): the strings
   * of it to scrub. Its values are then never printed either.
   */
  secretsOf?(value: T): readonly (string | undefined)[];
  /**
   * Strings: the setting names a file (`~` expanded) whose UTF-8 text becomes its value, read once
   * the settings are resolved (not for a setting another one overrode); `file` says what it is in
   * errors ("CA file"), which name the option or variable and the path.
   */
  file?: string;
  /** URLs: the scheme a bare `host:port` gets, from an option and from the variable; none = refused. */
  bareHost?: { option?: 'http' | 'https'; env?: 'http' | 'https' };
  /** URLs: where credentials belong instead, said when some are found in the URL. */
  credentialsHint?: string;
  /** Strings and lists: trimmed, and an empty value refused. */
  nonEmpty?: boolean;
  /** Enums: the allowed values. */
  values?: readonly string[];
  /** Enums: matched case-insensitively; the declared spelling is returned. */
  ignoreCase?: boolean;
  /** Integers: must be a multiple of this. */
  multipleOf?: number;
  /**
   * Custom settings (or a further check of any type): turns the option's value, or the variable's
   * text, into the setting; throws `invalid_argument` naming `from` when it cannot. The type its
   * `value` is declared with is what the option accepts in TypeScript (`OptionsOf`); at run time it
   * gets anything (JavaScript callers, the variable's text) and must check.
   */
  parse?(value: unknown, from: string): T;
}

type ValueOf<S extends SettingSpec> = S extends { parse: (...args: never[]) => infer R }
  ? R
  : S extends { type: 'enum'; values: readonly (infer V)[] }
    ? V
    : S['type'] extends 'string' | 'url'
      ? string
      : S['type'] extends 'boolean'
        ? boolean
        : S['type'] extends 'integer' | 'number'
          ? number
          : S['type'] extends 'list'
            ? string[]
            : unknown;

/** The typed configuration a declaration yields: a setting with a default is always present. */
export type SettingsValues<D extends Record<string, SettingSpec>> = {
  [K in keyof D]: D[K] extends { default: unknown } ? ValueOf<D[K]> : ValueOf<D[K]> | undefined;
};

/**
 * What an option accepts: a list as one string or several (its `parse`, if any, sees the split list),
 * a custom setting what its `parse` takes.
 */
type InputOf<S extends SettingSpec> = S extends { type: 'list' }
  ? string | readonly string[]
  : S extends { parse: (value: infer I, from: string) => unknown }
    ? unknown extends I
      ? ValueOf<S>
      : I
    : ValueOf<S>;

/**
 * The public options type of a backend, derived from its declaration (`OptionsOf<typeof
 * settings.specs>`): every setting optional, typed as the option accepts it. The meaning of each is
 * in the declaration's `help` and the README table generated from it.
 */
export type OptionsOf<D extends Record<string, SettingSpec>> = { [K in keyof D]?: InputOf<D[K]> };

export interface ResolvedSettings<D extends Record<string, SettingSpec>> {
  values: SettingsValues<D>;
  /** Values of the secret settings that are set: hand them to core as the driver's `secrets`. */
  secrets: string[];
  /** Where each set value came from: 'option', the variable's name, or 'default'. */
  sources: { [K in keyof D]?: string };
}

/**
 * Values that sit between the declaration's sources, already in their resolved form: checked
 * against the declaration's type and bounds like an option (a value out of bounds is refused naming
 * the setting and the layer). A setting with a `parse` of its own is taken as given: its resolved
 * form is whatever that `parse` makes.
 */
export interface ResolveLayers<D extends Record<string, SettingSpec>> {
  /** After the option, before the variable: what the URI says (a user name, a password). */
  uri?: { [K in keyof D]?: SettingsValues<D>[K] | undefined };
  /** After the variable, instead of the declared default: a default found at run time (a config file's). */
  defaults?: { [K in keyof D]?: SettingsValues<D>[K] | undefined };
  /** Where `defaults` came from, for errors (`~/.ssh/config`). Default: 'a run-time default'. */
  defaultsFrom?: string;
  /** The environment to read (tests pass their own). Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Settings that are alternatives to each other (only one of them can apply, e.g. skip TLS
 * verification or trust a CA bundle; a connection string, an account key or a token). One set at a
 * higher level (an option, over the URI, over a variable) wins and the others are dropped; several
 * set at the same level are refused (`invalid_argument` naming both), unless `sameLevel` is
 * `'first'`: then the first named wins. `false`, `''` and defaults count as not set.
 */
export interface Alternatives<K> {
  names: readonly K[];
  sameLevel?: 'refuse' | 'first';
}

/** Rules across a backend's settings, beside the declaration. */
export interface SettingsRules<D extends Record<string, SettingSpec>> {
  alternatives?: readonly Alternatives<keyof D & string>[];
  /**
   * Variables read outside the declaration (by a client library's own credential chain) whose values
   * are credentials: listed in `secrets` whenever they are set.
   */
  secretEnv?: readonly string[];
}

/** A backend's settings, declared once. */
export interface Settings<D extends Record<string, SettingSpec>> {
  readonly backend: string;
  readonly specs: D;
  /**
   * Options first, then environment variables, then defaults. Unknown option keys are refused with
   * the closest known name; a value of the wrong type or out of bounds is refused naming the option
   * or variable; so are alternatives set together (`SettingsRules`). All are `invalid_argument`.
   */
  resolve(options: object | undefined, layers?: ResolveLayers<D>): ResolvedSettings<D>;
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
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return best;
  // A name cut short (`endpoint` for `endpointUrl`) is a typo too.
  const lower = name.toLowerCase();
  return lower.length >= 4 ? known.find((candidate) => candidate.toLowerCase().startsWith(lower)) : undefined;
}

/** The boolean a word of an environment variable means: true/1/yes/on, false/0/no/off (any case). */
export function booleanWord(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(word)) return true;
  if (['false', '0', 'no', 'off'].includes(word)) return false;
  return undefined;
}

function parseEnv(spec: SettingSpec, raw: string, from: string): unknown {
  switch (spec.type) {
    case 'boolean': {
      const flag = booleanWord(raw);
      if (flag !== undefined) return flag;
      throw ArtifactsError.invalidArgument(`${from}=${JSON.stringify(raw)} is not a boolean (true/false)`);
    }
    case 'integer':
    case 'number': {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n))
        throw ArtifactsError.invalidArgument(`${from}=${JSON.stringify(raw)} is not a number`);
      return n;
    }
    case 'list':
      return raw.split(',');
    default:
      return raw;
  }
}

function bounds(spec: SettingSpec): string {
  const range =
    spec.min !== undefined && spec.max !== undefined
      ? ` between ${spec.min} and ${spec.max}`
      : spec.min !== undefined
        ? ` >= ${spec.min}`
        : spec.max !== undefined
          ? ` <= ${spec.max}`
          : '';
  return spec.multipleOf === undefined ? range : `${range}, a multiple of ${spec.multipleOf}`;
}

function check(spec: SettingSpec, value: unknown, from: string): unknown {
  const fail = (expected: string) =>
    ArtifactsError.invalidArgument(
      `${from} must be ${expected}, got ${spec.secret || spec.secretsOf ? 'a value (hidden)' : (JSON.stringify(value) ?? String(value))}`,
    );
  let checked = checkType(spec, value, fail);
  if (spec.type === 'url') {
    const bareHost = from.startsWith('option') ? spec.bareHost?.option : spec.bareHost?.env;
    checked = checkEndpoint(checked as string, from, {
      ...(bareHost ? { bareHost } : {}),
      ...(spec.credentialsHint ? { credentialsHint: spec.credentialsHint } : {}),
    });
  }
  return spec.parse ? spec.parse(checked, from) : checked;
}

/** A value of a `ResolveLayers` layer: its type and bounds checked (see `ResolveLayers`). */
function checkLayer(spec: SettingSpec, value: unknown, from: string): unknown {
  if (spec.parse) return value;
  return check(spec, value, from);
}

/**
 * One variable read as a declared setting would read it (`''` counts as unset): parsed, checked
 * against the spec's type and bounds, named in the error. For settings read on their own, outside a
 * backend's declaration (core's repository settings, the server's).
 */
export function readEnvSetting<T>(
  name: string,
  spec: Omit<SettingSpec<T>, 'help' | 'env'>,
  env: NodeJS.ProcessEnv = process.env,
): T | undefined {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return undefined;
  const from = `environment variable ${name}`;
  const full = { ...spec, help: '' } as SettingSpec;
  return check(full, parseEnv(full, raw, from), from) as T;
}

function checkType(spec: SettingSpec, value: unknown, fail: (expected: string) => Error): unknown {
  switch (spec.type) {
    case 'string':
    case 'url': {
      const nonEmpty = spec.nonEmpty || spec.type === 'url' || spec.file !== undefined;
      const kind = spec.type === 'url' ? 'a URL' : spec.file ? 'a path' : 'a non-empty string';
      if (typeof value !== 'string') throw fail(nonEmpty ? kind : 'a string');
      const text = nonEmpty ? value.trim() : value;
      if (nonEmpty && text === '') throw fail(kind);
      return text;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('a boolean');
      return value;
    case 'integer':
    case 'number': {
      const integer = spec.type === 'integer';
      const kind = `${integer ? 'an integer' : 'a number'}${bounds(spec)}`;
      if (typeof value !== 'number' || !Number.isFinite(value) || (integer && !Number.isSafeInteger(value)))
        throw fail(kind);
      if (
        (spec.min !== undefined && value < spec.min) ||
        (spec.max !== undefined && value > spec.max) ||
        (spec.multipleOf !== undefined && value % spec.multipleOf !== 0)
      )
        throw fail(kind);
      return value;
    }
    case 'enum': {
      const allowed = spec.values ?? [];
      const fold = (v: string) => (spec.ignoreCase ? v.toLowerCase() : v);
      const found =
        typeof value === 'string' ? allowed.find((a) => fold(a) === fold(value.trim())) : undefined;
      if (found === undefined) throw fail(`one of ${allowed.join(', ')}`);
      return found;
    }
    case 'list': {
      const items = typeof value === 'string' ? value.split(',') : value;
      if (!Array.isArray(items) || items.some((item) => typeof item !== 'string'))
        throw fail('a string or an array of strings');
      const list = (items as string[]).map((item) => item.trim()).filter((item) => item !== '');
      if (spec.nonEmpty && list.length === 0) throw fail('a non-empty list');
      return list;
    }
    case 'function':
      if (typeof value !== 'function') throw fail('a function');
      return value;
    case 'object':
      if (typeof value !== 'object' || value === null) throw fail('an object');
      return value;
    default:
      return value;
  }
}

/** Where a value came from, highest first: an option, the URI, a variable; a default never counts. */
function level(source: string | undefined): number {
  if (source === undefined || source === 'default') return Number.POSITIVE_INFINITY;
  return source === 'option' ? 0 : source === 'uri' ? 1 : 2;
}

/** Where a setting's value came from, for messages. */
function origin(name: string, source: string | undefined): string {
  if (source === 'option') return `option ${name}`;
  if (source === 'uri' || source === 'default')
    return `${name} (${source === 'uri' ? 'from the URI' : 'default'})`;
  return `environment variable ${source}`;
}

/** Keeps the one alternative that applies (see `Alternatives`); the others fall back to their defaults. */
function pickAlternative(
  group: Alternatives<string>,
  specs: Record<string, SettingSpec>,
  values: Record<string, unknown>,
  sources: Record<string, string>,
): void {
  const set = group.names.filter(
    (name) =>
      level(sources[name]) < Number.POSITIVE_INFINITY && values[name] !== false && values[name] !== '',
  );
  if (set.length === 0) return;
  const top = Math.min(...set.map((name) => level(sources[name])));
  const winners = set.filter((name) => level(sources[name]) === top);
  if (winners.length > 1 && group.sameLevel !== 'first') {
    const [a, b] = winners as [string, string];
    throw ArtifactsError.invalidArgument(
      top === 0
        ? `options ${a} and ${b} exclude each other: set only one`
        : `${sources[a]} and ${sources[b]} are both set: they exclude each other, set only one`,
    );
  }
  for (const name of set) {
    if (name === winners[0]) continue;
    const fallback = specs[name]?.default;
    if (fallback === undefined) {
      delete values[name];
      delete sources[name];
    } else {
      values[name] = fallback;
      sources[name] = 'default';
    }
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
  rules: SettingsRules<D> = {},
): Settings<D> {
  const names = Object.keys(specs);
  return {
    backend,
    specs,
    resolve(options, layers = {}) {
      const given = (options ?? {}) as Record<string, unknown>;
      for (const key of Object.keys(given)) {
        if (key in specs || given[key] === undefined) continue;
        const guess = closestName(key, names);
        throw ArtifactsError.invalidArgument(
          `unknown option ${JSON.stringify(key)} for ${backend}${guess ? `; did you mean ${JSON.stringify(guess)}?` : ''} (known: ${names.join(', ')})`,
        );
      }
      const env = layers.env ?? process.env;
      const values: Record<string, unknown> = {};
      const sources: Record<string, string> = {};
      for (const [name, spec] of Object.entries(specs)) {
        let value: unknown;
        let source: string | undefined;
        if (given[name] !== undefined) {
          value = check(spec, given[name], `option ${name}`);
          source = 'option';
        } else if (layers.uri?.[name] !== undefined) {
          value = checkLayer(spec, layers.uri[name], `${name} (from the URI)`);
          source = 'uri';
        } else if (spec.env !== undefined) {
          const raw = env[spec.env]?.trim();
          if (raw !== undefined && raw !== '') {
            const from = `environment variable ${spec.env}`;
            value = check(spec, parseEnv(spec, raw, from), from);
            source = spec.env;
          }
        }
        if (source === undefined && layers.defaults?.[name] !== undefined) {
          value = checkLayer(
            spec,
            layers.defaults[name],
            `${name} (${layers.defaultsFrom ?? 'a run-time default'})`,
          );
          source = 'default';
        } else if (source === undefined && spec.default !== undefined) {
          value = spec.default;
          source = 'default';
        }
        if (source === undefined) continue;
        values[name] = value;
        sources[name] = source;
      }
      // Secrets before alternatives are picked: a credential another one overrode is still one.
      const secrets: string[] = [];
      for (const variable of rules.secretEnv ?? []) {
        const raw = env[variable]?.trim();
        if (raw) secrets.push(raw);
      }
      for (const [name, spec] of Object.entries(specs)) {
        const value = values[name];
        if (spec.secret && typeof value === 'string' && value !== '') secrets.push(value);
        // A secret given as bytes (a private key read by the caller) is scrubbed as its text.
        if (spec.secret && value instanceof Uint8Array && value.length > 0)
          secrets.push(Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8'));
        if (value !== undefined)
          for (const part of spec.secretsOf?.(value) ?? []) if (part) secrets.push(part);
      }
      for (const group of rules.alternatives ?? []) pickAlternative(group, specs, values, sources);
      for (const [name, spec] of Object.entries(specs)) {
        const value = values[name];
        if (spec.file === undefined || typeof value !== 'string') continue;
        values[name] = readSettingFile(value, `${spec.file} (${origin(name, sources[name])})`);
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
        const choices =
          spec.type === 'enum' ? ` (${(spec.values ?? []).map((v) => `\`${v}\``).join(', ')})` : '';
        const secret = spec.secret ? ' (secret)' : '';
        return `| \`${name}\` | ${cell(fallback)} | ${spec.env ? `\`${spec.env}\`` : '—'} | ${cell(spec.help)}${choices}${secret} |`;
      });
      return [
        '| option | default | environment variable | meaning |',
        '| --- | --- | --- | --- |',
        ...rows,
      ].join('\n');
    },
  };
}

/**
 * The options of a connection pool (`ConnectionPool`), declared once for every backend that keeps
 * one (FTP, SFTP): `maxConnections` (`<prefix>_MAX_CONNECTIONS`, default 4) and `idleTimeoutMs`
 * (`<prefix>_IDLE_TIMEOUT_MS`, default 60 s). `connections` names what the pool holds ("SSH
 * connections"); `note` adds what else the bound means for this protocol. Spread it into the
 * backend's `defineSettings` declaration.
 */
export function connectionPoolSettings(prefix: string, text: { connections: string; note?: string }) {
  return {
    maxConnections: {
      type: 'integer',
      env: `${prefix}_MAX_CONNECTIONS`,
      min: 1,
      default: 4,
      help: `${text.connections} open at once, at most; opened one at a time, only when needed${text.note ? `. ${text.note}` : ''}`,
    },
    idleTimeoutMs: {
      type: 'integer',
      env: `${prefix}_IDLE_TIMEOUT_MS`,
      min: 0,
      default: 60000,
      help: 'an idle connection is closed after this long (servers drop idle sessions themselves); `0` keeps it until `repo.close()`',
    },
  } as const satisfies Record<string, SettingSpec<number>>;
}
