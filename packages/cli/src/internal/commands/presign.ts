import { ArtifactsError } from '@artifacts/core';
import { Option } from 'commander';
import type { RegisterCommand } from '../context.js';
import { statTarget, withSession } from '../session.js';
import { integer } from './options.js';

export const registerPresign: RegisterCommand = (program, context) => {
  program
    .command('presign')
    .description(
      'print a URL that reads (or, with --method PUT, writes) one artifact without credentials, where the store can sign one (S3, GCS, Azure)',
    )
    .argument('<uri>', 'file URI')
    .addOption(new Option('--method <method>', 'what the URL may do').choices(['GET', 'PUT']).default('GET'))
    .option(
      '--expires-in <seconds>',
      "lifetime of the URL (the store's default when omitted)",
      integer('--expires-in', 7 * 24 * 3600),
    )
    .action(async (uri: string, options: { method: 'GET' | 'PUT'; expiresIn?: number }) => {
      const ctx = context();
      const url = await withSession(ctx, async (session) => {
        const opened = await session.open(uri);
        // A GET URL for something that is not there would only fail later, in someone else's hands.
        if (options.method === 'GET') {
          const info = await statTarget(opened, ctx.signal);
          if (info.isDir)
            throw new ArtifactsError(
              'failed_precondition',
              `${opened.target.display} is a directory; presign one file`,
            );
        }
        return opened.repo.presignedUrl(opened.path, options.method, {
          signal: ctx.signal,
          ...(options.expiresIn ? { expiresInSeconds: options.expiresIn } : {}),
        });
      });
      ctx.output.result(
        { url, method: options.method, ...(options.expiresIn ? { expires_in: options.expiresIn } : {}) },
        () => url,
      );
    });
};
