import { stat } from 'node:fs/promises';
import { ArtifactsError, appendToUri, baseName, type ProgressEvent, toArtifactsError } from '@artifacts/core';
import type { RegisterCommand } from '../context.js';
import { createProgress, human } from '../progress.js';
import { isFiltered, type SelectOptions, selector } from '../select.js';
import { locateAll, withSession } from '../session.js';
import { openAt, parseTarget } from '../target.js';
import { expandCopies, plural, reportDryRun, runCopies } from '../transfer.js';
import { withDryRun, withRecursive, withSelect } from './options.js';

interface LogOptions extends SelectOptions {
  dryRun?: boolean;
  recursive?: boolean;
}

export const registerLog: RegisterCommand = (program, context) => {
  withDryRun(
    withSelect(
      withRecursive(
        program
          .command('log')
          .description(
            "upload local files to <uri>/<file name>, or a directory's contents under <uri> (MLflow's log_artifact(s))",
          )
          .argument(
            '<local...>',
            'local files or directories (or quoted globs), then the destination directory URI',
          ),
      ),
    ),
  ).action(async (args: string[], options: LogOptions) => {
    const ctx = context();
    if (args.length < 2)
      throw new ArtifactsError('invalid_argument', 'log needs a local path and a destination URI');
    const uri = args.at(-1)!;
    const locals = args.slice(0, -1);
    const target = parseTarget(uri);
    if (locals.length === 1 && !isFiltered(options) && !options.dryRun && !/[*?[{]/.test(locals[0]!)) {
      await logOne(ctx, locals[0]!, uri, target.display);
      return;
    }
    // Several sources, a glob, a filter or a dry run: the general copy from the local store.
    await withSession(ctx, async (session) => {
      const sources = await locateAll(
        session,
        locals.map((local) =>
          /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(local) && !local.startsWith('file:') ? `./${local}` : local,
        ),
      );
      const dst = await session.open(uri);
      const single = sources.length === 1 && !sources[0]!.globbed;
      const files = await expandCopies(sources, dst.repo, dst.path, {
        contents: single && sources[0]!.isDir,
        select: selector(options),
        signal: ctx.signal,
      });
      if (options.dryRun) {
        reportDryRun(ctx, 'log', files, target.display);
        return;
      }
      const totals = await runCopies(ctx, 'log', files);
      ctx.output.result(
        { files: totals.files, bytes: totals.bytes, destination: target.display },
        () => `logged ${plural(totals.files, 'file')} (${human(totals.bytes)}) to ${target.display}`,
      );
    });
  });
};

/** One local file or directory through core's logArtifact(s): the kernel-copy fast path where it exists. */
async function logOne(
  ctx: ReturnType<Parameters<RegisterCommand>[1]>,
  local: string,
  uri: string,
  display: string,
): Promise<void> {
  const info = await stat(local).catch((error: unknown) => {
    throw toArtifactsError(error, `local path ${JSON.stringify(local)}`);
  });
  if (!info.isFile() && !info.isDirectory()) {
    throw new ArtifactsError(
      'failed_precondition',
      `local path ${JSON.stringify(local)} is neither a regular file nor a directory`,
    );
  }
  const repo = await openAt(uri);
  const progress = createProgress(
    ctx.output.io.stderr,
    ctx.quiet || ctx.json,
    'log',
    info.isFile() ? { bytesDone: 0, bytesTotal: Number(info.size), filesDone: 0, filesTotal: 1 } : undefined,
  );
  let last: ProgressEvent | undefined;
  const options = {
    signal: ctx.signal,
    onProgress: (event: ProgressEvent) => {
      last = event;
      progress.update(event);
    },
  };
  try {
    if (info.isDirectory()) await repo.logArtifacts(local, undefined, options);
    else await repo.logArtifact(local, undefined, options);
  } finally {
    progress.stop();
    await repo.close().catch(() => undefined);
  }
  const destination = info.isDirectory() ? display : appendToUri(display, baseName(local));
  const files = last?.filesDone ?? 0;
  const bytes = last?.bytesDone ?? 0;
  ctx.output.result(
    { files, bytes, destination },
    () => `logged ${plural(files, 'file')} (${human(bytes)}) to ${destination}`,
  );
}
