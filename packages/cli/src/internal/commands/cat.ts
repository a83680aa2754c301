import { pipeline } from 'node:stream/promises';
import { ArtifactsError } from '@artifacts/core';
import type { CommandContext, RegisterCommand } from '../context.js';
import { type Located, locateAll, withSession } from '../session.js';

/** Streams one located file to stdout; a reader that went away (`| head`) is not a failure. */
export async function streamToStdout(ctx: CommandContext, file: Located): Promise<void> {
  if (file.isDir) {
    throw new ArtifactsError(
      'failed_precondition',
      `${file.display} is a directory; use "artifacts ls" or "artifacts download"`,
    );
  }
  const stream = await file.opened.repo.openRead(file.path, { signal: ctx.signal });
  try {
    // stdout stays open (it is the process's).
    await pipeline(stream, ctx.output.io.stdout, { end: false, signal: ctx.signal });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EPIPE') return;
    throw error;
  }
}

export const registerCat: RegisterCommand = (program, context) => {
  program
    .command('cat')
    .description('stream files to stdout, one after the other')
    .argument('<uri...>', 'file URIs (or a quoted glob)')
    .action(async (uris: string[]) => {
      const ctx = context();
      await withSession(ctx, async (session) => {
        const files = await locateAll(session, uris);
        for (const file of files) await streamToStdout(ctx, file);
      });
    });
};
