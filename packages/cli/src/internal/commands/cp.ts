import type { Readable } from 'node:stream';
import { ArtifactsError, baseName, joinKey } from '@artifacts/core';
import type { RegisterCommand } from '../context.js';
import { UsageError } from '../exit-codes.js';
import { createProgress, human } from '../progress.js';
import { type SelectOptions, selector } from '../select.js';
import { locateAll, withSession } from '../session.js';
import { expandCopies, type FileCopy, plural, reportDryRun, runCopies } from '../transfer.js';
import { streamToStdout } from './cat.js';
import { withDryRun, withRecursive, withSelect } from './options.js';

interface CpOptions extends SelectOptions {
  dryRun?: boolean;
  recursive?: boolean;
}

export const registerCp: RegisterCommand = (program, context) => {
  withDryRun(
    withSelect(
      withRecursive(
        program
          .command('cp')
          .description(
            "copy between any URIs or local paths — by the store itself within one S3, GCS, Azure or local store, streamed otherwise: a file to <dst> (into it when <dst> ends with '/' or is a directory); one directory's contents under <dst>; several sources (or a glob) each into <dst>/<name>. '-' is stdin as a source, stdout as <dst>",
          )
          .argument(
            '<src...>',
            "source URIs or quoted globs ('-' = stdin), then the destination URI ('-' = stdout)",
          ),
      ),
    ),
  ).action(async (args: string[], options: CpOptions) => {
    const ctx = context();
    if (args.length < 2) throw new UsageError('cp needs a source and a destination');
    const dstUri = args.at(-1)!;
    const srcUris = args.slice(0, -1);
    await withSession(ctx, async (session) => {
      if (srcUris.includes('-')) {
        if (srcUris.length > 1) throw new UsageError('cp - (stdin) takes no other source');
        if (dstUri === '-') throw new UsageError('cp - - would copy stdin to stdout; use cat');
        const dst = await session.open(dstUri);
        const isDir =
          dst.path === '' ||
          /\/(?:\?.*)?$/.test(dstUri) ||
          (await dst.repo.stat(dst.path, { signal: ctx.signal }).catch(() => undefined))?.isDir === true;
        if (isDir)
          throw new UsageError(`cp - needs a file name as destination; ${dst.target.display} is a directory`);
        if (options.dryRun) {
          ctx.output.result(
            { dry_run: true, destination: dst.target.display },
            () => `would copy stdin to ${dst.target.display}`,
          );
          return;
        }
        let bytes = 0;
        const progress = createProgress(ctx.output.io.stderr, ctx.quiet || ctx.json, 'cp', {
          bytesDone: 0,
          filesDone: 0,
        });
        try {
          await dst.repo.write(dst.path, ctx.stdin as Readable, {
            signal: ctx.signal,
            onProgress: (event) => {
              bytes = event.bytesDone;
              progress.update(event);
            },
          });
        } finally {
          progress.stop();
        }
        ctx.output.result(
          { files: 1, bytes, destination: dst.target.display },
          () => `copied 1 file (${human(bytes)}) to ${dst.target.display}`,
        );
        return;
      }
      const sources = await locateAll(session, srcUris);
      if (dstUri === '-') {
        if (sources.length !== 1 || sources[0]!.isDir)
          throw new UsageError('cp SRC - (stdout) takes exactly one file; use cat for several');
        await streamToStdout(ctx, sources[0]!);
        return;
      }
      const dst = await session.open(dstUri);
      const single = sources.length === 1 && !sources[0]!.globbed;
      let files: FileCopy[];
      if (single && !sources[0]!.isDir) {
        const source = sources[0]!;
        const intoDirectory =
          dst.path === '' ||
          /\/(?:\?.*)?$/.test(dstUri) ||
          (await dst.repo.stat(dst.path, { signal: ctx.signal }).catch(() => undefined))?.isDir === true;
        const name = baseName(source.path) || source.name;
        files = selector(options)(name)
          ? [
              {
                from: source.opened.repo,
                fromPath: source.path,
                to: dst.repo,
                toPath: intoDirectory ? joinKey(dst.path, name) : dst.path,
                rel: name,
                ...(source.fileSize === undefined ? {} : { size: source.fileSize }),
              },
            ]
          : [];
      } else {
        if (!single) {
          const info = await dst.repo.stat(dst.path, { signal: ctx.signal }).catch(() => undefined);
          if (info && !info.isDir) {
            throw new ArtifactsError(
              'failed_precondition',
              `copying several sources needs a directory as destination; ${dst.target.display} is a file`,
            );
          }
        }
        files = await expandCopies(sources, dst.repo, dst.path, {
          contents: single,
          select: selector(options),
          signal: ctx.signal,
        });
      }
      if (options.dryRun) {
        reportDryRun(ctx, 'copy', files, dst.target.display);
        return;
      }
      const totals = await runCopies(ctx, 'cp', files);
      ctx.output.result(
        { files: totals.files, bytes: totals.bytes, destination: dst.target.display },
        () => `copied ${plural(totals.files, 'file')} (${human(totals.bytes)}) to ${dst.target.display}`,
      );
    });
  });
};
