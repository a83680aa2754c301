import { mkdir, stat } from 'node:fs/promises';
import { ArtifactsError, toArtifactsError } from '@artifacts/core';
import type { RegisterCommand } from '../context.js';
import { createProgress, human } from '../progress.js';
import { isFiltered, type SelectOptions, selector } from '../select.js';
import { locateAll, withSession } from '../session.js';
import { openAt } from '../target.js';
import { expandCopies, plural, reportDryRun, runCopies } from '../transfer.js';
import { withDryRun, withRecursive, withSelect } from './options.js';

interface DownloadOptions extends SelectOptions {
  dryRun?: boolean;
  recursive?: boolean;
}

async function ensureDirectory(dst: string, create: boolean): Promise<void> {
  const existing = await stat(dst).catch((error: unknown) => {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw toArtifactsError(error, `download destination ${JSON.stringify(dst)}`);
  });
  if (existing && !existing.isDirectory()) {
    throw new ArtifactsError(
      'failed_precondition',
      `download destination ${JSON.stringify(dst)} is not a directory`,
    );
  }
  if (!existing && create) await mkdir(dst, { recursive: true });
}

export const registerDownload: RegisterCommand = (program, context) => {
  withDryRun(
    withSelect(
      withRecursive(
        program
          .command('download')
          .description(
            'download files or directories to <dst>/<last segment of uri> and print the paths written',
          )
          .argument(
            '<uri...>',
            'file or directory URIs (or quoted globs), then the local directory (default ".", created if missing)',
          ),
      ),
    ),
  ).action(async (args: string[], options: DownloadOptions) => {
    const ctx = context();
    const uris = args.length === 1 ? args : args.slice(0, -1);
    const dst = args.length === 1 ? '.' : args.at(-1)!;
    await withSession(ctx, async (session) => {
      const sources = await locateAll(session, uris);
      await ensureDirectory(dst, !options.dryRun);
      const simple = sources.length === 1 && !sources[0]!.globbed && !isFiltered(options) && !options.dryRun;
      if (simple) {
        // Core's download: the store's own fast path (a kernel copy from a local store) and `.part` files.
        const source = sources[0]!;
        const progress = createProgress(ctx.output.io.stderr, ctx.quiet || ctx.json, 'download', {
          bytesDone: 0,
          filesDone: 0,
          ...(source.fileSize === undefined ? {} : { bytesTotal: source.fileSize, filesTotal: 1 }),
        });
        let bytes = 0;
        let files = 0;
        let written: string;
        try {
          written = await source.opened.repo.downloadArtifacts(source.path, dst, {
            signal: ctx.signal,
            onProgress: (event) => {
              bytes = event.bytesDone;
              files = event.filesDone;
              progress.update(event);
            },
          });
        } finally {
          progress.stop();
        }
        ctx.output.result({ path: written, files, bytes }, () => written);
        return;
      }
      const local = await openAt(dst);
      try {
        const files = await expandCopies(sources, local, '', {
          contents: false,
          select: selector(options),
          signal: ctx.signal,
        });
        if (options.dryRun) {
          reportDryRun(ctx, 'download', files, dst);
          return;
        }
        const totals = await runCopies(ctx, 'download', files);
        ctx.output.result(
          { path: dst, files: totals.files, bytes: totals.bytes },
          () => `downloaded ${plural(totals.files, 'file')} (${human(totals.bytes)}) to ${dst}`,
        );
      } finally {
        await local.close().catch(() => undefined);
      }
    });
  });
};
