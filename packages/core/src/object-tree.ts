import type { DriverEntry, DriverListOptions } from './driver.js';
import { type ListPage, listPages, type ObjectNames } from './object-store.js';

/** One object of a listing page, by its name in the store. */
export interface ListedObject {
  name: string;
  size: number;
  /** The store marks it as a folder (Azure's `hdi_isfolder`); a name ending in '/' always is one. */
  folder?: boolean;
}

/** One page of an object store's listing: objects, and the common prefixes of a delimited one. */
export interface ObjectListing {
  objects: readonly ListedObject[];
  prefixes?: readonly string[];
}

/** One listing request an object store's driver sends. */
export interface ObjectListRequest {
  /** The operation, for error messages (`list`, `stat`). */
  what: string;
  /** The repository key listed ('' = the root). */
  key: string;
  /** The store's prefix: '' (the whole bucket) or a name ending in '/'. */
  prefix: string;
  /** Everything below `prefix`; otherwise delimited by '/' (direct children and common prefixes). */
  recursive: boolean;
  /** The previous page's token; undefined for the first page. */
  token: string | undefined;
  /** At most this many results (a probe); undefined = the driver's page size. */
  limit?: number;
  signal?: AbortSignal | undefined;
}

/**
 * An object store's listings over keys under a repository root, from one page request of the
 * driver's: pages through core's retry (`listPages`), names turned into keys, folder markers (a
 * zero-length `dir/`, or a blob the store marks as a folder) and names no path can have (`a//b`)
 * never listed as files — a directory
 * in a delimited listing, yielded as markers only when `deleteTree` asks — and each directory once
 * (fake-gcs-server repeats every prefix on every page).
 */
export class ObjectTree {
  readonly #names: ObjectNames;
  readonly #listPage: (request: ObjectListRequest) => Promise<ListPage<ObjectListing>>;

  constructor(
    names: ObjectNames,
    listPage: (request: ObjectListRequest) => Promise<ListPage<ObjectListing>>,
  ) {
    this.#names = names;
    this.#listPage = listPage;
  }

  /** The driver's `list`: must throw mapped errors from `listPage`, so that core sees which are temporary. */
  async *list(key: string, options: DriverListOptions): AsyncIterable<DriverEntry> {
    const prefix = this.#names.dirPrefix(key);
    const { recursive, signal } = options;
    const seen = new Set<string>();
    const dir = (name: string): DriverEntry | undefined => {
      const dirKey = this.#names.relative(name).replace(/\/+$/, '');
      if (dirKey === key || dirKey.split('/').includes('') || seen.has(dirKey)) return undefined;
      seen.add(dirKey);
      return { key: dirKey, isDir: true };
    };
    const pages = listPages(
      (token) => this.#listPage({ what: 'list', key, prefix, recursive, token, signal }),
      options,
    );
    for await (const { objects, prefixes = [] } of pages) {
      for (const name of prefixes) {
        const entry = dir(name);
        if (entry) yield entry;
      }
      for (const object of objects) {
        const objectKey = this.#names.relative(object.name);
        if (objectKey === '') continue;
        // A name no artifact path can have (`a//b`, `dir/`) is never a file: a marker to delete.
        if (!object.folder && !objectKey.split('/').includes('')) {
          yield { key: objectKey, isDir: false, size: object.size };
        } else if (options.markers) {
          yield { key: objectKey, isDir: false, size: 0, marker: true };
        } else if (!recursive) {
          const entry = dir(object.name);
          if (entry) yield entry;
        }
      }
    }
  }

  /** Whether anything (a file or a folder marker) lies under `key/`: a directory's `stat`. */
  async hasChildren(key: string, what: string, signal?: AbortSignal): Promise<boolean> {
    const prefix = this.#names.dirPrefix(key);
    const request = { what, key, prefix, recursive: true, token: undefined, limit: 1, signal };
    const { page } = await this.#listPage(request);
    return page.objects.length > 0;
  }
}

/**
 * `run(what, key, call)`: the call, its failure replaced by `map`'s error (what failed, of which
 * key) — an object store's one wrapper around each SDK call.
 */
export function mappedCalls(
  map: (error: unknown, what: string, key: string | undefined) => unknown,
): <T>(what: string, key: string | undefined, call: () => Promise<T>) => Promise<T> {
  return async (what, key, call) => {
    try {
      return await call();
    } catch (error) {
      throw await map(error, what, key);
    }
  };
}
