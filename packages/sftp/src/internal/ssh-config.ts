import { readdirSync, statSync } from 'node:fs';
import { ArtifactsError, expandHome, readSettingFile } from '@artifacts/core';
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

/** OpenSSH's limit of nested `Include`s (readconf.c READCONF_MAX_DEPTH). */
const MAX_INCLUDE_DEPTH = 16;

const invalid = (where: string, message: string) =>
  ArtifactsError.invalidArgument(`ssh config ${where}: ${message}`);

/**
 * OpenSSH's `argv_split`: words separated by spaces or tabs; `"…"` and `'…'` quote (spaces
 * included); a backslash escapes a quote, a backslash or (outside quotes) a space; a word starting
 * with `#` ends the line.
 */
export function splitWords(text: string, where: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === ' ' || text[i] === '\t') {
      i++;
      continue;
    }
    if (text[i] === '#') break;
    let word = '';
    let quote = '';
    for (; i < text.length; i++) {
      const c = text[i]!;
      const escaped = text[i + 1];
      if (c === '\\' && escaped !== undefined && (`'"\\`.includes(escaped) || (!quote && escaped === ' ')))
        word += text[++i];
      else if (!quote && (c === ' ' || c === '\t')) break;
      else if (!quote && (c === '"' || c === "'")) quote = c;
      else if (quote && c === quote) quote = '';
      else word += c;
    }
    if (quote) throw invalid(where, 'invalid quotes');
    words.push(word);
  }
  return words;
}

interface Line {
  keyword: string;
  args: string[];
  where: string;
}

/** A config file's lines as OpenSSH reads them: `Keyword args`, `Keyword=args`; `#` comments. */
function parseLines(text: string, file: string): Line[] {
  const lines: Line[] = [];
  text.split('\n').forEach((raw, index) => {
    const where = `${file} line ${index + 1}`;
    const [, keyword = '', rest = ''] = /^[ \t]*([^ \t\r"=]*)[ \t]*(?:=[ \t]*)?(.*)$/s.exec(
      raw.replace(/[ \t\r\n\f]+$/, ''),
    )!;
    if (keyword === '' || keyword.startsWith('#')) return;
    const args = splitWords(rest, where);
    if (args.length === 0) throw invalid(where, `no argument after keyword "${keyword}"`);
    lines.push({ keyword: keyword.toLowerCase(), args, where });
  });
  return lines;
}

/** A glob(3) pattern of one path component as a RegExp: `*`, `?`, `[…]`/`[!…]`; no leading dot. */
function componentPattern(pattern: string): RegExp {
  let body = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const end = c === '[' ? pattern.indexOf(']', i + 2) : -1;
    if (c === '*') body += '[^/]*';
    else if (c === '?') body += '[^/]';
    else if (end > 0) {
      const set = pattern.slice(i + 1, end);
      const negated = set[0] === '!' || set[0] === '^';
      body += `[${negated ? '^' : ''}${set.slice(negated ? 1 : 0).replace(/[\\\]^[]/g, '\\$&')}]`;
      i = end;
    } else body += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern.startsWith('.') ? '' : '(?!\\.)'}${body}$`, 's');
}

/**
 * glob(3) as OpenSSH calls it for `Include`: the files (not directories) a pattern names, sorted
 * bytewise as glibc sorts them under OpenSSH's C collation (a directory, read by OpenSSH as an
 * empty file, is left out).
 */
function glob(pattern: string): string[] {
  let paths = [pattern.startsWith('/') ? '/' : ''];
  for (const part of pattern.split('/').filter(Boolean)) {
    if (!/[*?[]/.test(part)) {
      paths = paths.map((dir) => `${dir}${dir && !dir.endsWith('/') ? '/' : ''}${part}`);
      continue;
    }
    const re = componentPattern(part);
    paths = paths.flatMap((dir) => {
      let names: string[];
      try {
        names = readdirSync(dir || '.');
      } catch {
        return [];
      }
      return names
        .filter((name) => re.test(name))
        .map((name) => `${dir}${dir && !dir.endsWith('/') ? '/' : ''}${name}`);
    });
  }
  return paths
    .filter((path) => statSync(path, { throwIfNoEntry: false })?.isFile())
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * Applies an ssh_config file (the user's: `Include` paths are relative to ~/.ssh) to a host as
 * OpenSSH (9.2's `ssh -G`) does: `Host` lines test each word as one case-sensitive pattern against
 * the name given; `Match host`/`originalhost` test comma-separated pattern-lists without case,
 * `Match user`/`localuser` with it; `!` negates a pattern or a condition; the first value of a
 * keyword wins; `Include` reads the files its globs name (missing ones skipped) at its place, under
 * the condition of the block it is in, without letting their `Host`/`Match` lines change that
 * block; `Match final` (and `canonical`) apply in a second pass in which `Host` tests the name after
 * `HostName`. Returns each keyword (in lowercase) with its words.
 */
export function computeSshConfig(
  text: string,
  file: string,
  query: { host: string; user?: string; localUser: string },
): Map<string, string[]> {
  const lines = parseLines(text, file);
  const values = new Map<string, string[]>();
  const set = ({ keyword, args, where }: Line) => {
    if (keyword === 'identityfile' && args.length > 1) {
      throw invalid(where, 'IdentityFile takes one path (quote a path with spaces: "…")');
    }
    if (REPEATABLE.has(keyword)) values.set(keyword, [...(values.get(keyword) ?? []), ...args]);
    else if (!values.has(keyword)) values.set(keyword, args);
  };
  if (query.user !== undefined) values.set('user', [query.user]);
  // The name after HostName (`%h` is the name given), and the user in force, at this point.
  const hostName = () => values.get('hostname')?.[0]?.replace(/%h/g, query.host) ?? query.host;
  const user = () => values.get('user')?.[0] ?? query.localUser;
  let finalPass = false;

  const matchApplies = (criteria: string[], final: boolean, where: string): boolean => {
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
        if (argument === undefined) throw invalid(where, `Match ${attribute} needs an argument`);
        if (NOT_EVALUATED.has(attribute)) return false;
        if (attribute === 'host') result = matchPatternList(hostName(), argument, true) === 1;
        else if (attribute === 'originalhost') result = matchPatternList(query.host, argument, true) === 1;
        else if (attribute === 'user') result = matchPatternList(user(), argument, false) === 1;
        else if (attribute === 'localuser') result = matchPatternList(query.localUser, argument, false) === 1;
        else throw invalid(where, `unsupported Match attribute "${attribute}"`);
      }
      if (result === negated) applies = false;
    }
    return applies;
  };

  /**
   * One file's lines from `active` (the condition in force where it is read). As in OpenSSH, a file
   * included where that condition is false applies none of its lines, whatever its `Host` lines say.
   */
  const apply = (fileLines: Line[], final: boolean, active: boolean, depth: number) => {
    const neverMatch = !active;
    for (const line of fileLines) {
      if (line.keyword === 'host') {
        const host = final ? hostName() : query.host;
        active = !neverMatch && matchPatternList(host, line.args, false) === 1;
      } else if (line.keyword === 'match') {
        active = matchApplies(line.args, final, line.where) && !neverMatch;
      } else if (line.keyword === 'include') {
        for (const arg of line.args) {
          if (arg.startsWith('~') && arg !== '~' && !arg.startsWith('~/')) {
            throw invalid(line.where, `Include ${arg}: only ~ (this user's home) is expanded`);
          }
          const pattern = expandHome(arg.startsWith('/') || arg.startsWith('~') ? arg : `~/.ssh/${arg}`);
          for (const path of glob(pattern)) {
            if (depth >= MAX_INCLUDE_DEPTH) {
              throw invalid(
                line.where,
                `Include nested more than ${MAX_INCLUDE_DEPTH} deep (a file including itself?)`,
              );
            }
            const included = readSettingFile(path, 'ssh config file', { optional: true });
            if (included !== undefined) apply(parseLines(included, path), final, active, depth + 1);
          }
        }
      } else if (active) set(line);
    }
  };
  apply(lines, false, true, 0);
  if (finalPass) apply(lines, true, true, 0);
  return values;
}
