import type { FileInfo } from '@artifacts/core';
import type { RegisterCommand } from '../context.js';
import { jsonFileInfo } from '../output.js';
import { type SelectOptions, selector } from '../select.js';
import { locate, relativeTo, withSession } from '../session.js';
import { withSelect } from './options.js';

interface LsOptions extends SelectOptions {
  recursive?: boolean;
  long?: boolean;
}

export const registerLs: RegisterCommand = (program, context) => {
  withSelect(
    program
      .command('ls')
      .description('list a directory (direct children; -r for every file below); a file lists itself')
      .argument('<uri...>', "directory or file URIs, or a quoted glob ('s3://b/run/*.csv')")
      .option('-r, --recursive', 'list every file below, not only direct children')
      .option('-l, --long', 'show sizes in bytes'),
  ).action(async (uris: string[], options: LsOptions) => {
    const ctx = context();
    const select = selector(options);
    const entries = await withSession(ctx, async (session) => {
      const out: FileInfo[] = [];
      for (const uri of uris) {
        for (const found of await locate(session, uri)) {
          if (!found.isDir || found.globbed) {
            if (!found.globbed || select(found.name))
              out.push({
                path: found.globbed ? found.name : found.opened.target.name,
                isDir: found.isDir,
                ...(found.fileSize === undefined ? {} : { fileSize: found.fileSize }),
              });
            continue;
          }
          const { repo } = found.opened;
          const listed = options.recursive
            ? await repo.listArtifactsRecursive(found.path, { signal: ctx.signal })
            : await repo.listArtifacts(found.path, { signal: ctx.signal });
          for (const entry of listed) {
            const path = relativeTo(found.path, entry.path);
            if (entry.isDir || select(path)) out.push({ ...entry, path });
          }
        }
      }
      return out;
    });
    const width = Math.max(0, ...entries.map((entry) => String(entry.fileSize ?? '').length));
    ctx.output.result(entries.map(jsonFileInfo), () =>
      entries.map((entry) => {
        const name = entry.isDir ? `${entry.path}/` : entry.path;
        return options.long ? `${String(entry.fileSize ?? '').padStart(width)}  ${name}` : name;
      }),
    );
  });
};
