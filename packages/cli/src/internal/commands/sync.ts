import { createHash } from 'node:crypto';
import { type ArtifactRepository, ArtifactsError, joinKey } from '@artifacts/core';
import type { CommandContext, RegisterCommand } from '../context.js';
import { mapPool } from '../pool.js';
import { human } from '../progress.js';
import { type SelectOptions, selector } from '../select.js';
import { relativeTo, type Session, statTarget, withSession } from '../session.js';
import type { OpenedTarget } from '../target.js';
import { type FileCopy, plural, runCopies } from '../transfer.js';
import { withDryRun, withSelect } from './options.js';

interface TreeFile {
  path: string;
  size?: number;
}

interface Tree {
  opened: OpenedTarget;
  /** The key the tree is rooted at in `opened.repo`. */
  root: string;
  files: Map<string, TreeFile>;
  exists: boolean;
}

async function readTree(
  session: Session,
  uri: string,
  select: (rel: string) => boolean,
  mustExist: boolean,
): Promise<Tree> {
  const { signal } = session.context;
  const opened = await session.open(uri);
  const files = new Map<string, TreeFile>();
  let info: Awaited<ReturnType<typeof statTarget>> | undefined;
  try {
    info = await statTarget(opened, signal);
  } catch (error) {
    if (mustExist || !ArtifactsError.is(error, 'not_found')) throw error;
    return { opened, root: opened.path, files, exists: false };
  }
  if (!info.isDir) {
    throw new ArtifactsError(
      'failed_precondition',
      `${opened.target.display} is a file; sync and check compare directories (use cp for one file)`,
    );
  }
  for (const entry of await opened.repo.listArtifactsRecursive(opened.path, { signal })) {
    if (entry.isDir) continue;
    const rel = relativeTo(opened.path, entry.path);
    if (!select(rel)) continue;
    files.set(rel, { path: entry.path, ...(entry.fileSize === undefined ? {} : { size: entry.fileSize }) });
  }
  return { opened, root: opened.path, files, exists: true };
}

async function digest(repo: ArtifactRepository, path: string, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await repo.openRead(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

type Verdict = 'same' | 'missing' | 'size' | 'newer' | 'content';

/**
 * Whether the destination's copy of `rel` is up to date: same size and not older than the source
 * (aws s3 sync's rule: stores set a file's modification time when it is written), or, with
 * `checksum`, the same SHA-256 of the bytes.
 */
async function compare(
  ctx: CommandContext,
  src: Tree,
  dst: Tree,
  rel: string,
  checksum: boolean,
  useTime: boolean,
): Promise<Verdict> {
  const a = src.files.get(rel)!;
  const b = dst.files.get(rel);
  if (!b) return 'missing';
  if (a.size !== undefined && b.size !== undefined && a.size !== b.size) return 'size';
  if (checksum) {
    const [x, y] = await Promise.all([
      digest(src.opened.repo, a.path, ctx.signal),
      digest(dst.opened.repo, b.path, ctx.signal),
    ]);
    return x === y ? 'same' : 'content';
  }
  if (!useTime) return 'same';
  const [sa, sb] = await Promise.all([
    src.opened.repo.stat(a.path, { signal: ctx.signal }),
    dst.opened.repo.stat(b.path, { signal: ctx.signal }),
  ]);
  // Stores stamp whole seconds (S3's Last-Modified, FTP's MDTM): compared in milliseconds, a local
  // file written in the same second as its upload would look newer than its copy on every sync.
  if (sa.lastModified && sb.lastModified && seconds(sa.lastModified) > seconds(sb.lastModified))
    return 'newer';
  return 'same';
}

async function compareAll(
  ctx: CommandContext,
  src: Tree,
  dst: Tree,
  checksum: boolean,
  useTime: boolean,
): Promise<Map<string, Verdict>> {
  const verdicts = new Map<string, Verdict>();
  const rels = [...src.files.keys()].sort();
  // Comparisons are storage calls (stats, checksums): as many at once as the busier side allows.
  const limit = Math.max(src.opened.repo.maxConcurrency, dst.opened.repo.maxConcurrency);
  await mapPool(rels, limit, async (rel) => {
    verdicts.set(rel, await compare(ctx, src, dst, rel, checksum, useTime));
  });
  return new Map(rels.map((rel) => [rel, verdicts.get(rel)!]));
}

interface SyncOptions extends SelectOptions {
  dryRun?: boolean;
  delete?: boolean;
  checksum?: boolean;
}

export const registerSync: RegisterCommand = (program, context) => {
  withDryRun(
    withSelect(
      program
        .command('sync')
        .description(
          'make DST hold what SRC holds: copy files missing from DST or differing (size, or SRC newer; --checksum: content), between any two URIs',
        )
        .argument('<src>', 'source directory URI')
        .argument('<dst>', 'destination directory URI (created as needed)')
        .option('--delete', 'also remove files in DST that SRC does not have (only among the selected paths)')
        .option(
          '-c, --checksum',
          'compare contents (SHA-256 of both sides, read in full) instead of size and time',
        ),
    ),
  ).action(async (srcUri: string, dstUri: string, options: SyncOptions) => {
    const ctx = context();
    const select = selector(options);
    await withSession(ctx, async (session) => {
      const src = await readTree(session, srcUri, select, true);
      const dst = await readTree(session, dstUri, select, false);
      const verdicts = await compareAll(ctx, src, dst, options.checksum === true, true);
      const copies: FileCopy[] = [];
      for (const [rel, verdict] of verdicts) {
        if (verdict === 'same') continue;
        const file = src.files.get(rel)!;
        copies.push({
          from: src.opened.repo,
          fromPath: file.path,
          to: dst.opened.repo,
          toPath: joinKey(dst.root, rel),
          rel,
          ...(file.size === undefined ? {} : { size: file.size }),
        });
      }
      const extraneous = options.delete
        ? [...dst.files.keys()].filter((rel) => !src.files.has(rel)).sort()
        : [];
      const skipped = verdicts.size - copies.length;
      const bytes = copies.reduce((sum, file) => sum + (file.size ?? 0), 0);
      if (options.dryRun) {
        ctx.output.result(
          { dry_run: true, copied: copies.map((file) => file.rel), deleted: extraneous, skipped, bytes },
          () => [
            ...copies.map((file) => `would copy ${file.rel}`),
            ...extraneous.map((rel) => `would delete ${rel}`),
            `would copy ${plural(copies.length, 'file')} (${human(bytes)}), skip ${skipped}, delete ${extraneous.length}`,
          ],
        );
        return;
      }
      const totals = await runCopies(ctx, 'sync', copies);
      for (const rel of extraneous) {
        await dst.opened.repo.deleteArtifacts(dst.files.get(rel)!.path, { signal: ctx.signal });
      }
      ctx.output.result(
        { copied: copies.map((file) => file.rel), deleted: extraneous, skipped, bytes: totals.bytes },
        () =>
          `synced ${dst.opened.target.display}: copied ${plural(totals.files, 'file')} (${human(totals.bytes)}), skipped ${skipped}, deleted ${extraneous.length}`,
      );
    });
  });

  withSelect(
    program
      .command('check')
      .description(
        'compare two trees (any two URIs): files missing on either side or differing; exit 1 when they differ',
      )
      .argument('<src>', 'source directory URI')
      .argument('<dst>', 'destination directory URI')
      .option('-c, --checksum', 'compare contents (SHA-256 of both sides) instead of sizes'),
  ).action(async (srcUri: string, dstUri: string, options: SelectOptions & { checksum?: boolean }) => {
    const ctx = context();
    const select = selector(options);
    const report = await withSession(ctx, async (session) => {
      const src = await readTree(session, srcUri, select, true);
      const dst = await readTree(session, dstUri, select, true);
      const verdicts = await compareAll(ctx, src, dst, options.checksum === true, false);
      const missing = [...verdicts].filter(([, v]) => v === 'missing').map(([rel]) => rel);
      const differ = [...verdicts].filter(([, v]) => v === 'size' || v === 'content').map(([rel]) => rel);
      const extra = [...dst.files.keys()].filter((rel) => !src.files.has(rel)).sort();
      return {
        match: verdicts.size - missing.length - differ.length,
        missing_on_dst: missing,
        missing_on_src: extra,
        differ,
      };
    });
    const differences = report.missing_on_dst.length + report.missing_on_src.length + report.differ.length;
    ctx.output.result(report, () => [
      ...report.missing_on_dst.map((rel) => `missing on destination: ${rel}`),
      ...report.missing_on_src.map((rel) => `only on destination: ${rel}`),
      ...report.differ.map((rel) => `differs: ${rel}`),
      `${plural(report.match, 'matching file')}, ${plural(differences, 'difference')}`,
    ]);
    if (differences > 0) {
      throw new ArtifactsError(
        'failed_precondition',
        `the trees differ: ${plural(differences, 'difference')}`,
      );
    }
  });
};
