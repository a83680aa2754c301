import { ArtifactsError, type StatInfo } from '@artifacts/core';
import type { CommandContext } from './context.js';
import { globMatcher, noMatch, splitGlob } from './select.js';
import { type OpenedTarget, openTarget } from './target.js';

/** The repositories one command opened; all closed when it ends. */
export class Session {
  readonly #opened: OpenedTarget[] = [];

  constructor(readonly context: CommandContext) {}

  async open(uri: string): Promise<OpenedTarget> {
    const opened = await openTarget(uri);
    this.#opened.push(opened);
    return opened;
  }

  async close(): Promise<void> {
    await Promise.all(this.#opened.splice(0).map((opened) => opened.repo.close().catch(() => undefined)));
  }
}

export async function withSession<T>(
  context: CommandContext,
  fn: (session: Session) => Promise<T>,
): Promise<T> {
  const session = new Session(context);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Stat of the artifact a target names; '' (a store's root) is always a directory. */
export async function statTarget(opened: OpenedTarget, signal: AbortSignal): Promise<StatInfo> {
  const { repo, path, target } = opened;
  if (path === '') return { path: '', isDir: true };
  try {
    return await repo.stat(path, { signal });
  } catch (error) {
    if (ArtifactsError.is(error, 'not_found'))
      throw ArtifactsError.notFound(target.display, { cause: error, context: { path } });
    throw error;
  }
}

/** One file or directory a source argument names. */
export interface Located {
  opened: OpenedTarget;
  /** Its key in `opened.repo`. */
  path: string;
  /** Its name as the user sees it: the last segment, or the path below the glob's base. */
  name: string;
  isDir: boolean;
  fileSize?: number;
  /** Printable (redacted) form. */
  display: string;
  /** Whether it came from a glob. */
  globbed: boolean;
}

export function relativeTo(base: string, path: string): string {
  return base === '' ? path : path.slice(base.length + 1);
}

/**
 * What a source argument names: itself (which must exist), or, for a quoted glob, every entry
 * below the glob's base that matches it — at least one, or the command fails (never a silent
 * success).
 */
export async function locate(session: Session, uri: string): Promise<Located[]> {
  const { signal } = session.context;
  const glob = splitGlob(uri);
  if (!glob) {
    const opened = await session.open(uri);
    const info = await statTarget(opened, signal);
    return [
      {
        opened,
        path: opened.path,
        name: opened.target.name,
        isDir: info.isDir,
        ...(info.fileSize === undefined ? {} : { fileSize: info.fileSize }),
        display: opened.target.display,
        globbed: false,
      },
    ];
  }
  const opened = await session.open(glob.base);
  const info = await statTarget(opened, signal);
  if (!info.isDir) throw noMatch(glob.pattern, opened.target.display);
  const entries = glob.deep
    ? await opened.repo.listArtifactsRecursive(opened.path, { signal })
    : await opened.repo.listArtifacts(opened.path, { signal });
  const matches = globMatcher(glob.pattern);
  const found: Located[] = [];
  for (const entry of entries) {
    const name = relativeTo(opened.path, entry.path);
    if (!matches(name)) continue;
    found.push({
      opened,
      path: entry.path,
      name,
      isDir: entry.isDir,
      ...(entry.fileSize === undefined ? {} : { fileSize: entry.fileSize }),
      display: `${opened.target.display.replace(/\/$/, '')}/${name}`,
      globbed: true,
    });
  }
  if (found.length === 0) throw noMatch(glob.pattern, opened.target.display);
  return found;
}

/** Every source argument located, in order. */
export async function locateAll(session: Session, uris: readonly string[]): Promise<Located[]> {
  const out: Located[] = [];
  for (const uri of uris) out.push(...(await locate(session, uri)));
  return out;
}
