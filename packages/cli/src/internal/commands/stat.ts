import type { RegisterCommand } from '../context.js';
import { human } from '../progress.js';
import { relativeTo, statTarget, withSession } from '../session.js';

export const registerStat: RegisterCommand = (program, context) => {
  program
    .command('stat')
    .description('show what the store knows about one file or directory')
    .argument('<uri>', 'file or directory URI')
    .action(async (uri: string) => {
      const ctx = context();
      const info = await withSession(ctx, async (session) => {
        const opened = await session.open(uri);
        const stat = await statTarget(opened, ctx.signal);
        return { ...stat, path: opened.target.display };
      });
      const json = {
        path: info.path,
        is_dir: info.isDir,
        ...(info.fileSize === undefined ? {} : { file_size: info.fileSize }),
        ...(info.lastModified ? { last_modified: info.lastModified.toISOString() } : {}),
        ...(info.etag ? { etag: info.etag } : {}),
        ...(info.contentType ? { content_type: info.contentType } : {}),
      };
      ctx.output.result(json, () => [
        `path:          ${info.path}`,
        `type:          ${info.isDir ? 'directory' : 'file'}`,
        ...(info.fileSize === undefined
          ? []
          : [`size:          ${info.fileSize} bytes (${human(info.fileSize)})`]),
        ...(info.lastModified ? [`last modified: ${info.lastModified.toISOString()}`] : []),
        ...(info.etag ? [`etag:          ${info.etag}`] : []),
        ...(info.contentType ? [`content type:  ${info.contentType}`] : []),
      ]);
    });
};

export const registerDu: RegisterCommand = (program, context) => {
  program
    .command('du')
    .description('total size and file count below a directory (or of one file)')
    .argument('<uri...>', 'file or directory URIs')
    .action(async (uris: string[]) => {
      const ctx = context();
      const rows = await withSession(ctx, async (session) => {
        const out: Array<{ path: string; file_size: number; files: number }> = [];
        for (const uri of uris) {
          const opened = await session.open(uri);
          const info = await statTarget(opened, ctx.signal);
          if (!info.isDir) {
            out.push({ path: opened.target.display, file_size: info.fileSize ?? 0, files: 1 });
            continue;
          }
          let size = 0;
          let files = 0;
          for (const entry of await opened.repo.listArtifactsRecursive(opened.path, { signal: ctx.signal })) {
            if (entry.isDir || relativeTo(opened.path, entry.path) === '') continue;
            size += entry.fileSize ?? 0;
            files++;
          }
          out.push({ path: opened.target.display, file_size: size, files });
        }
        return out;
      });
      ctx.output.result(uris.length === 1 ? rows[0] : rows, () =>
        rows.map(
          (row) =>
            `${human(row.file_size)} (${row.file_size} bytes) in ${row.files} file${row.files === 1 ? '' : 's'}  ${row.path}`,
        ),
      );
    });
};
