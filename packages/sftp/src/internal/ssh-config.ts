import { ArtifactsError } from '@artifacts/core';
import SSHConfig, { type Directive, LineType, type Section } from 'ssh-config';
import { matchPatternList } from './patterns.js';

/** Keywords whose values add up over sections (the others: the first value wins). */
const REPEATABLE = new Set([
  'identityfile',
  'certificatefile',
  'localforward',
  'remoteforward',
  'dynamicforward',
]);

/**
 * `Match` conditions of OpenSSH that this backend does not evaluate: `exec` would run a shell
 * command from inside a storage library, the others need what ssh itself has (interfaces, tags,
 * a session). A `Match` line with one of them never applies, negated (`!exec`) or not.
 */
const NOT_EVALUATED = new Set(['exec', 'localnetwork', 'tagged', 'command', 'sessiontype', 'version']);

/** A directive's words (quotes removed). */
const words = (line: Directive): string[] =>
  typeof line.value === 'string' ? [line.value] : line.value.map(({ val }) => val);

/**
 * Applies an ssh_config text to a host as OpenSSH (9.2's `ssh -G`) does, with `ssh-config` as
 * the parser only: `Host` lines test each word as one case-sensitive pattern against the name
 * given; `Match host`/`originalhost` test comma-separated pattern-lists without case, `Match
 * user`/`localuser` with it; `!` negates a pattern or a condition; the first value of a keyword
 * wins; `Match final` (and `canonical`) apply in a second pass in which `Host` tests the name
 * after `HostName`. Returns each keyword (in lowercase) with its words.
 */
export function computeSshConfig(
  text: string,
  query: { host: string; user?: string; localUser: string },
): Map<string, string[]> {
  const config = SSHConfig.parse(text);
  const values = new Map<string, string[]>();
  const set = (line: Directive) => {
    const key = line.param.toLowerCase();
    if (REPEATABLE.has(key)) values.set(key, [...(values.get(key) ?? []), ...words(line)]);
    else if (!values.has(key)) values.set(key, words(line));
  };
  if (query.user !== undefined) values.set('user', [query.user]);
  // The name after HostName (`%h` is the name given), and the user in force, at this point.
  const hostName = () => values.get('hostname')?.[0]?.replace(/%h/g, query.host) ?? query.host;
  const user = () => values.get('user')?.[0] ?? query.localUser;
  let finalPass = false;

  const matchApplies = (criteria: string[], final: boolean): boolean => {
    let applies = true;
    for (let i = 0; i < criteria.length; i++) {
      const negated = criteria[i]!.startsWith('!');
      const attribute = criteria[i]!.slice(negated ? 1 : 0).toLowerCase();
      let result: boolean;
      if (attribute === 'all') result = true;
      else if (attribute === 'canonical' || attribute === 'final') {
        if (attribute === 'final') finalPass = true;
        result = final;
      } else {
        const argument = criteria[++i];
        if (argument === undefined) {
          throw ArtifactsError.invalidArgument(`ssh config: Match ${attribute} needs an argument`);
        }
        if (NOT_EVALUATED.has(attribute)) return false;
        if (attribute === 'host') result = matchPatternList(hostName(), argument, true) === 1;
        else if (attribute === 'originalhost') result = matchPatternList(query.host, argument, true) === 1;
        else if (attribute === 'user') result = matchPatternList(user(), argument, false) === 1;
        else if (attribute === 'localuser') result = matchPatternList(query.localUser, argument, false) === 1;
        else throw ArtifactsError.invalidArgument(`ssh config: unsupported Match attribute "${attribute}"`);
      }
      if (result === negated) applies = false;
    }
    return applies;
  };

  const pass = (final: boolean) => {
    const host = final ? hostName() : query.host;
    for (const line of config) {
      if (line.type !== LineType.DIRECTIVE) continue;
      const param = line.param.toLowerCase();
      if (param !== 'host' && param !== 'match') {
        set(line);
        continue;
      }
      const applies =
        param === 'host'
          ? matchPatternList(host, words(line), false) === 1
          : matchApplies(words(line), final);
      if (!applies) continue;
      for (const inner of (line as Section).config) if (inner.type === LineType.DIRECTIVE) set(inner);
    }
  };
  pass(false);
  if (finalPass) pass(true);
  return values;
}
