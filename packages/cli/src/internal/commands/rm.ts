import { ArtifactsError } from '@artifacts/core';
import type { RegisterCommand } from '../context.js';
import { isFiltered, type SelectOptions, selector, splitGlob } from '../select.js';
import { locate, relativeTo, withSession } from '../session.js';
import { parseTarget } from '../target.js';
import { withDryRun, withRecursive, withSelect } from './options.js';

interface RmOptions extends SelectOptions {
  dryRun?: boolean;
  recursive?: boolean;
}

export const registerRm: RegisterCommand = (program, context) => {
  withDryRun(
    withSelect(
      withRecursive(
        program
          .command('rm')
          .description(
            'remove files, or directories and everything below them; removing nothing that exists succeeds',
          )
          .argument('<uri...>', 'file or directory URIs, or quoted globs (which must match something)'),
        'accepted for habit: a directory is always removed with everything below it',
      ),
    ),
  ).action(async (uris: string[], options: RmOptions) => {
    const ctx = context();
    const select = selector(options);
    const removed: string[] = [];
    await withSession(ctx, async (session) => {
      for (const uri of uris) {
        if (!splitGlob(uri) && parseTarget(uri).parent === undefined) {
          throw new ArtifactsError(
            'failed_precondition',
            `refusing to remove the root of a store (${parseTarget(uri).display}); remove the entries inside it instead`,
          );
        }
        let found: Awaited<ReturnType<typeof locate>>;
        try {
          found = await locate(session, uri);
        } catch (error) {
          // Removing a path that is not there is idempotent; a glob that matches nothing is an error.
          if (ArtifactsError.is(error, 'not_found') && !splitGlob(uri)) continue;
          throw error;
        }
        for (const entry of found) {
          const { repo } = entry.opened;
          if (!isFiltered(options) || !entry.isDir) {
            if (entry.globbed && isFiltered(options) && !select(entry.name)) continue;
            if (!options.dryRun) await repo.deleteArtifacts(entry.path, { signal: ctx.signal });
            removed.push(entry.display);
            continue;
          }
          // A filter: remove only the selected files below the directory.
          const files = await repo.listArtifactsRecursive(entry.path, { signal: ctx.signal });
          for (const file of files) {
            if (file.isDir || !select(relativeTo(entry.path, file.path))) continue;
            if (!options.dryRun) await repo.deleteArtifacts(file.path, { signal: ctx.signal });
            removed.push(`${entry.display}/${relativeTo(entry.path, file.path)}`);
          }
        }
      }
    });
    ctx.output.result({ removed, dry_run: options.dryRun === true }, () =>
      options.dryRun ? removed.map((path) => `would remove ${path}`) : undefined,
    );
  });
};
