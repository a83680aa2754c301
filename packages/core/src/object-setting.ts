import { ArtifactsError } from './errors.js';

/**
 * The type of one member of an object setting: a string, a boolean, a date (an ISO 8601 string or
 * epoch milliseconds, made a `Date`), a map of strings, or one of a list of strings (matched in any
 * case, the declared spelling kept).
 */
export type MemberType = 'string' | 'boolean' | 'date' | 'map' | readonly string[];

/** A setting whose value is a JSON object (the variable's text) or an object (the option) of declared members. */
export interface ObjectSettingSpec {
  /** Prefixes every message (`@artifacts/s3`). */
  backend: string;
  /** What one member is, in messages (`upload argument`). */
  noun: string;
  members: Readonly<Record<string, MemberType>>;
  /** A valid value, shown when the text is not JSON. */
  example: string;
}

export type ObjectSettingValue = Record<string, string | boolean | Date | Record<string, string>>;

/**
 * A setting made of named members, declared once (boto3's upload `ExtraArgs`): spread into a
 * `defineSettings` declaration, it parses the variable's JSON or the option's object, refuses unknown
 * members naming each (and the allowed ones) and a member of the wrong type, and never echoes a
 * value (one may be a key).
 */
export function objectSetting(spec: ObjectSettingSpec) {
  const allowed = Object.keys(spec.members).sort();
  return {
    type: 'custom' as const,
    parse(value: Record<string, unknown> | string, from: string): ObjectSettingValue {
      const invalid = (message: string) =>
        ArtifactsError.invalidArgument(`${spec.backend}: ${from}: ${message}`);
      let parsed: unknown = value;
      if (typeof value === 'string') {
        try {
          parsed = JSON.parse(value);
        } catch (error) {
          const why = error instanceof Error ? error.message : String(error);
          throw invalid(`is not valid JSON (${why}); expected an object such as ${spec.example}`);
        }
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw invalid(`must be a JSON object of ${spec.noun}s`);
      const unknown = Object.keys(parsed).filter((name) => !Object.hasOwn(spec.members, name));
      if (unknown.length > 0)
        throw invalid(`unknown ${spec.noun}(s) ${unknown.join(', ')}; allowed: ${allowed.join(', ')}`);
      const out: ObjectSettingValue = {};
      for (const [name, raw] of Object.entries(parsed))
        out[name] = member(spec.members[name]!, name, raw, invalid);
      return out;
    },
  };
}

function member(
  type: MemberType,
  name: string,
  raw: unknown,
  invalid: (message: string) => ArtifactsError,
): string | boolean | Date | Record<string, string> {
  if (typeof type !== 'string') {
    const found =
      typeof raw === 'string' ? type.find((v) => v.toLowerCase() === raw.toLowerCase()) : undefined;
    if (found === undefined) throw invalid(`${name} must be one of ${type.join(', ')}`);
    return found;
  }
  if (type === 'string' || type === 'boolean') {
    if (typeof raw !== type)
      throw invalid(`${name} must be ${type === 'string' ? 'a string' : 'true or false'}`);
    return raw as string | boolean;
  }
  if (type === 'date') {
    const date = typeof raw === 'string' || typeof raw === 'number' ? new Date(raw) : undefined;
    if (!date || Number.isNaN(date.getTime()))
      throw invalid(`${name} must be a date (ISO 8601 string or epoch milliseconds)`);
    return date;
  }
  const values = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? Object.values(raw) : [0];
  if (values.some((v) => typeof v !== 'string')) throw invalid(`${name} must be an object of string values`);
  return { ...(raw as Record<string, string>) };
}

/** What a credentials setting holds: the credentials themselves, or a provider function of them. */
export interface CredentialsSettingSpec<C> {
  /** Prefixes the message (`@artifacts/s3`). */
  backend: string;
  /** Members that must be non-empty strings. */
  required: readonly (keyof C & string)[];
  /** Members shown as optional in the message. */
  optional?: readonly (keyof C & string)[];
  /** Members that are credentials, scrubbed from every message. */
  secret: readonly (keyof C & string)[];
  /** Members that must be functions: a provider object (Azure's `TokenCredential`, `getToken`). */
  methods?: readonly (keyof C & string)[];
  /** Whether a provider function is accepted in place of the object (default true). */
  provider?: boolean;
  /**
   * Which objects `required` applies to (default all): GCS's service-account keys, not the other
   * key types its library checks itself.
   */
  requiredOf?: (value: Record<string, unknown>) => boolean;
  /** What the value must be, in the message, when the members alone would not say it. */
  shape?: string;
}

/**
 * A setting of credentials given in code: an object whose `required` members are non-empty strings
 * (and `methods` functions), or a provider function returning one (the SDKs' `fromIni()`) unless
 * `provider` is false. Spread into a declaration, it refuses anything else at open, naming the option
 * and never echoing the value, and lists the object's `secret` members for scrubbing.
 */
export function credentialsSetting<C extends object>(spec: CredentialsSettingSpec<C>) {
  const members = [
    ...spec.required,
    ...(spec.optional ?? []).map((name) => `${name}?`),
    ...(spec.methods ?? []).map((name) => `${name}()`),
  ];
  const shape =
    spec.shape ??
    `{ ${members.join(', ')} }${spec.required.length > 0 ? ' with non-empty strings' : ''}${spec.provider === false ? '' : ', or a provider function'}`;
  return {
    type: 'custom' as const,
    parse(value: C | (() => Promise<C>), from: string): C | (() => Promise<C>) {
      if (typeof value === 'function' && spec.provider !== false) return value;
      const given = value as Record<string, unknown> | null;
      if (
        !given ||
        typeof given !== 'object' ||
        Array.isArray(given) ||
        ((spec.requiredOf?.(given) ?? true) &&
          spec.required.some((name) => !given[name] || typeof given[name] !== 'string')) ||
        (spec.methods ?? []).some((name) => typeof given[name] !== 'function')
      )
        throw ArtifactsError.invalidArgument(`${spec.backend}: ${from} must be ${shape}`);
      return value;
    },
    secretsOf: (value: C | (() => Promise<C>)) =>
      typeof value === 'function'
        ? []
        : spec.secret.map((name) => {
            const secret = value[name];
            return typeof secret === 'string' ? secret : undefined;
          }),
  };
}

/**
 * `credentialsSetting` without a provider function: the object alone, typed as one (GCS's key
 * object, Azure's `TokenCredential`).
 */
export function credentialsObjectSetting<C extends object>(
  spec: Omit<CredentialsSettingSpec<C>, 'provider'>,
) {
  const setting = credentialsSetting<C>({ ...spec, provider: false });
  return {
    type: setting.type,
    parse: (value: C, from: string): C => setting.parse(value, from) as C,
    secretsOf: (value: C) => setting.secretsOf(value),
  };
}
