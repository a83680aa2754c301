import type { DriverListOptions } from './driver.js';

/**
 * The object names of an object store's keys under a repository root (`root` '' = the bucket's or
 * container's root; no leading or trailing slash).
 */
export class ObjectNames {
  constructor(readonly root: string) {}

  /** The object name of `key` ('' = the root itself). */
  name(key: string): string {
    if (key === '') return this.root;
    return this.root === '' ? key : `${this.root}/${key}`;
  }

  /** The listing prefix of the directory `key`: '' when it is the whole bucket, else `name/`. */
  dirPrefix(key: string): string {
    const name = this.name(key);
    return name === '' ? '' : `${name}/`;
  }

  /** The key of an object name listed under the root. */
  relative(name: string): string {
    return this.root === '' ? name : name.slice(this.root.length + 1);
  }
}

/** One page of a listing: its items, and the token of the next page (none: the last). */
export interface ListPage<P> {
  page: P;
  next?: string | undefined;
}

/**
 * The pages of a listing, each one request of its own sent through core's `options.page` (which
 * repeats a page that failed with a temporary error): a listing broken on page 2 resumes at page 2,
 * never repeating page 1's entries. `request` gets the previous page's token (undefined first) and
 * must throw mapped errors (`ArtifactsError`s), so that core sees which failures are temporary.
 */
export async function* listPages<P>(
  request: (token: string | undefined) => Promise<ListPage<P>>,
  options: Pick<DriverListOptions, 'page' | 'signal'>,
): AsyncIterable<P> {
  let token: string | undefined;
  do {
    options.signal?.throwIfAborted();
    const current = token;
    const next = await (options.page ? options.page(() => request(current)) : request(current));
    yield next.page;
    token = next.next || undefined;
  } while (token);
}

/** The date an HTTP date header (`Last-Modified`) names; undefined when there is none or it is no date. */
export function parseHttpDate(value: string | undefined): Date | undefined {
  const time = value === undefined ? Number.NaN : Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}

/**
 * The range a `Content-Range: bytes <start>-<end>/<total>` header names (`total` undefined for
 * `*`); undefined when there is none or it is not of that form.
 */
export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((value ?? '').trim());
  if (!match) return undefined;
  return {
    start: Number(match[1]),
    end: Number(match[2]),
    total: match[3] === '*' ? undefined : Number(match[3]),
  };
}
