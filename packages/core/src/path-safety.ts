import { ArtifactsError } from './errors.js';

/** How many rounds of percent-decoding a path is checked through (`%25252e` → `%252e` → `%2e` → `.`). */
const MAX_DECODE_ROUNDS = 8;

export interface ValidatePathOptions {
  /** Whether '' (the repository root) is acceptable. Default true. */
  allowRoot?: boolean;
  /** Named in the error message: "artifact path", "listed name", "query parameter 'path'"… */
  label?: string;
}

/**
 * The one path validator. Every artifact path that reaches storage, the server or a local download
 * directory passes through here first. Accepts relative POSIX paths; refuses `..` segments,
 * absolute paths, backslashes, drive letters, NUL and control characters, `#`, empty segments,
 * and anything that turns into one of those after percent-decoding once or repeatedly.
 *
 * Returns the normalized key: no leading `./`, no `.` segments, no trailing slash; '' for the root.
 */
export function validateArtifactPath(
  path: string | undefined | null,
  options: ValidatePathOptions = {},
): string {
  const label = options.label ?? 'artifact path';
  if (path === undefined || path === null) path = '';
  if (typeof path !== 'string') {
    throw ArtifactsError.invalidArgument(`${label} must be a string, got ${typeof path}`);
  }
  const refuse = (why: string): never => {
    throw ArtifactsError.invalidArgument(`${label} ${JSON.stringify(path)} is refused: ${why}`, {
      context: { path },
    });
  };

  for (const form of decodedForms(path)) checkForm(form, refuse);

  const segments = path.split('/');
  if (segments.at(-1) === '') segments.pop();
  const kept: string[] = [];
  for (const segment of segments) {
    if (segment === '.') continue;
    if (segment === '') refuse('it contains an empty segment ("//")');
    kept.push(segment);
  }
  const key = kept.join('/');
  if (key === '' && options.allowRoot === false)
    refuse('it names the repository root, a file path is needed');
  return key;
}

/** The path itself plus every distinct result of decoding it repeatedly. */
function decodedForms(path: string): string[] {
  const forms = [path];
  let current = path;
  for (let i = 0; i < MAX_DECODE_ROUNDS && current.includes('%'); i++) {
    const next = lenientDecode(current);
    if (next === current) break;
    forms.push(next);
    current = next;
  }
  return forms;
}

/** Decodes every valid %XX escape, leaving malformed ones as they are (so '100%.txt' stays valid). */
function lenientDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) =>
          String.fromCharCode(Number.parseInt(hex, 16)),
        );
      }
    });
  }
}

function checkForm(form: string, refuse: (why: string) => never): void {
  if (/[\u0000-\u001f\u007f]/.test(form)) refuse('it contains a NUL or control character');
  if (form.includes('\\')) refuse('it contains a backslash');
  if (form.includes('#')) refuse("it contains '#'");
  if (form.startsWith('/')) refuse('it is absolute, a relative path is needed');
  if (/^[a-zA-Z]:/.test(form)) refuse('it starts with a drive letter');
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(form)) refuse('it is a URI, a relative path is needed');
  if (form.split('/').some((segment) => segment === '..')) refuse("it contains a '..' segment");
}

/** Joins validated keys: `joinKey('a', 'b/c')` → 'a/b/c'; '' parts vanish. */
export function joinKey(...parts: string[]): string {
  return parts.filter((part) => part !== '').join('/');
}

/** The last segment of a key or local path. */
export function baseName(key: string): string {
  const trimmed = key.replace(/[\\/]+$/, '');
  const index = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return index === -1 ? trimmed : trimmed.slice(index + 1);
}

/** The parent key of a key ('' for a top-level key). */
export function parentKey(key: string): string {
  const index = key.lastIndexOf('/');
  return index === -1 ? '' : key.slice(0, index);
}
